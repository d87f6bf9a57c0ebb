"""The whole kafkalog benchmark suite: one table per target, every ratio against a baseline of the same run.

    python bench/run_all.py [--quick] [--bootstrap HOST:PORT] [--only 1,3]

1. steady load (2,000 calls/s): app-thread p50/p99 per call, both transports, broker up and down, loguru sinks
2. bursts: app-thread cost per call, and where the wall time goes (app CPU vs GIL wait behind other threads)
3. end-to-end throughput (first call to last ack, acks=all) against the PyPI packages kafka-logging-handler
   and kafkaloghandler, each installed in its own venv under ~/.cache/kafkalog/bench-venvs/
4. machinery tax: KafkaHandler vs the same client driven directly with the same settings and bytes
5. total CPU per delivered record
6. memory under a broker outage, and what ``import kafkalog`` imports

Cases are interleaved run by run (and the order rotates) so a noisy phase of the machine hits every case alike;
the tables give the median over runs and the min-max. Without ``--bootstrap`` a local single-node Kafka is
started from Maven jars. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import json
import logging
import logging.handlers
import os
import platform
import queue
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import code_version, percentile, progress, table

import kafkalog
from kafkalog import KafkaHandler, KafkaSink, Stats
from kafkalog.testing.broker import LocalKafka, create_topic
from kafkalog.transports import MemoryTransport

BENCH = Path(__file__).resolve().parent
FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
EXTRA = {"action": "pay", "order": "A-1", "amount": 12.5}  # the record everywhere: 2 args, 3 extra fields
WARMUP = 500  # calls through every handler before it is timed (threads started, connected, topic known)
STEADY_RATE = 2_000
OUTAGE_RATE = 5_000
MEMORY_SLACK = 20 * 1024 * 1024
FLUSH_TIMEOUT = 120.0
TRANSPORTS = ("kafka-python", "confluent")
COMPETITORS = {"kafka-logging-handler": "kafka_logger", "kafkaloghandler": "kafkaloghandler"}  # PyPI name: module
VENV_ROOT = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kafkalog" / "bench-venvs"
TARGET_BURST_CONFLUENT = 1.5  # x FileHandler
TARGET_VS_COMPETITOR = 5.0
TARGET_MACHINERY = 0.9
perf_ns = time.perf_counter_ns


@dataclass(frozen=True)
class Plan:
    runs: int  # repeats of every steady-load measurement
    burst_runs: int
    burst_n: int
    steady_calls: int
    e2e_n: int
    e2e_runs: int
    outage_s: float
    outage_queue_bytes: int  # small enough that the outage reaches it (~270 B per record at 5,000/s)


FULL = Plan(runs=5, burst_runs=7, burst_n=20_000, steady_calls=4_000, e2e_n=20_000, e2e_runs=7, outage_s=60,
            outage_queue_bytes=16 * 1024 * 1024)
QUICK = Plan(runs=3, burst_runs=3, burst_n=5_000, steady_calls=1_000, e2e_n=5_000, e2e_runs=3, outage_s=10,
             outage_queue_bytes=8 * 1024 * 1024)


# --- numbers and cells -------------------------------------------------------------------------------------------


def med(values: list[float]) -> float:
    return statistics.median(values)


def cell(values: list[float], fmt: str = "{:.1f}") -> str:
    """median (min-max)"""
    if not values:
        return "n/a"
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(med(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def ratio_cell(values: list[float]) -> str:
    return cell(values, "{:.2f}") + "x" if values else "n/a"


def per_run_ratios(top: list[float], bottom: list[float]) -> list[float]:
    """Ratio run by run (both measured in the same run, moments apart), not ratio of medians."""
    return [a / b for a, b in zip(top, bottom, strict=False) if b]


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("MET" if ok else "MISSED")


# --- the workload ------------------------------------------------------------------------------------------------


def one_stdlib(log: logging.Logger) -> None:
    log.info("user %s paid %d", "alice", 42, extra=EXTRA)


def one_loguru(log: Any) -> None:
    # loguru formats with str.format; keyword arguments also land in record["extra"], like extra= above
    log.info("user {} paid {}", "alice", 42, action="pay", order="A-1", amount=12.5)  # noqa: PLE1205


def burst_stdlib(log: logging.Logger, n: int) -> None:
    for _ in range(n):
        log.info("user %s paid %d", "alice", 42, extra=EXTRA)


def steady(one: Callable[[Any], None], log: Any, count: int, rate: int) -> tuple[list[int], float]:
    """Call at ``rate``/s on a fixed schedule (open loop: a late call does not push the schedule back).

    Sleeps (letting other threads run, as an idle app would) until ~150 µs before each slot, then spins.
    Returns each call's duration in ns and the achieved rate.
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
        one(log)
        durations[i] = perf_ns() - t0
    return durations, count / ((perf_ns() - begin) / 1e9)


# --- per-thread CPU (Linux /proc), to show where a burst's wall time goes -------------------------------------


