"""What logging through kafkalog costs: app-thread time per call, steady-load latency, end-to-end throughput.

    python bench/bench_log.py [--quick] [--bootstrap HOST:PORT]

Everything is measured in one process and one run, so each ratio is against a FileHandler baseline measured on
the same (noisy) machine a moment earlier. Cases are interleaved run by run (a, b, c, ... then again) so a slow
phase of the machine hits every case alike. Without ``--bootstrap`` a local single-node Kafka is started from
Maven jars (``kafkalog.testing.broker.LocalKafka``). See bench/README.md for what each row means.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import logging
import logging.handlers
import math
import os
import platform
import queue
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kafkalog
from kafkalog import KafkaHandler, KafkaSink, Stats
from kafkalog.testing.broker import LocalKafka, create_topic
from kafkalog.transports import MemoryTransport

FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
EXTRA = {"action": "pay", "amount": 12.5, "order": "A-1", "items": 3}
WARMUP = 500  # calls through every handler before it is timed (starts threads, connects, warms caches)
STEADY_RATE = 2_000  # calls/s for the steady-load variant
FLUSH_TIMEOUT = 120.0
perf_ns = time.perf_counter_ns


@dataclass(frozen=True)
class Plan:
    runs: int  # repeats of every app-thread measurement
    burst_n: int  # calls per burst
    steady_calls: int  # calls per steady-load run (at STEADY_RATE)
    e2e_n: int  # records per end-to-end run
    e2e_runs: int


FULL = Plan(runs=5, burst_n=20_000, steady_calls=10_000, e2e_n=20_000, e2e_runs=3)
QUICK = Plan(runs=3, burst_n=5_000, steady_calls=2_000, e2e_n=5_000, e2e_runs=2)


def progress(text: str) -> None:
    print(f"  .. {text}", file=sys.stderr, flush=True)


# --- the workload ------------------------------------------------------------------------------------------------


def one_stdlib(log: logging.Logger) -> None:
    log.info("user %s paid %d", "alice", 42, extra=EXTRA)


def burst_stdlib(log: logging.Logger, n: int) -> tuple[float, float]:
    """µs per call for ``n`` back-to-back calls: wall time, and the CPU time of this (the app's) thread."""
    gc.collect()
    start, cpu = perf_ns(), time.thread_time_ns()
    for _ in range(n):
        log.info("user %s paid %d", "alice", 42, extra=EXTRA)
    return (perf_ns() - start) / n / 1000, (time.thread_time_ns() - cpu) / n / 1000


def one_loguru(log: Any) -> None:
    # loguru formats with str.format and puts the keyword arguments in record["extra"], like extra= above
    log.info("user {} paid {}", "alice", 42, action="pay", amount=12.5, order="A-1", items=3)  # noqa: PLE1205


def burst_loguru(log: Any, n: int) -> tuple[float, float]:
    gc.collect()
    start, cpu = perf_ns(), time.thread_time_ns()
    for _ in range(n):
        log.info("user {} paid {}", "alice", 42, action="pay", amount=12.5, order="A-1", items=3)  # noqa: PLE1205
    return (perf_ns() - start) / n / 1000, (time.thread_time_ns() - cpu) / n / 1000


def steady_stdlib(log: logging.Logger, count: int, rate: int) -> tuple[list[int], float]:
    """Call at ``rate``/s on a fixed schedule (open loop: a late call does not push the schedule back).

    Waits by sleeping (which lets the worker thread run, as an idle app would) until ~150 µs before each slot,
    then spins. Returns each call's duration in ns and the achieved rate.
    """
    interval = 1_000_000_000 / rate
    durations = [0] * count
    gc.collect()
    begin = perf_ns() + 2_000_000
    for i in range(count):
        slot = begin + int(i * interval)
        left = slot - perf_ns()
        if left > 250_000:
            time.sleep((left - 150_000) / 1e9)
        while perf_ns() < slot:
            pass
        t0 = perf_ns()
        log.info("user %s paid %d", "alice", 42, extra=EXTRA)
        durations[i] = perf_ns() - t0
    elapsed = (perf_ns() - begin) / 1e9
    return durations, count / elapsed


def percentile(sorted_values: list[int], q: float) -> int:
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))]


# --- the handlers under test -------------------------------------------------------------------------------------


