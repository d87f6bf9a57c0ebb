"""The disk spool's cost: app-thread time per call with a spool, and how fast a spool drains once the broker is up.

    python bench/spool.py [--quick] [--bootstrap HOST:PORT]

1. bursts (20,000 back-to-back calls) and steady load (2,000 calls/s), µs per call on the app thread:
   stdlib FileHandler (the baseline: a spool write is a local file write too), KafkaHandler with a spool and the
   broker down (a closed port) and up, and KafkaHandler without a spool (memory queue), broker up.
2. drain: N records logged with the broker unreachable (they wait in the spool), then a new handler on the same
   directory and a live broker delivers them: records/s from its construction until the last is acknowledged,
   against the same N records logged into a handler without a spool with the broker up (first call to last ack).

Same record and the same interleaved, rotating runs as bench/run_all.py; medians with min-max.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from _common import code_version, percentile, progress, table
from run_all import (
    FLUSH_TIMEOUT,
    STEADY_RATE,
    Case,
    Env,
    Target,
    burst_stdlib,
    cell,
    closed_port,
    file_target,
    one_stdlib,
    per_run_ratios,
    ratio_cell,
    run_interleaved,
    settle,
    stdlib_logger,
    steady,
    wait_worker_gone,
)

from kafkalog import KafkaHandler
from kafkalog.testing import LocalKafka


@contextlib.contextmanager
def spool_target(env: Env, where: str, transport: str = "kafka-python") -> Iterator[Target]:
    """KafkaHandler with a fresh spool directory; ``where`` is "up" or "down" (a closed port)."""
    spool = env.tmp / f"spool-{uuid.uuid4().hex[:8]}"
    up = where == "up"
    handler = KafkaHandler(env.bootstrap if up else env.down, env.topic("spool") if up else "bench-down",
                           transport=transport, spool_dir=str(spool), on_error=(env.errors.append if up else None),
                           handle_sigterm=False)
    target = Target(None, stats=handler.stats, flush=handler.flush, warm_timeout=FLUSH_TIMEOUT if up else 0.3)
    try:
        with stdlib_logger(handler) as log:
            target.log = log
            yield target
            settle(target, up=up)
    finally:
        handler.close(None if up else 0)
        if not up:
            wait_worker_gone(handler.stats)
        shutil.rmtree(spool, ignore_errors=True)


@contextlib.contextmanager
def memory_target(env: Env) -> Iterator[Target]:
    handler = KafkaHandler(env.bootstrap, env.topic("memory"), on_error=env.errors.append, handle_sigterm=False)
    target = Target(None, stats=handler.stats, flush=handler.flush)
    try:
        with stdlib_logger(handler) as log:
            target.log = log
            yield target
            settle(target, up=True)
    finally:
        handler.close()


def cases(env: Env) -> list[Case]:
    return [
        Case("stdlib FileHandler [baseline]", lambda: file_target(env)),
        Case("KafkaHandler + spool, broker down", lambda: spool_target(env, "down")),
        Case("KafkaHandler + spool, broker up", lambda: spool_target(env, "up")),
        Case("KafkaHandler, no spool, broker up", lambda: memory_target(env)),
    ]


def measure_calls(env: Env, runs: int, burst_n: int, steady_n: int) -> tuple[list[Case], list[Case]]:
    burst = cases(env)

    def burst_body(case: Case, target: Target) -> None:
        started = time.perf_counter_ns()
        burst_stdlib(target.log, burst_n)
        case.m["wall"].append((time.perf_counter_ns() - started) / burst_n / 1000)

    run_interleaved(burst, runs, f"1a. bursts of {burst_n} calls", burst_body)
    paced = cases(env)

    def steady_body(case: Case, target: Target) -> None:
        durations, _ = steady(one_stdlib, target.log, steady_n, STEADY_RATE)
        durations.sort()
        case.m["p50"].append(percentile(durations, 0.50) / 1000)
        case.m["p99"].append(percentile(durations, 0.99) / 1000)

    run_interleaved(paced, runs, f"1b. steady {steady_n} calls at {STEADY_RATE}/s", steady_body)
    return burst, paced


def drain_once(env: Env, count: int, transport: str) -> tuple[float, float]:
    """(records/s draining a spool of ``count`` records, records/s logging them without a spool)."""
    topic = env.topic("drain")
    spool = env.tmp / f"drain-{uuid.uuid4().hex[:8]}"
    offline = KafkaHandler(env.down, topic, transport=transport, spool_dir=str(spool), handle_sigterm=False)
    with stdlib_logger(offline) as log:
        burst_stdlib(log, count)
    offline.close(0)
    wait_worker_gone(offline.stats)
    started = time.perf_counter()
    online = KafkaHandler(env.bootstrap, topic, transport=transport, spool_dir=str(spool), handle_sigterm=False)
    deadline = time.monotonic() + FLUSH_TIMEOUT
    while online.stats().replayed < count and time.monotonic() < deadline:
        time.sleep(0.01)
    drained = online.stats().replayed
    drain_rate = drained / (time.perf_counter() - started)
    online.close()
    shutil.rmtree(spool, ignore_errors=True)
    if drained < count:
        env.errors.append(f"drain: only {drained} of {count} replayed")
    direct = KafkaHandler(env.bootstrap, env.topic("direct"), transport=transport, handle_sigterm=False)
    started = time.perf_counter()
    with stdlib_logger(direct) as log:
        burst_stdlib(log, count)
        direct.flush(FLUSH_TIMEOUT)
    direct_rate = direct.stats().delivered / (time.perf_counter() - started)
    direct.close()
    return drain_rate, direct_rate


def report(burst: list[Case], paced: list[Case], drains: dict[str, list[tuple[float, float]]]) -> str:
    base_b, base_p = burst[0], paced[0]
    rows = []
    for b, p in zip(burst, paced, strict=True):
        rows.append([b.name, cell(b.m["wall"]), ratio_cell(per_run_ratios(b.m["wall"], base_b.m["wall"])),
                     cell(p.m["p50"]), cell(p.m["p99"]), ratio_cell(per_run_ratios(p.m["p50"], base_p.m["p50"])),
                     ratio_cell(per_run_ratios(p.m["p99"], base_p.m["p99"]))])
    out = [table(["case", "burst µs/call", "vs FileHandler", "steady p50 µs", "steady p99 µs", "p50 vs File",
                  "p99 vs File"], rows)]
    drain_rows = []
    for transport, runs in drains.items():
        spool_rates = [r[0] for r in runs]
        direct_rates = [r[1] for r in runs]
        drain_rows.append([transport, cell(spool_rates, "{:,.0f}"), cell(direct_rates, "{:,.0f}"),
                           ratio_cell(per_run_ratios(spool_rates, direct_rates))])
    out.append(table(["transport", "spool drain rec/s", "no spool, broker up rec/s", "ratio"], drain_rows))
    return "\n\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer runs and records")
    parser.add_argument("--bootstrap", help="a running broker instead of a local one")
    args = parser.parse_args(argv)
    runs, burst_n, steady_n, drain_n = (3, 10_000, 2_000, 20_000) if args.quick else (5, 20_000, 4_000, 50_000)
    with contextlib.ExitStack() as stack:
        bootstrap = args.bootstrap or stack.enter_context(LocalKafka()).bootstrap
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kafkalog-bench-spool-")))
        env = Env(bootstrap, closed_port(), tmp)
        burst, paced = measure_calls(env, runs, burst_n, steady_n)
        drains: dict[str, list[tuple[float, float]]] = {}
        for transport in ("kafka-python", "confluent"):
            for run in range(runs):
                progress(f"2. drain {drain_n} records, {transport}: run {run + 1}/{runs}")
                drains.setdefault(transport, []).append(drain_once(env, drain_n, transport))
    print(f"# spool bench ({code_version()}; {runs} runs; burst {burst_n}, steady {steady_n} at {STEADY_RATE}/s, "
          f"drain {drain_n})\n")
    print(report(burst, paced, drains))
    for error in env.errors[:10]:
        print(f"error: {error}", file=sys.stderr)
    return 1 if env.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