def thread_cpu() -> dict[int, tuple[str, int]]:
    """tid -> (kind, ns on CPU) for every thread of this process, C threads (librdkafka's) included."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    main = threading.main_thread().native_id
    out: dict[int, tuple[str, int]] = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return out
    for entry in tids:
        tid = int(entry)
        try:
            ns = int(Path(f"/proc/self/task/{tid}/schedstat").read_text().split()[0])
            comm = Path(f"/proc/self/task/{tid}/comm").read_text().strip()
        except (OSError, ValueError, IndexError):
            continue
        name = names.get(tid)
        if tid == main:
            kind = "app"
        elif name is None:
            kind = "librdkafka" if comm.startswith("rdk:") else "other C thread"
        elif name.startswith("kafkalog-"):
            kind = "worker"
        elif name.endswith("network-thread"):
            kind = "kafka-python net"
        else:
            kind = "other Python thread"
        out[tid] = (kind, ns)
    return out


THREAD_KINDS = ("worker", "kafka-python net", "other Python thread", "librdkafka", "other C thread")
PYTHON_KINDS = ("worker", "kafka-python net", "other Python thread")  # run bytecode: hold the GIL while on CPU


def cpu_by_kind(before: dict[int, tuple[str, int]], after: dict[int, tuple[str, int]]) -> dict[str, int]:
    total: dict[str, int] = defaultdict(int)
    for tid, (kind, ns) in after.items():
        total[kind] += ns - before.get(tid, (kind, 0))[1]
    return dict(total)


def switches() -> tuple[int, int]:
    """(voluntary, involuntary) context switches of the calling thread."""
    vol = invol = 0
    try:
        text = Path(f"/proc/self/task/{threading.get_native_id()}/status").read_text()
    except OSError:
        return 0, 0
    for line in text.splitlines():
        if line.startswith("voluntary_ctxt_switches:"):
            vol = int(line.split()[1])
        elif line.startswith("nonvoluntary_ctxt_switches:"):
            invol = int(line.split()[1])
    return vol, invol


# --- the handlers under test -------------------------------------------------------------------------------------


@dataclass
class Env:
    bootstrap: str
    down: str  # host:port with nothing listening
    tmp: Path
    errors: list[str] = field(default_factory=list)  # on_error reports from cases that expect none

    def topic(self, case: str) -> str:
        name = f"bench-{case}-{uuid.uuid4().hex[:10]}"
        create_topic(self.bootstrap, name, partitions=1)
        return name


@dataclass
class Target:
    log: Any
    api: str = "stdlib"  # or "loguru"
    stats: Callable[[], Stats] | None = None
    flush: Callable[[float], bool] | None = None
    warm_timeout: float = FLUSH_TIMEOUT
    delivered_ok: bool | None = None  # set on exit: everything seen was delivered, nothing dropped


def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"127.0.0.1:{port}"


@contextlib.contextmanager
def stdlib_logger(handler: logging.Handler) -> Iterator[logging.Logger]:
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
    try:
        with stdlib_logger(handler) as log:
            yield Target(log)
    finally:
        handler.close()
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def queue_target(env: Env) -> Iterator[Target]:
    handler = logging.handlers.QueueHandler(queue.Queue())  # unbounded, and nothing takes from it
    try:
        with stdlib_logger(handler) as log:
            yield Target(log)
    finally:
        handler.close()


def settle(target: Target, up: bool) -> None:
    """After the timed part (untimed): wait until the backlog is delivered and check that nothing was lost."""
    assert target.stats is not None and target.flush is not None
    if up:
        flushed = target.flush(FLUSH_TIMEOUT)
        s = target.stats()
        target.delivered_ok = flushed and s.delivered == s.seen and s.dropped_total == 0
    else:
        target.delivered_ok = None  # broker down: nothing can be delivered; the queue is dropped at close


def wait_worker_gone(stats: Callable[[], Stats], timeout: float = 8.0) -> None:
    """A closed handler's thread can sit in kafka-python's bootstrap a while: keep it off the next case's CPU."""
    deadline = time.monotonic() + timeout
    while stats().worker_alive and time.monotonic() < deadline:
        time.sleep(0.05)


@contextlib.contextmanager
def handler_target(env: Env, transport: str, where: str) -> Iterator[Target]:
    """KafkaHandler with its defaults; ``where`` is "up" (the broker), "down" (a closed port) or "memory"."""
    errors = env.errors if where == "up" else []
    if where == "up":
        handler = KafkaHandler(env.bootstrap, env.topic("handler"), transport=transport, on_error=errors.append)
    elif where == "down":
        handler = KafkaHandler(env.down, "bench-down", transport=transport, on_error=errors.append)
    else:
        handler = KafkaHandler("127.0.0.1:9", "bench-memory", transport=MemoryTransport(), on_error=errors.append)
    # broker down: the warm-up records cannot be delivered; just give the worker time to start trying
    target = Target(None, stats=handler.stats, flush=handler.flush, warm_timeout=0.3 if where == "down" else
                    FLUSH_TIMEOUT)
    try:
        with stdlib_logger(handler) as log:
            target.log = log
            yield target
            settle(target, up=where != "down")
    finally:
        if where == "down":
            handler.close(0)
            wait_worker_gone(handler.stats)
        else:
            handler.close()