@dataclass
class Env:
    bootstrap: str | None  # a running broker
    down: str  # host:port with nothing listening
    tmp: Path
    errors: list[str] = field(default_factory=list)  # on_error reports from the cases that expect none

    def topic(self, case: str) -> str:
        assert self.bootstrap is not None
        name = f"bench-{case}-{uuid.uuid4().hex[:10]}"
        create_topic(self.bootstrap, name, partitions=1)
        return name


@dataclass
class Target:
    """A logger wired to one handler/sink, plus what the harness needs to read and drain it."""

    log: Any
    stats: Callable[[], Stats] | None = None
    flush: Callable[[float], bool] | None = None
    queue_max: int | None = None
    delivered_ok: bool | None = None  # set on exit: everything seen was delivered, nothing dropped
    warm_timeout: float = FLUSH_TIMEOUT  # how long warm() waits for the warm-up records to be delivered


def _closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"127.0.0.1:{port}"


@contextlib.contextmanager
def _stdlib_logger(handler: logging.Handler) -> Iterator[logging.Logger]:
    log = logging.getLogger(f"bench.{uuid.uuid4().hex[:8]}")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    try:
        yield log
    finally:
        log.removeHandler(handler)


@contextlib.contextmanager
def file_target(env: Env) -> Iterator[Target]:
    path = env.tmp / f"{uuid.uuid4().hex}.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(FILE_FORMAT))

    def flush(timeout: float) -> bool:
        handler.flush()
        return True

    try:
        with _stdlib_logger(handler) as log:
            yield Target(log, flush=flush)
    finally:
        handler.close()
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def queue_target(env: Env) -> Iterator[Target]:
    handler = logging.handlers.QueueHandler(queue.Queue())  # unbounded, and nothing takes from it
    try:
        with _stdlib_logger(handler) as log:
            yield Target(log)
    finally:
        handler.close()


def _settle(target: Target, expect_delivery: bool) -> None:
    """After the timed part: wait (untimed) until the backlog is delivered, and check nothing was lost."""
    assert target.stats is not None and target.flush is not None
    if expect_delivery:
        flushed = target.flush(FLUSH_TIMEOUT)
        s = target.stats()
        target.delivered_ok = flushed and s.delivered == s.seen and s.dropped_total == 0
    else:
        target.delivered_ok = None  # broker down: nothing can be delivered; the queue is dropped at close


@contextlib.contextmanager
def kafka_target(env: Env, kind: str) -> Iterator[Target]:
    """KafkaHandler with defaults; ``kind`` is "broker" (real broker), "down" (closed port) or "memory"."""
    errors = env.errors if kind != "down" else []
    if kind == "broker":
        assert env.bootstrap is not None
        handler = KafkaHandler(env.bootstrap, env.topic("handler"), on_error=errors.append)
    elif kind == "down":
        handler = KafkaHandler(env.down, "bench-down", on_error=errors.append)
    else:
        handler = KafkaHandler("127.0.0.1:9", "bench-memory", transport=MemoryTransport(), on_error=errors.append)
    # broker down: the warm-up records cannot be delivered; just give the worker time to start trying
    target = Target(None, handler.stats, handler.flush, handler.config.queue_max_records,
                    warm_timeout=0.3 if kind == "down" else FLUSH_TIMEOUT)
    try:
        with _stdlib_logger(handler) as log:
            target.log = log
            yield target
            _settle(target, expect_delivery=kind != "down")
    finally:
        if kind == "down":
            handler.close(0)
            _wait_worker_gone(handler.stats)
        else:
            handler.close()


def _wait_worker_gone(stats: Callable[[], Stats], timeout: float = 15.0) -> None:
    """A closed handler's thread can sit in kafka-python's bootstrap a while: keep it off the next case's CPU."""
    deadline = time.monotonic() + timeout
    while stats().worker_alive and time.monotonic() < deadline:
        time.sleep(0.05)


