"""The local collector: what handing records over costs the application, and what it saves a pre-fork server.

    python bench/collector.py [--quick] [--bootstrap HOST:PORT]

1. µs per logging call on the app thread, interleaved rounds in one process: logging.FileHandler (baseline),
   logging.handlers.QueueHandler (a SimpleQueue, nothing consuming: the cheapest possible "async" handler),
   KafkaHandler(collector=...) handing over to a running ``kafkalog collect``, and KafkaHandler with its own
   producer (broker up). Medians with min-max over the rounds; ratios to FileHandler from the same round.
2. Celery prefork -c 8 --max-tasks-per-child 10, 200 tasks (20 recycled children): wall time from queueing to the
   last result, without kafkalog, with a producer per process, and handing over to one collector; broker
   connections opened from the host during the run (distinct local ports to the broker seen in /proc/net/tcp).

Nothing here is asserted; numbers go to docs/performance.md and docs/collector.md.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import logging.handlers
import os
import queue
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from _common import code_version, progress, table

from kafkalog import KafkaHandler
from kafkalog.testing import LocalKafka, create_topic
from kafkalog.transports.collector import query_stats

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def running_collector(bootstrap: str, directory: Path) -> Iterator[Path]:
    sock = directory / "collector.sock"
    proc = subprocess.Popen([sys.executable, "-m", "kafkalog", "collect", "--socket", str(sock),
                             "--bootstrap-servers", bootstrap], stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 60
    while True:
        try:
            query_stats(str(sock), timeout=1.0)
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the collector did not start") from None
            time.sleep(0.1)
    try:
        yield sock
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


def per_call(bootstrap: str, sock: Path, topic: str, calls: int, rounds: int) -> list[list[str]]:
    directory = Path(tempfile.mkdtemp())
    makers = {
        "logging.FileHandler": lambda: logging.FileHandler(directory / "app.log"),
        "logging.handlers.QueueHandler": lambda: logging.handlers.QueueHandler(queue.SimpleQueue()),
        "KafkaHandler(collector=...)": lambda: KafkaHandler(collector=str(sock), topic=topic,
                                                            queue_max_records=calls + 1),
        "KafkaHandler(bootstrap_servers=...)": lambda: KafkaHandler(bootstrap, topic, queue_max_records=calls + 1),
    }
    times: dict[str, list[float]] = {name: [] for name in makers}
    ratios: dict[str, list[float]] = {name: [] for name in makers}
    for round_ in range(rounds):
        progress(f"per-call round {round_ + 1}/{rounds}")
        this_round = {}
        for name, make in makers.items():
            handler = make()
            log = logging.Logger("bench", logging.INFO)
            log.addHandler(handler)
            log.info("warm up")
            if isinstance(handler, KafkaHandler):
                handler.flush(30)
            started = time.perf_counter()
            for i in range(calls):
                log.info("request %d done", i, extra={"seq": i, "path": "/api/items"})
            this_round[name] = (time.perf_counter() - started) / calls * 1e6
            if isinstance(handler, KafkaHandler):
                handler.flush(60)
            handler.close()
            times[name].append(this_round[name])
        for name in makers:
            ratios[name].append(this_round[name] / this_round["logging.FileHandler"])
    rows = []
    for name in makers:
        values = times[name]
        rows.append([name, f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})",
                     f"{statistics.median(ratios[name]):.2f}x"])
    return rows


CELERY_APP = """
import logging, os
from pathlib import Path
from celery import Celery
from celery.signals import setup_logging

DATA = Path(os.environ["BENCH_DATA"])
for folder in ("queue", "control", "results"):
    (DATA / folder).mkdir(parents=True, exist_ok=True)
app = Celery("bench_app")
app.conf.update(broker_url="filesystem://",
                broker_transport_options={"data_folder_in": str(DATA / "queue"), "data_folder_out": str(DATA / "queue"),
                                          "control_folder": str(DATA / "control"), "polling_interval": 0.05},
                result_backend=f"file://{DATA / 'results'}", broker_connection_retry_on_startup=True)

@setup_logging.connect
def configure(loglevel=None, **kwargs):
    mode = os.environ["BENCH_MODE"]
    handlers = []
    if mode == "producer":
        from kafkalog import KafkaHandler
        handlers.append(KafkaHandler(os.environ["BENCH_BOOTSTRAP"], os.environ["BENCH_TOPIC"]))
    elif mode == "collector":
        from kafkalog import KafkaHandler
        handlers.append(KafkaHandler(collector=os.environ["BENCH_SOCKET"], topic=os.environ["BENCH_TOPIC"]))
    else:  # without kafkalog: the records go to a file, as they would without it
        handlers.append(logging.FileHandler(DATA / "tasks.log"))
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True)

log = logging.getLogger("tasks")

@app.task
def work(seq):
    log.info("task %d", seq, extra={"seq": seq})
    return os.getpid()

if __name__ == "__main__":
    import sys, time
    count = int(sys.argv[1])
    started = time.perf_counter()
    results = [work.delay(seq) for seq in range(count)]
    pids = {r.get(timeout=120) for r in results}
    print(f"{time.perf_counter() - started:.3f} {len(pids)}")