@contextlib.contextmanager
def loguru_file_target(env: Env) -> Iterator[Target]:
    from loguru import logger

    logger.remove()
    path = env.tmp / f"{uuid.uuid4().hex}.log"
    sink_id = logger.add(str(path))
    try:
        yield Target(logger, api="loguru")
    finally:
        logger.remove(sink_id)
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def sink_target(env: Env, transport: str, message_only: bool) -> Iterator[Target]:
    from loguru import logger

    logger.remove()
    sink = KafkaSink(env.bootstrap, env.topic("sink"), transport=transport, on_error=env.errors.append)
    sink_id = logger.add(sink, format="{message}") if message_only else logger.add(sink)
    target = Target(logger, api="loguru", stats=sink.stats, flush=sink.drain)
    try:
        yield target
        settle(target, up=True)
    finally:
        logger.remove(sink_id)  # calls sink.stop() -> close


def warm(target: Target) -> None:
    """Warm-up calls, then (untimed) let them be delivered: the client is connected and knows the topic."""
    one = one_stdlib if target.api == "stdlib" else one_loguru
    for _ in range(WARMUP):
        one(target.log)
    if target.flush is not None:
        target.flush(target.warm_timeout)


# --- in-process measurements (targets 1 and 2) ------------------------------------------------------------------


@dataclass
class Case:
    name: str
    make: Callable[[], contextlib.AbstractContextManager[Target]]
    m: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    delivered: list[bool | None] = field(default_factory=list)
    dropped: int = 0
    backlog: list[int] = field(default_factory=list)


def run_interleaved(cases: list[Case], runs: int, label: str,
                    body: Callable[[Case, Target], None]) -> None:
    """Every case once per run, in an order that rotates run by run; ``body`` does the timed part."""
    for run in range(runs):
        progress(f"{label}: run {run + 1}/{runs}")
        shift = run % len(cases)
        for case in cases[shift:] + cases[:shift]:
            with case.make() as target:
                warm(target)
                before = target.stats() if target.stats else None
                body(case, target)
                after = target.stats() if target.stats else None
                if before is not None and after is not None:
                    case.dropped += after.dropped_total - before.dropped_total
                    case.backlog.append(after.queue_depth + after.in_flight)
            case.delivered.append(target.delivered_ok)


def steady_cases(env: Env) -> list[Case]:
    cases = [Case("stdlib FileHandler [baseline]", lambda: file_target(env))]
    for transport in TRANSPORTS:
        cases.append(Case(f"KafkaHandler {transport}, broker up",
                          lambda t=transport: handler_target(env, t, "up")))  # type: ignore[misc]
        cases.append(Case(f"KafkaHandler {transport}, broker down",
                          lambda t=transport: handler_target(env, t, "down")))  # type: ignore[misc]
    cases.append(Case("loguru file sink [loguru baseline]", lambda: loguru_file_target(env)))
    for transport in TRANSPORTS:
        cases.append(Case(f"KafkaSink {transport}, loguru default format",
                          lambda t=transport: sink_target(env, t, False)))  # type: ignore[misc]
        cases.append(Case(f'KafkaSink {transport}, format="{{message}}"',
                          lambda t=transport: sink_target(env, t, True)))  # type: ignore[misc]
    return cases


def measure_steady(env: Env, plan: Plan) -> list[Case]:
    cases = steady_cases(env)

    def body(case: Case, target: Target) -> None:
        one = one_stdlib if target.api == "stdlib" else one_loguru
        durations, rate = steady(one, target.log, plan.steady_calls, STEADY_RATE)
        durations.sort()
        case.m["p50"].append(percentile(durations, 0.50) / 1000)
        case.m["p99"].append(percentile(durations, 0.99) / 1000)
        case.m["rate"].append(rate)

    run_interleaved(cases, plan.runs, f"1. steady {plan.steady_calls} calls at {STEADY_RATE}/s per case", body)
    return cases


def measure_burst(env: Env, plan: Plan) -> list[Case]:
    cases = [
        Case("stdlib FileHandler [baseline]", lambda: file_target(env)),
        Case("QueueHandler, unbounded, no consumer (lower bound)", lambda: queue_target(env)),
        Case("KafkaHandler kafka-python, broker up", lambda: handler_target(env, "kafka-python", "up")),
        Case("KafkaHandler confluent, broker up", lambda: handler_target(env, "confluent", "up")),
        Case("KafkaHandler, memory transport (no client)", lambda: handler_target(env, "kafka-python", "memory")),
    ]
    n = plan.burst_n

    def body(case: Case, target: Target) -> None:
        gc.collect()
        threads0, (vol0, invol0) = thread_cpu(), switches()
        wall0, cpu0 = perf_ns(), time.thread_time_ns()
        burst_stdlib(target.log, n)
        wall, cpu = perf_ns() - wall0, time.thread_time_ns() - cpu0
        (vol1, invol1), threads1 = switches(), thread_cpu()
        case.m["wall"].append(wall / n / 1000)
        case.m["cpu"].append(cpu / n / 1000)
        case.m["vol"].append((vol1 - vol0) * 1000 / n)
        case.m["invol"].append((invol1 - invol0) * 1000 / n)
        others = cpu_by_kind(threads0, threads1)
        for kind in THREAD_KINDS:
            case.m[f"cpu:{kind}"].append(others.get(kind, 0) / n / 1000)

    run_interleaved(cases, plan.burst_runs, f"2. bursts of {n} calls", body)
    return cases