@contextlib.contextmanager
def loguru_target(env: Env, kind: str) -> Iterator[Target]:
    from loguru import logger

    logger.remove()
    if kind == "file":
        path = env.tmp / f"{uuid.uuid4().hex}.log"
        sink_id = logger.add(str(path))
        try:
            yield Target(logger)
        finally:
            logger.remove(sink_id)
            path.unlink(missing_ok=True)
        return
    assert env.bootstrap is not None
    sink = KafkaSink(env.bootstrap, env.topic("sink"), on_error=env.errors.append)
    sink_id = logger.add(sink)
    target = Target(logger, sink.stats, sink.drain, sink.config.queue_max_records)
    try:
        yield target
        _settle(target, expect_delivery=True)
    finally:
        logger.remove(sink_id)  # calls sink.stop() -> close


def warm(target: Target, one: Callable[[Any], None]) -> None:
    """Warm-up calls, then (untimed) let them be delivered: the producer is connected and knows the topic."""
    for _ in range(WARMUP):
        one(target.log)
    if target.flush is not None:
        target.flush(target.warm_timeout)


# --- measurements ------------------------------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    values: list[float] = field(default_factory=list)  # per run: µs/call, or p50 for steady
    p99: list[float] = field(default_factory=list)
    rate: list[float] = field(default_factory=list)
    dropped: int = 0
    queue_after: list[int] = field(default_factory=list)
    delivered: list[bool | None] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # burst: app-thread CPU µs/call; e2e: process CPU µs/record
    wall: list[float] = field(default_factory=list)  # e2e: seconds
    note: str = ""
    queue_max: int | None = None

    def add_shipping(self, target: Target, before: Stats | None, after: Stats | None) -> None:
        if before is not None and after is not None:
            self.dropped += after.dropped_total - before.dropped_total
            self.queue_after.append(after.queue_depth + after.in_flight)
        self.delivered.append(target.delivered_ok)
        self.queue_max = target.queue_max


def med(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float], fmt: str = "{:.2f}") -> str:
    return f"{fmt.format(min(values))}-{fmt.format(max(values))}"


def check_room(target: Target, calls: int) -> None:
    if target.queue_max is not None and WARMUP + calls >= target.queue_max:
        raise SystemExit(f"{calls} calls would overflow queue_max_records={target.queue_max}: the drop path "
                         f"would be measured; lower N")


def measure_burst(env: Env, plan: Plan) -> list[Row]:
    cases: list[tuple[Row, Callable[[], contextlib.AbstractContextManager[Target]], str]] = [
        (Row("(a) stdlib FileHandler [baseline]"), lambda: file_target(env), "stdlib"),
        (Row("(b) QueueHandler, unbounded, no consumer", note="lower bound"), lambda: queue_target(env), "stdlib"),
        (Row("(c) KafkaHandler, kafka-python, broker up"), lambda: kafka_target(env, "broker"), "stdlib"),
        (Row("(d) KafkaHandler, broker down", note="records wait in the queue"), lambda: kafka_target(env, "down"),
         "stdlib"),
        (Row("(e) KafkaHandler, memory transport"), lambda: kafka_target(env, "memory"), "stdlib"),
        (Row("loguru logger.add(file) [loguru baseline]"), lambda: loguru_target(env, "file"), "loguru"),
        (Row("loguru logger.add(KafkaSink), broker up"), lambda: loguru_target(env, "kafka"), "loguru"),
    ]
    for run in range(plan.runs):
        progress(f"burst run {run + 1}/{plan.runs} ({plan.burst_n} calls per case)")
        for row, make, api in cases:
            with make() as target:
                check_room(target, plan.burst_n)
                one, burst = (one_stdlib, burst_stdlib) if api == "stdlib" else (one_loguru, burst_loguru)
                warm(target, one)
                before = target.stats() if target.stats else None
                wall, cpu = burst(target.log, plan.burst_n)
                row.values.append(wall)
                row.cpu.append(cpu)
                after = target.stats() if target.stats else None
            row.add_shipping(target, before, after)
    return [row for row, _, _ in cases]


