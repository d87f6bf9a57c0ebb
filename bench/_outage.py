"""Memory under an outage, for bench/run_all.py: a fresh interpreter logs at a fixed rate to a broker that is down.

    python bench/_outage.py TRANSPORT --seconds S --rate R --queue-max-bytes B --down HOST:PORT

Prints one JSON line: resident memory before the outage and its peak during it (``VmHWM`` after resetting it
through ``/proc/self/clear_refs``), what the handler kept queued and what it dropped. The baseline is taken after
the client library is imported, the handler built and a first second of failing connects, so the growth is
what the outage adds: the queue (bounded by ``queue_max_bytes`` of encoded records, plus per-record object
overhead) and whatever the client buffers.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

EXTRA = {"action": "pay", "order": "A-1", "amount": 12.5}


def status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux 4.0+); False if the kernel refuses."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("transport", choices=["kafka-python", "confluent"])
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--rate", type=int, required=True)
    parser.add_argument("--queue-max-bytes", type=int, required=True)
    parser.add_argument("--down", required=True, help="host:port with nothing listening")
    args = parser.parse_args()

    client = logging.getLogger("kafka")
    client.addHandler(logging.NullHandler())
    client.propagate = False
    if args.transport == "confluent":
        import confluent_kafka  # noqa: F401  (imported on the worker anyway: keep it out of the growth)
    else:
        import kafka  # noqa: F401

    from kafkalog import KafkaHandler

    errors: list[str] = []
    handler = KafkaHandler(args.down, "bench-outage", transport=args.transport,
                           queue_max_bytes=args.queue_max_bytes, on_error=errors.append)
    log = logging.getLogger("bench.outage")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    for _ in range(100):
        log.info("user %s paid %d", "alice", 42, extra=EXTRA)
    time.sleep(1.0)  # the worker has started, opened (or tried to open) its client and failed a first time
    gc.collect()
    peak_reset = reset_peak()
    base_kb = status_kb("VmRSS")
    before = handler.stats()

    tick = 0.01
    per_tick = max(1, round(args.rate * tick))
    ticks = int(args.seconds / tick)
    max_queue_bytes = 0
    start = time.perf_counter()
    for i in range(ticks):
        slot = start + i * tick
        left = slot - time.perf_counter()
        if left > 0:
            time.sleep(left)
        for _ in range(per_tick):
            log.info("user %s paid %d", "alice", 42, extra=EXTRA)
        if i % 10 == 0:
            max_queue_bytes = max(max_queue_bytes, handler.stats().queue_bytes)
    elapsed = time.perf_counter() - start
    after = handler.stats()
    max_queue_bytes = max(max_queue_bytes, after.queue_bytes)
    result: dict[str, Any] = {
        "peak_reset": peak_reset,
        "base_kb": base_kb,
        "peak_kb": status_kb("VmHWM"),
        "end_kb": status_kb("VmRSS"),
        "logged": after.seen - before.seen,
        "rate": (after.seen - before.seen) / elapsed,
        "seconds": elapsed,
        "queue_records": after.queue_depth + after.in_flight,
        "queue_bytes": after.queue_bytes,
        "max_queue_bytes": max_queue_bytes,
        "dropped": {k: v - before.dropped.get(k, 0) for k, v in after.dropped.items()},
        "delivered": after.delivered - before.delivered,
        "last_error": (after.last_error or "")[:160],
    }
    print(json.dumps(result), flush=True)
    handler.close(0)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
