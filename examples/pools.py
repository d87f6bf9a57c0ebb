"""multiprocessing pools with kafkalog: both start methods, and both places to create the handler.

    KAFKA_BOOTSTRAP=127.0.0.1:9092 KAFKA_TOPIC=pool-logs python examples/pools.py fork-parent
    KAFKA_BOOTSTRAP=127.0.0.1:9092 KAFKA_TOPIC=pool-logs python examples/pools.py spawn-initializer --end close

Every task logs one record with its number in ``fields.seq`` (0 .. N-1); in the ``*-parent`` modes the parent
logs one more (``seq`` N) after the pool is done. The last line printed says how many records were sent.

- ``fork-parent``: the handler is created in the parent before the pool; forked children inherit it and each
  one sends its own records with its own thread and producer (made on its first record).
- ``fork-initializer`` / ``spawn-initializer``: each pool process creates its own handler in the pool's
  ``initializer``. This is the only way that works for ``spawn`` (and ``forkserver``): a spawned child starts
  a fresh interpreter and does not run the parent's ``if __name__ == "__main__":`` block.

The pool is used as ``with Pool(...) as pool:``, the idiom of the Python docs, whose exit calls
``pool.terminate()``: with ``--end with`` (the default) that SIGTERMs every pool process; ``--end close`` calls
``close()`` and ``join()`` inside the block first, so the pool processes end on their own and ``terminate()``
finds none left. Both send what the pool processes logged; the second never signals them.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import sys

from kafkalog import KafkaHandler

log = logging.getLogger("pools.example")


def attach_kafka_handler() -> None:
    """Log to Kafka from this process: in the parent (fork-parent) or as the pool's initializer."""
    handler = KafkaHandler(os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
                           os.environ.get("KAFKA_TOPIC", "pool-logs"),
                           static_fields={"service": "pools-example"})
    log.addHandler(handler)
    log.setLevel(logging.INFO)


def work(seq: int) -> int:
    """One task: log one record. Its pool process sends it, also when the pool ends right after."""
    log.info("task %d done", seq, extra={"seq": seq})
    return os.getpid()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["fork-parent", "fork-initializer", "spawn-initializer"])
    parser.add_argument("--end", choices=["with", "close"], default="with")
    parser.add_argument("--tasks", type=int, default=400)
    parser.add_argument("--processes", type=int, default=4)
    args = parser.parse_args(argv)

    start_method, where = args.mode.split("-")
    context = multiprocessing.get_context(start_method)
    initializer = attach_kafka_handler if where == "initializer" else None
    if where == "parent":
        attach_kafka_handler()

    with context.Pool(args.processes, initializer=initializer) as pool:
        pids = set(pool.map(work, range(args.tasks), chunksize=10))
        if args.end == "close":
            pool.close()  # no more tasks: each pool process leaves its loop and ends, sending what it logged
            pool.join()
    # leaving the block called pool.terminate(): it SIGTERMs the pool processes still running (all of them with
    # --end with), and each one sends what it logged before it ends

    sent = args.tasks
    if where == "parent":
        log.info("pool done", extra={"seq": args.tasks, "pool_pids": sorted(pids)})
        sent += 1  # sent at exit, by kafkalog's exit hook
    print(f"sent {sent} records from {len(pids)} pool processes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