def measure_steady(env: Env, plan: Plan) -> list[Row]:
    cases: list[tuple[Row, Callable[[], contextlib.AbstractContextManager[Target]]]] = [
        (Row("(a) stdlib FileHandler [baseline]"), lambda: file_target(env)),
        (Row("(c) KafkaHandler, kafka-python, broker up"), lambda: kafka_target(env, "broker")),
        (Row("(d) KafkaHandler, broker down"), lambda: kafka_target(env, "down")),
    ]
    for run in range(plan.runs):
        progress(f"steady run {run + 1}/{plan.runs} ({plan.steady_calls} calls at {STEADY_RATE}/s per case)")
        for row, make in cases:
            with make() as target:
                check_room(target, plan.steady_calls)
                warm(target, one_stdlib)
                before = target.stats() if target.stats else None
                durations, rate = steady_stdlib(target.log, plan.steady_calls, STEADY_RATE)
                after = target.stats() if target.stats else None
            durations.sort()
            row.values.append(percentile(durations, 0.50) / 1000)
            row.p99.append(percentile(durations, 0.99) / 1000)
            row.rate.append(rate)
            row.add_shipping(target, before, after)
    return [row for row, _ in cases]


def measure_e2e(env: Env, plan: Plan) -> list[Row]:
    cases: list[tuple[Row, Callable[[], contextlib.AbstractContextManager[Target]]]] = [
        (Row("stdlib FileHandler [baseline]"), lambda: file_target(env)),
        (Row("KafkaHandler, kafka-python, acks=all"), lambda: kafka_target(env, "broker")),
        (Row("KafkaHandler, memory transport (no network)"), lambda: kafka_target(env, "memory")),
    ]
    n = plan.e2e_n
    for run in range(plan.e2e_runs):
        progress(f"end-to-end run {run + 1}/{plan.e2e_runs} ({n} records per case)")
        for row, make in cases:
            with make() as target:
                check_room(target, n)
                assert target.flush is not None
                warm(target, one_stdlib)
                before = target.stats() if target.stats else None
                log = target.log
                gc.collect()
                cpu0, wall0 = time.process_time(), time.perf_counter()
                for _ in range(n):
                    log.info("user %s paid %d", "alice", 42, extra=EXTRA)
                flushed = target.flush(FLUSH_TIMEOUT)
                wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
                after = target.stats() if target.stats else None
            if before is not None and after is not None:
                got = after.delivered - before.delivered
                lost = after.dropped_total - before.dropped_total
                ok = flushed and got == n and lost == 0
                row.dropped += lost
                row.delivered.append(ok)
            else:
                row.delivered.append(None)
            row.wall.append(wall)
            row.values.append(n / wall)
            row.cpu.append(cpu / n * 1e6)
    return [row for row, _ in cases]


def code_version() -> str:
    """The commit the measured code is at (the package is installed editable), or "?"."""
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True, check=True,
                             cwd=Path(kafkalog.__file__).parent, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "?"
    return out.stdout.strip() or "?"


