"""What the safety valves cost on the application's thread, against the same handler without them, same run.

    python bench/safety.py [--quick]

1. Redaction: ``log.info(...)`` through a ``logging.Logger`` with one ``KafkaHandler`` on the memory transport
   (the whole logging call: build, redact, encode, queue), the bench record (2 args, 3 extra fields): without
   ``redact``, with ``redact="secrets"`` and ``["secrets", "pii"]`` when nothing matches, and with the secrets preset
   when a bearer token in the message and a ``password`` field are removed. The extra cost is given as a fraction
   of the call without redaction.
2. Flood control: µs per call of a record that is shipped (``rate_limit`` off) against one held back
   (``rate_limit`` on, its key over the limit), and a flood of one key (1,000,000 records; ``--quick`` 100,000) ending
   as the records and summaries the memory transport received, with the counts checked.

Same method as bench/schemas.py: cases interleaved slice by slice, a run's value is its fastest slice, cells are
median (min-max) over the runs, ratios taken run by run. No broker is needed.
"""

from __future__ import annotations

import argparse
import logging
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

from _common import code_version, progress, table
from schemas import interleaved

import kafkalog
from kafkalog import KafkaHandler
from kafkalog.transports import MemoryTransport

PLAIN = ("user %s paid %d", ("alice", 42), {"action": "pay", "order": "A-1", "amount": 12.5})
SECRET = ("user %s paid %d with Bearer abcdef0123456789", ("alice", 42),
          {"action": "pay", "order": "A-1", "password": "hunter2"})


def call_case(record: tuple[str, tuple[Any, ...], dict[str, Any]], **options: Any) -> Callable[[int], float]:
    """µs per ``log.info`` call with a KafkaHandler of ``options`` (a new handler per slice)."""
    msg, args, extra = record

    def run(n: int) -> float:
        handler = KafkaHandler("127.0.0.1:9", "bench", transport=MemoryTransport(), handle_sigterm=False,
                               queue_max_records=n + 10, **options)
        log = logging.getLogger(f"bench.safety.{id(handler)}")
        log.propagate = False
        log.setLevel(logging.DEBUG)
        log.addHandler(handler)
        info = log.info
        try:
            start = time.perf_counter()
            for _ in range(n):
                info(msg, *args, extra=extra)
            return (time.perf_counter() - start) / n * 1e6
        finally:
            log.removeHandler(handler)
            handler.close(10)

    return run


def extra_rows(results: dict[str, list[float]], baseline: str) -> list[list[str]]:
    base = results[baseline]
    out = []
    for name, values in results.items():
        extra = [(v - b) / b for v, b in zip(values, base, strict=True)]
        cell = f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"
        out.append([name, cell, "-" if name == baseline else f"{statistics.median(extra):+.3f}"])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs and records")
    args = parser.parse_args(argv)
    runs, n = (3, 5_000) if args.quick else (7, 20_000)
    print(f"kafkalog {kafkalog.__version__} ({code_version()}) safety valves | Python {platform.python_version()} | "
          f"{runs} runs x {n} records\n")
    progress("redaction")
    cases = {
        "no redaction": call_case(PLAIN),
        "secrets, nothing matches": call_case(PLAIN, redact="secrets"),
        "secrets + pii, nothing matches": call_case(PLAIN, redact=["secrets", "pii"]),
        "no redaction, record with secrets": call_case(SECRET),
        "secrets, token and password removed": call_case(SECRET, redact="secrets"),
    }
    results = interleaved(cases, runs, n)
    print("1. Redaction: µs per log.info call (KafkaHandler, memory transport), and the extra cost as a fraction of "
          "the call without redaction\n")
    print(table(["case", "µs median (min-max)", "extra vs no redaction"], extra_rows(results, "no redaction")) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