"""


def broker_connections(port: int) -> set[int]:
    """Local ports of the open (established or connecting) TCP connections to the broker's loopback ``port``."""
    remote = f"0100007F:{port:04X}"
    ports = set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            parts = line.split()
            if parts[2] == remote and parts[3] in ("01", "02"):  # ESTABLISHED, SYN_SENT
                ports.add(int(parts[1].split(":")[1], 16))
    return ports


def broker_ports_seen(port: int, stop: threading.Event, seen: set[int]) -> None:
    """Connections to the broker opened while sampling (every 20 ms) until ``stop``; those open before are not
    counted (the collector's own)."""
    before = broker_connections(port)
    while not stop.wait(0.02):
        seen.update(broker_connections(port) - before)


def celery_run(mode: str, bootstrap: str, sock: Path, tasks: int) -> tuple[float, int, int]:
    directory = Path(tempfile.mkdtemp())
    (directory / "bench_app.py").write_text(textwrap.dedent(CELERY_APP))
    topic = f"bench-celery-{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, topic)
    env = {**os.environ, "PYTHONPATH": f"{directory}{os.pathsep}{ROOT}", "BENCH_DATA": str(directory / "data"),
           "BENCH_MODE": mode, "BENCH_BOOTSTRAP": bootstrap, "BENCH_TOPIC": topic, "BENCH_SOCKET": str(sock)}
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "bench_app", "worker", "--pool", "prefork",
                               "--concurrency", "8", "--max-tasks-per-child", "10", "--loglevel", "INFO",
                               "--without-mingle", "--without-gossip", "--without-heartbeat"],
                              cwd=directory, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    time.sleep(5)  # the worker and its first children are up
    seen: set[int] = set()
    stop = threading.Event()
    port = int(bootstrap.rsplit(":", 1)[1])
    sampler = threading.Thread(target=broker_ports_seen, args=(port, stop, seen), daemon=True)
    sampler.start()
    try:
        out = subprocess.run([sys.executable, "bench_app.py", str(tasks)], cwd=directory, env=env,
                             capture_output=True, text=True, timeout=600, check=False)
        if out.returncode:
            raise RuntimeError(f"celery run ({mode}) failed:\n{out.stderr[-3000:]}")
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
        stop.set()
        sampler.join()
    wall, children = out.stdout.split()
    return float(wall), int(children), len(seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--bootstrap")
    parser.add_argument("--only", choices=("calls", "celery"), help="run one part only")
    args = parser.parse_args()
    calls, rounds, tasks, celery_rounds = (5_000, 3, 100, 1) if args.quick else (20_000, 5, 200, 3)
    with contextlib.ExitStack() as stack:
        bootstrap = args.bootstrap or stack.enter_context(LocalKafka()).bootstrap
        directory = Path(tempfile.mkdtemp())
        sock = stack.enter_context(running_collector(bootstrap, directory))
        topic = f"bench-collector-{uuid.uuid4().hex[:8]}"
        create_topic(bootstrap, topic)
        print(f"code {code_version()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
        if args.only != "celery":
            print(f"\n1. µs per logging call, {calls:,} calls x {rounds} rounds, median (min-max), ratio to "
                  "FileHandler")
            print(table(["handler", "µs per call", "vs FileHandler"], per_call(bootstrap, sock, topic, calls, rounds)))
        if args.only == "calls":
            return
        print(f"\n2. Celery prefork -c 8 --max-tasks-per-child 10, {tasks} tasks ({celery_rounds} round(s), "
              "interleaved; median wall time)")
        results: dict[str, list[tuple[float, int, int]]] = {"none": [], "producer": [], "collector": []}
        for round_ in range(celery_rounds):
            for mode, runs in results.items():
                progress(f"celery {mode}, round {round_ + 1}/{celery_rounds}")
                for _attempt in range(2):  # a task lost by the filesystem message broker: say so, run again
                    try:
                        runs.append(celery_run(mode, bootstrap, sock, tasks))
                        break
                    except RuntimeError as exc:
                        progress(str(exc).splitlines()[0] + " (" + str(exc).splitlines()[-1] + ")")
        base = statistics.median(r[0] for r in results["none"]) if results["none"] else float("nan")
        rows = []
        for mode, label in (("none", "without kafkalog (FileHandler)"), ("producer", "a producer per process"),
                            ("collector", "handing over to the collector")):
            if not results[mode]:
                rows.append([label, "failed", "", "", ""])
                continue
            wall = statistics.median(r[0] for r in results[mode])
            rows.append([label, f"{wall:.2f} s", f"{wall / base:.2f}x", str(max(r[1] for r in results[mode])),
                         str(max(r[2] for r in results[mode]))])
        print(table(["Celery run", "wall time", "vs without", "pool processes", "broker connections opened"],
                    rows))
        print("(connections open before the run, such as the collector's own, are not counted in the last column)")


if __name__ == "__main__":
    main()