def import_check() -> str:
    code = ("import sys, kafkalog; "
            "k = sorted(m for m in sys.modules if m == 'kafka' or m.startswith('kafka.')); "
            "print(len(k), 'loguru' in sys.modules, ','.join(k[:5]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split(" ")
    count, loguru_loaded = int(out[0]), out[1] == "True"
    verdict = "PASS: does not import kafka" if count == 0 else f"FAIL: imports {count} kafka modules ({out[2].strip()})"
    return (f"import kafkalog (fresh interpreter, sys.modules): {verdict}; "
            f"loguru {'imported' if loguru_loaded else 'not imported'}")


# --- report ------------------------------------------------------------------------------------------------------


def delivered_text(row: Row) -> str:
    flags = row.delivered
    if not flags or all(f is None for f in flags):
        return "n/a (broker down)" if "broker down" in row.name else "n/a"
    good = sum(1 for f in flags if f)
    return f"all, {good}/{len(flags)} runs" if good == len(flags) else f"{good}/{len(flags)} runs complete"


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
    return "\n".join(lines)


def report(plan: Plan, where: str, *, burst: list[Row], steady: list[Row], e2e: list[Row], imports: str,
           errors: list[str], elapsed: float) -> str:
    out = []
    json_backend = "orjson" if importlib.util.find_spec("orjson") else "json"
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    out.append(f"kafkalog {kafkalog.__version__} ({code_version()}) bench | Python {platform.python_version()} | "
               f"{os.cpu_count()} CPUs | JSON backend {json_backend} | broker {where} | "
               f"load avg at end {load} | {plan.runs} runs per case, interleaved; median and min-max over runs")

    base = med(burst[0].values)
    loguru_base = med(burst[5].values)
    rows = []
    for i, row in enumerate(burst):
        note = row.note
        if i == 6:
            note = f"{med(row.values) / loguru_base:.2f}x loguru file"
        queue_after = f"{int(med(row.queue_after))}" if row.queue_after else "n/a"
        dropped = str(row.dropped) if row.queue_after else "n/a"
        rows.append([row.name, f"{med(row.values):.2f}", spread(row.values), f"{med(row.values) / base:.2f}x",
                     f"{med(row.cpu):.2f}", dropped, queue_after, delivered_text(row), note])
    out.append("")
    out.append(f"1. App-thread cost per call, burst of {plan.burst_n} back-to-back calls after {WARMUP} warm-up "
               f"calls (KafkaHandler queue_max_records={burst[2].queue_max}: the burst cannot overflow it)")
    out.append(table(["case", "µs/call", "min-max", "vs FileHandler", "app-thread CPU µs", "dropped in burst",
                      "backlog after burst", "delivered after flush", "note"], rows))
    out.append("µs/call is wall time; app-thread CPU is time.thread_time over the same calls: the difference is time "
               "the app thread waited (the GIL held by the worker or kafka-python's thread, or the CPU busy elsewhere)")

    base50, base99 = med(steady[0].values), med(steady[0].p99)
    rows = []
    for row in steady:
        dropped = str(row.dropped) if row.queue_after else "n/a"
        rows.append([row.name, f"{med(row.values):.2f}", spread(row.values), f"{med(row.p99):.2f}",
                     spread(row.p99), f"{med(row.values) / base50:.2f}x / {med(row.p99) / base99:.2f}x",
                     f"{med(row.rate):.0f}", dropped, delivered_text(row)])
    out.append("")
    out.append(f"1b. Steady load: {plan.steady_calls} calls at {STEADY_RATE}/s, each call timed (perf_counter_ns)")
    out.append(table(["case", "p50 µs", "p50 min-max", "p99 µs", "p99 min-max", "vs FileHandler p50 / p99",
                      "calls/s", "dropped", "delivered after flush"], rows))

    base_cpu = med(e2e[0].cpu)
    rows = []
    for row in e2e:
        dropped = str(row.dropped) if any(f is not None for f in row.delivered) else "n/a"
        rows.append([row.name, f"{med(row.values):,.0f}", spread(row.values, "{:,.0f}"), f"{med(row.wall):.3f}",
                     f"{med(row.cpu):.1f}", spread(row.cpu, "{:.1f}"), f"{med(row.cpu) / base_cpu:.2f}x",
                     dropped, delivered_text(row)])
    out.append("")
    out.append(f"2. End to end: {plan.e2e_n} records, first call until flush() returns True (all acknowledged), "
               f"{plan.e2e_runs} runs; CPU = process_time (all threads) / record")
    out.append(table(["case", "records/s", "min-max", "wall s", "CPU µs/rec", "CPU min-max",
                      "CPU vs FileHandler", "dropped", "delivered == N"], rows))

    out.append("")
    out.append(f"3. {imports}")
    if errors:
        out.append(f"kafkalog on_error reports from cases that expect none ({len(errors)}): {errors[:3]}")
    out.append(f"total bench time {elapsed:.0f}s")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs and records (under 2 minutes)")
    parser.add_argument("--bootstrap", metavar="HOST:PORT", help="use this broker instead of starting LocalKafka")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    started = time.monotonic()

    client_log = logging.getLogger("kafka")  # kafka-python's own chatter (the broker-down case is noisy)
    client_log.addHandler(logging.NullHandler())
    client_log.propagate = False

    with contextlib.ExitStack() as stack:
        if args.bootstrap:
            bootstrap, where = args.bootstrap, f"external {args.bootstrap}"
        else:
            progress("starting LocalKafka")
            kafka = stack.enter_context(LocalKafka())
            bootstrap, where = kafka.bootstrap, f"LocalKafka {kafka.version}"
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kafkalog-bench-")))
        env = Env(bootstrap=bootstrap, down=_closed_port(), tmp=tmp)
        burst = measure_burst(env, plan)
        steady = measure_steady(env, plan)
        e2e = measure_e2e(env, plan)
        imports = import_check()
        print(report(plan, where, burst=burst, steady=steady, e2e=e2e, imports=imports, errors=env.errors,
                     elapsed=time.monotonic() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