# --- end to end, in fresh interpreters (targets 3, 4, 5) --------------------------------------------------------


@dataclass
class E2ECase:
    name: str
    case: str  # the CASE argument of _e2e_case.py
    python: str | None  # None: unavailable (see ``why``)
    kafka: bool = True  # writes to a topic (the count is checked there)
    why: str = ""
    rate: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    runs_ok: int = 0
    failures: list[str] = field(default_factory=list)
    versions: str = ""
    ok_by_run: dict[int, bool] = field(default_factory=dict)
    rate_by_run: dict[int, float] = field(default_factory=dict)
    cpu_by_run: dict[int, float] = field(default_factory=dict)


def ensure_venv(name: str, module: str) -> tuple[str | None, str]:
    """A venv of its own per competitor (their kafka-python pins may clash with ours); (python, why not)."""
    root = VENV_ROOT / name
    python = root / "bin" / "python"

    def works() -> bool:
        if not python.exists():
            return False
        probe = subprocess.run([str(python), "-c", f"import {module}"], check=False, capture_output=True,
                               timeout=120)
        return probe.returncode == 0

    if works():
        return str(python), ""
    progress(f"installing {name} into {root}")
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(root)], check=True, capture_output=True,
                       text=True, timeout=300)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", name],
                       check=True, capture_output=True, text=True, timeout=600)
    except subprocess.CalledProcessError as exc:
        lines = (exc.stderr or exc.stdout or "").strip().splitlines()
        return None, f"not installed: {lines[-1] if lines else exc}"[:200]
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"not installed: {exc}"[:200]
    if not works():
        return None, f"installed but `import {module}` fails"
    return str(python), ""


def end_offset(bootstrap: str, topic: str) -> int:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, client_id="kafkalog-bench-check")
    try:
        tp = TopicPartition(topic, 0)
        return int(consumer.end_offsets([tp])[tp])
    finally:
        consumer.close()


def run_json(cmd: list[str], timeout: float) -> dict[str, Any]:
    """Run a helper script; its last stdout line is JSON (or an {"error": ...} made here)."""
    try:
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"no answer within {timeout:.0f}s"}
    lines = proc.stdout.strip().splitlines()
    try:
        result: dict[str, Any] = json.loads(lines[-1])
    except (ValueError, IndexError):
        tail = proc.stderr.strip().splitlines()
        return {"error": f"exit {proc.returncode}: {tail[-1] if tail else 'no output'}"[:200]}
    return result


def e2e_cases() -> list[E2ECase]:
    me = sys.executable
    cases = [
        E2ECase("stdlib FileHandler [baseline]", "file", me, kafka=False),
        E2ECase("KafkaHandler kafka-python", "kafkalog-kafka-python", me),
        E2ECase("bare kafka-python KafkaProducer", "bare-kafka-python", me),
        E2ECase("KafkaHandler confluent", "kafkalog-confluent", me),
        E2ECase("bare confluent_kafka.Producer", "bare-confluent", me),
        E2ECase("KafkaHandler, memory transport (no network)", "kafkalog-memory", me, kafka=False),
    ]
    for name, module in COMPETITORS.items():
        python, why = ensure_venv(name, module)
        cases.append(E2ECase(f"{name} (PyPI)", name, python, why=why))
    return cases


def measure_e2e(env: Env, plan: Plan) -> list[E2ECase]:
    cases = e2e_cases()
    live = [c for c in cases if c.python is not None]
    n = plan.e2e_n
    script = str(BENCH / "_e2e_case.py")
    for run in range(plan.e2e_runs):
        progress(f"3-5. end to end: run {run + 1}/{plan.e2e_runs} ({n} records per case, fresh interpreter each)")
        shift = run % len(live)
        for case in live[shift:] + live[:shift]:
            assert case.python is not None
            topic = env.topic("e2e") if case.kafka else "bench-none"
            cmd = [case.python, script, case.case, "--bootstrap", env.bootstrap, "--topic", topic, "-n", str(n),
                   "--warmup", str(WARMUP)]
            result = run_json(cmd, FLUSH_TIMEOUT * 2 + 60)
            if "error" in result:
                case.failures.append(str(result["error"])[:200])
                continue
            ok = bool(result["ok"])
            if case.kafka:
                on_topic = end_offset(env.bootstrap, topic)
                if on_topic < WARMUP + n:
                    ok = False
                    case.failures.append(f"only {on_topic - WARMUP} of {n} records on the topic ({result['detail']})")
            elif not ok:
                case.failures.append(str(result.get("detail")))
            case.versions = result.get("versions", "")
            case.ok_by_run[run] = ok
            if ok:
                case.runs_ok += 1
                case.rate.append(n / result["wall"])
                case.cpu_us.append(result["cpu"] / n * 1e6)
                case.wall.append(result["wall"])
                case.rate_by_run[run] = n / result["wall"]
                case.cpu_by_run[run] = result["cpu"] / n * 1e6
    return cases


