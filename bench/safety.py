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

Times are CPU time of the application's thread (``time.thread_time``): the worker's thread shipping on the
other core is not counted, nor are other processes on a shared machine. Otherwise the method of
bench/schemas.py: cases interleaved slice by slice, a run's value is its fastest slice, cells are median
(min-max) over the runs, ratios taken run by run. No broker is needed.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

from _common import code_version, progress, table
from schemas import interleaved, rows

import kafkalog
from kafkalog import KafkaHandler, RateLimit
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
            start = time.thread_time()
            for _ in range(n):
                info(msg, *args, extra=extra)
            return (time.thread_time() - start) / n * 1e6
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
    progress("flood control")
    limited = RateLimit(records=0, interval=3600)  # every call is over the limit: held back
    results = interleaved({"shipped (rate_limit off)": call_case(PLAIN),
                           "held back (rate_limit on, over the limit)": call_case(PLAIN, rate_limit=limited)},
                          runs, n)
    print("2. Flood control: µs per log.info call, a record shipped against one held back\n")
    print(table(["case", "µs median (min-max)", "vs shipped"], rows(results, "shipped (rate_limit off)")) + "\n")
    flood(100_000 if args.quick else 1_000_000)
    return 0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def flood(count: int) -> None:
    """``count`` records of one call site, the clock moving 10 s every ``count // 100`` records: 100 intervals of
    100 records each shipped, the rest summarised; the topic (the memory transport) gets shipped + summaries."""
    progress(f"flood of {count:,}")
    clock = Clock()
    transport = MemoryTransport()
    handler = KafkaHandler("127.0.0.1:9", "bench", transport=transport, handle_sigterm=False,
                           rate_limit=RateLimit(records=100, interval=10, clock=clock))
    log = logging.getLogger("bench.safety.flood")
    log.propagate = False
    log.addHandler(handler)
    step = count // 100
    start = time.thread_time()
    for seq in range(count):
        if seq and seq % step == 0:
            clock.now += 10
        log.warning("item %d failed", seq)
    spent = time.thread_time() - start
    handler.close(30)

    events = [json.loads(m.value) for m in transport.messages]
    summaries = [e for e in events if e["action"] == "suppressed"]
    held = sum(e["fields"]["suppressed"]["count"] for e in summaries)
    shipped = len(events) - len(summaries)
    print(f"3. A flood of {count:,} records of one call site (100 per 10 s shipped, the clock moving 10 s every "
          f"{step:,} records): {len(events):,} records in the topic ({shipped:,} shipped + {len(summaries)} "
          f"summaries); the summaries count {held:,} held back; shipped + held back = {shipped + held:,} "
          f"({'equal to' if shipped + held == count else 'NOT equal to'} the {count:,} logged). "
          f"{spent / count * 1e6:.2f} µs per call (app-thread CPU).\n")


if __name__ == "__main__":
    raise SystemExit(main())