def run_ratios(top: E2ECase, bottom: E2ECase, what: str = "rate") -> list[float]:
    a = top.rate_by_run if what == "rate" else top.cpu_by_run
    b = bottom.rate_by_run if what == "rate" else bottom.cpu_by_run
    return [a[r] / b[r] for r in sorted(a) if b.get(r)]


# --- memory under an outage, and imports (target 6) -------------------------------------------------------------


def measure_outage(env: Env, plan: Plan) -> dict[str, dict[str, Any]]:
    """Both transports at once, each in its own interpreter (mostly sleeping: 5,000 calls/s is ~10% of a core)."""
    progress(f"6. outage: {plan.outage_s:.0f}s at {OUTAGE_RATE}/s, broker down, queue_max_bytes="
             f"{plan.outage_queue_bytes >> 20} MiB, both transports side by side")
    procs = {t: subprocess.Popen([sys.executable, str(BENCH / "_outage.py"), t, "--seconds", str(plan.outage_s),
                                  "--rate", str(OUTAGE_RATE), "--queue-max-bytes", str(plan.outage_queue_bytes),
                                  "--down", env.down], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for t in TRANSPORTS}
    results: dict[str, dict[str, Any]] = {}
    for transport, proc in procs.items():
        try:
            out, err = proc.communicate(timeout=plan.outage_s + 120)
            results[transport] = json.loads(out.strip().splitlines()[-1])
        except (subprocess.SubprocessError, ValueError, IndexError) as exc:
            proc.kill()
            results[transport] = {"error": f"{type(exc).__name__}: {(err if 'err' in locals() else '')[-200:]}"}
    return results


def import_check() -> tuple[bool, str]:
    code = ("import sys, kafkalog; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('kafka', 'confluent_kafka')); "
            "print(len(bad), 'loguru' in sys.modules, ','.join(bad[:5]) or '-')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    count, loguru_loaded, names = int(out[0]), out[1] == "True", out[2]
    text = ("imports neither kafka nor confluent_kafka" if count == 0
            else f"imports {count} client modules ({names})")
    return count == 0, f"{text}; loguru {'imported' if loguru_loaded else 'not imported'}"


# --- report ------------------------------------------------------------------------------------------------------


def delivered_text(case: Case) -> str:
    flags = case.delivered
    if not flags or all(f is None for f in flags):
        return "n/a"
    good = sum(1 for f in flags if f)
    return f"all ({good}/{len(flags)} runs)" if good == len(flags) else f"INCOMPLETE ({good}/{len(flags)} runs)"


def report_steady(cases: list[Case], plan: Plan) -> str:
    base, loguru_base = cases[0], next(c for c in cases if "loguru baseline" in c.name)
    rows = []
    for case in cases:
        against = loguru_base if case.name.startswith("KafkaSink") else base
        label = "loguru file" if against is loguru_base else "FileHandler"
        if case is base:
            label = "-"
        rows.append([case.name, cell(case.m["p50"], "{:.1f}"), cell(case.m["p99"], "{:.1f}"),
                     label, ratio_cell(per_run_ratios(case.m["p50"], against.m["p50"])) if case is not base else "1x",
                     ratio_cell(per_run_ratios(case.m["p99"], against.m["p99"])) if case is not base else "1x",
                     f"{med(case.m['rate']):.0f}", str(case.dropped) if case.backlog else "n/a",
                     delivered_text(case)])
    head = (f"1. STEADY LOAD: {plan.steady_calls} calls at {STEADY_RATE}/s per case, each call timed on the app "
            f"thread (perf_counter_ns); {plan.runs} runs, median (min-max); ratios run by run against the baseline "
            f"of the same run")
    body = table(["case", "p50 µs", "p99 µs", "vs", "p50 ratio", "p99 ratio", "calls/s", "dropped",
                  "delivered after"], rows)
    notes = ("broker down = a closed port on 127.0.0.1 (connections refused at once); the records wait in the queue "
             "and are dropped at close. KafkaSink ratios are against loguru's own file sink (default format); the "
             "loguru file sink's against stdlib FileHandler. format=\"{message}\" spares loguru formatting a text "
             "line the sink does not use (it ships the record).")
    return "\n".join([head, body, notes])


def report_burst(cases: list[Case], plan: Plan) -> str:
    base = cases[0]
    rows = []
    for case in cases:
        gil = sum(med(case.m[f"cpu:{kind}"]) for kind in PYTHON_KINDS)
        c_threads = sum(med(case.m[f"cpu:{kind}"]) for kind in THREAD_KINDS if kind not in PYTHON_KINDS)
        waits = [w - c for w, c in zip(case.m["wall"], case.m["cpu"], strict=True)]
        rows.append([case.name, cell(case.m["wall"], "{:.2f}"),
                     ratio_cell(per_run_ratios(case.m["wall"], base.m["wall"])) if case is not base else "1x",
                     f"{med(case.m['cpu']):.2f}", f"{med(waits):.2f}", f"{gil:.2f}", f"{c_threads:.2f}",
                     f"{med(case.m['vol']):.0f} / {med(case.m['invol']):.0f}",
                     f"{int(med(case.backlog))}" if case.backlog else "n/a", delivered_text(case)])
    target = next(c for c in cases if c.name.startswith("KafkaHandler confluent"))
    ratios = per_run_ratios(target.m["wall"], base.m["wall"])
    head = (f"2. BURSTS: {plan.burst_n} back-to-back calls per case after {WARMUP} warm-up calls; µs per call, "
            f"{plan.burst_runs} runs, median (min-max). Other threads' CPU is measured over the same window "
            f"(/proc/self/task/*/schedstat) and divided by the number of app calls")
    body = table(["case", "wall µs/call", "vs FileHandler", "app CPU µs", "app waited µs",
                  "Python threads CPU µs (hold the GIL)", "C threads CPU µs (no GIL)",
                  "app switches/1k calls vol / invol", "backlog after", "delivered after"], rows)
    line = (f"target: KafkaHandler confluent <= {TARGET_BURST_CONFLUENT}x FileHandler per call: "
            f"{ratio_cell(ratios)} -> {verdict(med(ratios) <= TARGET_BURST_CONFLUENT if ratios else None)}")
    return "\n".join([head, body, line, "", explain_gil(cases)])


def explain_gil(cases: list[Case]) -> str:
    """The kafka-python burst, accounted for without a profiler: own CPU, waiting, and who ran meanwhile."""
    base = cases[0]
    base_wait = med([w - c for w, c in zip(base.m["wall"], base.m["cpu"], strict=True)])
    switch_ms = sys.getswitchinterval() * 1000
    out = ["Where a burst call's wall time goes (time.thread_time of the app thread vs wall, every thread's CPU over "
           "the same window, and the app thread's context switches):"]
    for case in cases[2:4]:
        wall, cpu = med(case.m["wall"]), med(case.m["cpu"])
        wait = wall - cpu
        worker, net = med(case.m["cpu:worker"]), med(case.m["cpu:kafka-python net"])
        rdk = med(case.m["cpu:librdkafka"])
        holders = sum(med(case.m[f"cpu:{kind}"]) for kind in PYTHON_KINDS)
        vol = med(case.m["vol"])
        per_block = f"{wait * 1000 / vol / 1000:.1f} ms" if vol else "n/a"
        if "kafka-python" in case.name:
            covered = wait <= (holders + base_wait) * 1.1
            conclusion = (
                f"So the wait ({wait:.2f} µs) is covered by what the GIL holders ran plus the machine's share "
                f"({holders:.2f} + {base_wait:.2f} µs; the holders' CPU is an upper bound of their GIL time, as it "
                f"includes their socket syscalls, made without the GIL): the extra cost over FileHandler is GIL wait "
                f"behind kafka-python's own thread and the worker, not the app thread's work (its own CPU is "
                f"{cpu - med(base.m['cpu']):+.2f} µs from FileHandler's) and not a lack of CPUs."
                if covered else
                f"The wait ({wait:.2f} µs) exceeds what the GIL holders ran plus the machine's share "
                f"({holders:.2f} + {base_wait:.2f} µs): {wait - holders - base_wait:.2f} µs per call is not "
                f"explained by the GIL (the machine was busy: look at the involuntary switches).")
            out.append(
                f"- {case.name}: {wall:.2f} µs wall per call = {cpu:.2f} µs of the app thread's own CPU "
                f"(FileHandler: {med(base.m['cpu']):.2f}) + {wait:.2f} µs not running. In the same window "
                f"kafka-python's network thread used {net:.2f} µs and kafkalog's worker {worker:.2f} µs of CPU per "
                f"app call; both run Python bytecode, so they hold the GIL while on a CPU: {holders:.2f} µs. The app "
                f"thread blocked {vol:.0f} times per 1k calls ({per_block} per block on average; a thread asking "
                f"for the GIL waits until the holder drops it, at the latest after sys.getswitchinterval() = "
                f"{switch_ms:.0f} ms), and was preempted {med(case.m['invol']):.0f} times per 1k calls. FileHandler, "
                f"alone in its process, lost {base_wait:.2f} µs per call to the machine itself (other processes; "
                f"{med(base.m['vol']):.0f} blocks, {med(base.m['invol']):.0f} preemptions per 1k calls). "
                + conclusion)
        else:
            out.append(
                f"- {case.name}, for contrast: {wall:.2f} µs wall = {cpu:.2f} µs app CPU + {wait:.2f} µs waiting; "
                f"the worker (Python, holds the GIL) used {worker:.2f} µs per call, librdkafka's C threads "
                f"{rdk:.2f} µs without the GIL ({vol:.0f} blocks per 1k calls).")
    return "\n".join(out)


def report_e2e(cases: list[E2ECase], plan: Plan) -> str:
    by_case = {c.case: c for c in cases}
    rows = []
    for case in cases:
        if case.case in ("bare-kafka-python", "bare-confluent", "kafkalog-memory", "file"):
            continue
        if case.python is None:
            rows.append([case.name, "n/a", "n/a", "n/a", case.why])
            continue
        if not case.rate:
            rows.append([case.name, "n/a", "n/a", f"0/{plan.e2e_runs}",
                         f"does not work: {case.failures[0] if case.failures else '?'}"])
            continue
        note = case.versions + (f"; failed runs: {case.failures[0]}" if case.failures else "")
        rows.append([case.name, cell(case.rate, "{:,.0f}"), cell(case.wall, "{:.2f}"),
                     f"{case.runs_ok}/{plan.e2e_runs}", note])
    competitors = [by_case[name] for name in COMPETITORS if by_case[name].rate]
    lines = [f"3. END TO END: {plan.e2e_n} records per run from the first call until the last is acknowledged "
             f"(acks=all), {plan.e2e_runs} runs, each case in a fresh interpreter, same broker, a fresh topic per "
             f"run; a run counts only if all {plan.e2e_n} records are on the topic (end offsets)",
             table(["case", "records/s", "wall s", "runs delivered", "versions / notes"], rows)]
    mine = by_case["kafkalog-confluent"]
    for case in (mine, by_case["kafkalog-kafka-python"]):
        if not competitors or not case.rate:
            lines.append(f"{case.name} / best competitor: n/a (no competitor delivered)")
            continue
        per_run = []
        for run, rate in case.rate_by_run.items():
            rivals = [c.rate_by_run[run] for c in competitors if run in c.rate_by_run]
            if rivals:
                per_run.append(rate / max(rivals))
        best = max(competitors, key=lambda c: med(c.rate))
        met = verdict(med(per_run) >= TARGET_VS_COMPETITOR) if per_run and case is mine else "(no target)"
        lines.append(f"{case.name} / best competitor ({best.name}, per run): {ratio_cell(per_run)}; target >= "
                     f"{TARGET_VS_COMPETITOR:.0f}x -> {met}")
    lines.append("The competitors run as their README shows, configured from their source: kafka-logging-handler "
                 "with security_protocol=PLAINTEXT (it defaults to SSL and otherwise disables itself), buffered, "
                 "sent by flush(); kafkaloghandler produce()s on the caller's thread, then flush() until "
                 "librdkafka's queue is empty. Their records are their own JSON layout of the LogRecord.")
    return "\n".join(lines)


def report_machinery(cases: list[E2ECase], plan: Plan) -> str:
    by_case = {c.case: c for c in cases}
    memory = by_case["kafkalog-memory"]
    rows = []
    results = []
    for transport in TRANSPORTS:
        mine, bare = by_case[f"kafkalog-{transport}"], by_case[f"bare-{transport}"]
        ratios = run_ratios(mine, bare)
        # the best a handler could do if its parts ran one after the other with nothing added: build and encode
        # each record (the memory-transport handler) then hand the bytes to the client (the bare producer)
        serial = []
        for run, rate in mine.rate_by_run.items():
            if run in bare.rate_by_run and run in memory.rate_by_run:
                serial.append(rate * (1 / bare.rate_by_run[run] + 1 / memory.rate_by_run[run]))
        met = med(ratios) >= TARGET_MACHINERY if ratios else None
        results.append(met)
        rows.append([transport, cell(mine.rate, "{:,.0f}"), cell(bare.rate, "{:,.0f}"), ratio_cell(ratios),
                     verdict(met), ratio_cell(serial)])
    head = (f"4. MACHINERY TAX: end-to-end records/s (same runs as 3) of KafkaHandler vs the same client driven "
            f"directly: a bare producer on the main thread sending kafkalog's own encoded bytes for the same record, "
            f"with kafkalog's settings (kafka-python: transports.kafka_python.DEFAULTS, acks=all; confluent: the "
            f"confluent transport's DEFAULTS + enable.idempotence), {plan.e2e_n} records, until every ack")
    body = table(["transport", "KafkaHandler rec/s", "bare producer rec/s", f"ratio (target >= {TARGET_MACHINERY})",
                  "target", "vs serial bound"], rows)
    note = (f"serial bound = 1 / (1/bare + 1/handler-with-memory-transport) per run: the handler building and encoding "
            f"records ({cell(memory.rate, '{:,.0f}')} rec/s with the memory transport, no network) and then the bare "
            f"client sending them, one after the other; > 1x means the machinery overlaps them, < 1x is what the "
            f"queue and worker add on top of building the records.")
    return "\n".join([head, body, note])


def report_cpu(cases: list[E2ECase], plan: Plan) -> str:
    by_case = {c.case: c for c in cases}
    base = by_case["file"]
    rows = []
    order = ["file", "kafkalog-kafka-python", "kafkalog-confluent", "kafkalog-memory", "bare-kafka-python",
             "bare-confluent", *COMPETITORS]
    for key in order:
        case = by_case[key]
        if not case.cpu_us:
            rows.append([case.name, "n/a", "n/a", case.why or (case.failures[0] if case.failures else "")])
            continue
        ratio = ratio_cell(run_ratios(case, base, "cpu")) if case is not base else "1x"
        rows.append([case.name, cell(case.cpu_us, "{:.1f}"), ratio, cell(case.rate, "{:,.0f}") + " rec/s"])
    head = (f"5. CPU PER DELIVERED RECORD: time.process_time (all threads of the process, client threads included) "
            f"from the first call to the last ack, / {plan.e2e_n} records; same runs as 3")
    return "\n".join([head, table(["case", "CPU µs/record", "vs FileHandler", "throughput"], rows)])


def report_outage(results: dict[str, dict[str, Any]], plan: Plan, imports: tuple[bool, str]) -> str:
    rows = []
    bound = plan.outage_queue_bytes + MEMORY_SLACK
    for transport, r in results.items():
        if "error" in r:
            rows.append([transport, "n/a", "n/a", "n/a", "n/a", "n/a", "n/a", "n/a", r["error"]])
            continue
        growth = (r["peak_kb"] - r["base_kb"]) * 1024
        queued = r["queue_records"]
        per_record = growth / queued if queued else 0
        drops = ", ".join(f"{k} {v}" for k, v in sorted(r["dropped"].items())) or "0"
        rows.append([transport, f"{r['seconds']:.0f}", f"{r['rate']:,.0f}",
                     f"{queued:,} / {r['max_queue_bytes'] / 2**20:.1f} MiB", drops,
                     f"{r['base_kb'] / 1024:.0f} -> {r['peak_kb'] / 1024:.0f} MiB", f"{growth / 2**20:.1f} MiB",
                     f"{per_record:,.0f} B ({r['queue_bytes'] / max(queued, 1):.0f} B encoded)",
                     verdict(growth <= bound) + ("" if r["peak_reset"] else " (peak not reset: VmHWM since start)")])
    head = (f"6. MEMORY UNDER A {plan.outage_s:.0f}s OUTAGE: broker down (closed port), {OUTAGE_RATE} records/s, "
            f"queue_max_bytes={plan.outage_queue_bytes >> 20} MiB; peak RSS growth (VmHWM, reset after warm-up) in a "
            f"fresh interpreter per transport; bound = queue_max_bytes + {MEMORY_SLACK >> 20} MiB = {bound >> 20} MiB")
    body = table(["transport", "s", "records/s", "queued at end (records / encoded bytes)", "dropped",
                  "RSS base -> peak", "growth", "growth per queued record", "growth <= bound"], rows)
    ok, text = imports
    return "\n".join([head, body, f"import kafkalog (fresh interpreter): {text} -> {verdict(ok)}"])


def header(plan: Plan, where: str, load0: str) -> str:
    json_backend = "orjson" if importlib.util.find_spec("orjson") else "json"
    # kafka-python checksums every batch with CRC-32C: in pure Python unless the crc32c package is installed,
    # which changes its throughput about 2x
    crc = "crc32c (C)" if importlib.util.find_spec("crc32c") else "pure Python"
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"kafkalog {kafkalog.__version__} ({code_version()}) run_all | Python {platform.python_version()} | "
            f"{os.cpu_count()} CPUs | JSON {json_backend} | kafka-python CRC-32C {crc} | broker {where} | "
            f"load avg {load0} at start, {load} at end | record: log.info('user %s paid %d', 'alice', 42, "
            f"extra={EXTRA})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs, records and a 10 s outage (~3 minutes)")
    parser.add_argument("--bootstrap", metavar="HOST:PORT", help="use this broker instead of starting LocalKafka")
    parser.add_argument("--only", metavar="1,2,...", default="1,2,3,4,5,6",
                        help="targets to run (3, 4 and 5 share their runs)")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    only = {int(x) for x in args.only.split(",") if x.strip()}
    started = time.monotonic()
    load0 = "/".join(f"{x:.1f}" for x in os.getloadavg())

    client_log = logging.getLogger("kafka")  # kafka-python's own chatter (the broker-down cases are noisy)
    client_log.addHandler(logging.NullHandler())
    client_log.propagate = False

    sections: list[str] = []
    with contextlib.ExitStack() as stack:
        if args.bootstrap:
            bootstrap, where = args.bootstrap, f"external {args.bootstrap}"
        else:
            progress("starting LocalKafka")
            broker = stack.enter_context(LocalKafka())
            bootstrap, where = broker.bootstrap, f"LocalKafka {broker.version}"
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kafkalog-bench-")))
        env = Env(bootstrap=bootstrap, down=closed_port(), tmp=tmp)
        if 1 in only:
            sections.append(report_steady(measure_steady(env, plan), plan))
        if 2 in only:
            sections.append(report_burst(measure_burst(env, plan), plan))
        if only & {3, 4, 5}:
            e2e = measure_e2e(env, plan)
            if 3 in only:
                sections.append(report_e2e(e2e, plan))
            if 4 in only:
                sections.append(report_machinery(e2e, plan))
            if 5 in only:
                sections.append(report_cpu(e2e, plan))
        if 6 in only:
            sections.append(report_outage(measure_outage(env, plan), plan, import_check()))
        elapsed = time.monotonic() - started
        out = [header(plan, where, load0), *sections]
        if env.errors:
            out.append(f"kafkalog on_error reports from cases that expect none ({len(env.errors)}): {env.errors[:3]}")
        out.append(f"total bench time {elapsed:.0f}s ({'--quick' if args.quick else 'full'})")
        print("\n\n".join(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
