"""The local collector: what handing records over costs the application, and what it saves a pre-fork server.

    python bench/collector.py [--quick] [--bootstrap HOST:PORT] [--only calls|celery|sockethandler]

1. µs per logging call on the app thread, interleaved rounds in one process: logging.FileHandler (baseline),
   logging.handlers.QueueHandler (a SimpleQueue, nothing consuming: the cheapest possible "async" handler),
   KafkaHandler(collector=...) handing over to a running ``kafkalog collect``, and KafkaHandler with its own
   producer (broker up). Medians with min-max over the rounds; ratios to FileHandler from the same round.
2. Celery prefork -c 8 --max-tasks-per-child 10, 200 tasks (20 recycled children): wall time from queueing to the
   last result, without kafkalog, with a producer per process, and handing over to one collector; broker
   connections opened from the host during the run (distinct local ports to the broker seen in /proc/net/tcp).
3. ``--only sockethandler``: the stdlib cookbook's logging.handlers.SocketHandler and its listener process
   (bench/_socket_listener.py) against handing over to ``kafkalog collect``: µs per logging call against
   FileHandler in the same rounds, and what arrives when the listener (or the collector) is restarted in the middle
   of a steady stream (counted by sequence number: arrived, counted as dropped by the sender, lost silently).

Nothing here is asserted; numbers go to docs/performance.md and docs/collector.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import logging.handlers
import os
import queue
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from _common import code_version, progress, start_collect, table

from kafkalog import KafkaHandler
from kafkalog.testing import LocalKafka, create_topic, read_records
from kafkalog.transports.collector import query_stats

ROOT = Path(__file__).resolve().parents[1]
LISTENER = Path(__file__).with_name("_socket_listener.py")


@contextlib.contextmanager
def running_collector(bootstrap: str, directory: Path) -> Iterator[Path]:
    sock = directory / "collector.sock"
    proc = start_collect(bootstrap, sock)
    try:
        yield sock
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


def call_makers(bootstrap: str, sock: Path, topic: str, calls: int) -> dict[str, Callable[[], logging.Handler]]:
    directory = Path(tempfile.mkdtemp())
    return {
        "logging.FileHandler": lambda: logging.FileHandler(directory / "app.log"),
        "logging.handlers.QueueHandler": lambda: logging.handlers.QueueHandler(queue.SimpleQueue()),
        "KafkaHandler(collector=...)": lambda: KafkaHandler(collector=str(sock), topic=topic,
                                                            queue_max_records=calls + 1),
        "KafkaHandler(bootstrap_servers=...)": lambda: KafkaHandler(bootstrap, topic, queue_max_records=calls + 1),
    }


def per_call(makers: dict[str, Callable[[], logging.Handler]], calls: int, rounds: int) -> list[list[str]]:
    """Interleaved rounds of ``calls`` logging calls per handler; the first maker is the baseline."""
    base = next(iter(makers))
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
            time.sleep(0.2)  # a SocketHandler's listener catches up before the next handler's round
            times[name].append(this_round[name])
        for name in makers:
            ratios[name].append(this_round[name] / this_round[base])
    rows = []
    for name in makers:
        values = times[name]
        rows.append([name, f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})",
                     f"{statistics.median(ratios[name]):.2f}x"])
    return rows


CELERY_APP = """
import logging, os, time, uuid
from pathlib import Path
from celery import Celery
from celery.signals import setup_logging
from kombu.transport import filesystem


def _put_whole(self, queue, payload, **kwargs):
    # kombu's filesystem transport (5.7) creates a message file under its final name and writes it after: a worker
    # reading the queue meanwhile reads it empty and exits (JSONDecodeError), which stopped loaded runs. Written
    # under a hidden name and renamed, a message appears whole.
    name = f"{int(round(time.monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
    hidden = os.path.join(self.data_folder_out, f".{name}.part")
    with open(hidden, "wb") as f:
        f.write(filesystem.str_to_bytes(filesystem.dumps(payload)))
    os.rename(hidden, os.path.join(self.data_folder_out, name))


filesystem.Channel._put = _put_whole

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


def cpu_seconds(pid: int | None) -> float:
    """User and system CPU a process has used so far (0 if unknown)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def celery_run(mode: str, bootstrap: str, sock: Path, tasks: int,
               others: tuple[int | None, int | None] = (None, None)) -> tuple[float, int, int, float, float]:
    """(wall time, pool processes, broker connections opened, CPU seconds the collector and the broker used
    meanwhile): ``others`` are their pids (the broker runs on this host too, and shares its CPUs)."""
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
    cpu_before = [cpu_seconds(pid) for pid in others]
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
    collector_cpu, broker_cpu = (cpu_seconds(pid) - before for pid, before in zip(others, cpu_before, strict=True))
    wall, children = out.stdout.split()
    return float(wall), int(children), len(seen), collector_cpu, broker_cpu


# --- 3. the stdlib cookbook's SocketHandler and a listener process ----------------------------------------------

SENDER = """
import json, logging, logging.handlers, sys, time
mode, target, topic, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
if mode == "socket":
    handler = logging.handlers.SocketHandler("127.0.0.1", int(target))
else:
    from kafkalog import KafkaHandler
    handler = KafkaHandler(collector=target, topic=topic, close_timeout=30)
log = logging.getLogger("app")
log.setLevel(logging.INFO)
log.propagate = False
log.addHandler(handler)
for i in range(count):
    log.info("record %d", i, extra={"seq": i})
    if i % 10 == 9:
        time.sleep(0.002)  # about 4,000 records/s: a steady stream the restart lands in the middle of
handler.close()
stats = handler.stats() if mode != "socket" else None
print(json.dumps({"dropped": dict(stats.dropped) if stats else {}, "delivered": stats.delivered if stats else None}))
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_listener(port: int, output: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, LISTENER, str(port), str(output)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "listening"
    return proc


def start_collector(bootstrap: str, sock: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "kafkalog", "collect", "--socket", str(sock),
                             "--bootstrap-servers", bootstrap], stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    wait_for(lambda: stats_or_none(sock) is not None, "the collector did not start")
    return proc


def stats_or_none(sock: Path) -> dict[str, object] | None:
    try:
        return query_stats(str(sock), timeout=1.0)
    except (OSError, ValueError):
        return None


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(what)
        time.sleep(0.05)


def restarted_mid_stream(mode: str, bootstrap: str, count: int, gap: float) -> dict[str, int]:
    """One sender logs ``count`` records (seq 0..count-1) while its listener or collector is stopped (SIGTERM)
    a quarter of the way in and started again ``gap`` seconds later; what arrived, by sequence number."""
    directory = Path(tempfile.mkdtemp())
    topic = f"bench-restart-{uuid.uuid4().hex[:8]}"
    received = directory / "received.txt"
    port, sock = free_port(), directory / "collector.sock"
    if mode == "socket":
        target = str(port)
        start: Callable[[], subprocess.Popen[Any]] = lambda: start_listener(port, received)  # noqa: E731
        progress_of: Callable[[], int] = lambda: len(received.read_text().splitlines())  # noqa: E731
    else:
        create_topic(bootstrap, topic)
        target = str(sock)
        start = lambda: start_collector(bootstrap, sock)  # noqa: E731
        progress_of = lambda: int((stats_or_none(sock) or {}).get("records", 0))  # type: ignore[call-overload]  # noqa: E731
    server = start()
    sender = subprocess.Popen([sys.executable, "-c", SENDER, mode, target, topic, str(count)], stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        wait_for(lambda: progress_of() >= count // 4, "the sender did not start")
        server.send_signal(signal.SIGTERM)
        server.wait(60)
        time.sleep(gap)
        server = start()
        out, _ = sender.communicate(timeout=600)
        outcome = json.loads(out.strip().splitlines()[-1])
    finally:
        if sender.poll() is None:
            sender.kill()
        server.send_signal(signal.SIGTERM)
        server.wait(60)
    if mode == "socket":
        seqs = [int(line) for line in received.read_text().splitlines()]
    else:
        seqs = [record.json()["fields"]["seq"] for record in read_records(bootstrap, topic, count, timeout=120)]
    unique = len(set(seqs))
    counted = sum(outcome["dropped"].values())
    return {"arrived": unique, "duplicates": len(seqs) - unique, "counted": counted,
            "lost silently": count - unique - counted}


def socket_handler_comparison(bootstrap: str, sock: Path, topic: str, *, calls: int, rounds: int, count: int) -> None:
    directory = Path(tempfile.mkdtemp())
    port = free_port()
    listener = start_listener(port, directory / "per-call.txt")
    try:
        makers: dict[str, Callable[[], logging.Handler]] = {
            "logging.FileHandler": lambda: logging.FileHandler(directory / "app.log"),
            "logging.handlers.SocketHandler (cookbook listener)":
                lambda: logging.handlers.SocketHandler("127.0.0.1", port),
            "KafkaHandler(collector=...)": lambda: KafkaHandler(collector=str(sock), topic=topic,
                                                                queue_max_records=calls + 1),
        }
        print(f"\n3a. µs per logging call, {calls:,} calls x {rounds} rounds, median (min-max), ratio to FileHandler")
        print(table(["handler", "µs per call", "vs FileHandler"], per_call(makers, calls, rounds)))
    finally:
        listener.send_signal(signal.SIGTERM)
        listener.wait(60)
    print(f"\n3b. {count:,} records at about 4,000/s; the listener (or the collector) stopped with SIGTERM a quarter "
          "of the way in and started again 1 s later; what arrived, by sequence number")
    rows = []
    for mode, label in (("socket", "SocketHandler + cookbook listener"), ("collector", "KafkaHandler(collector=...) "
                                                                                      "+ kafkalog collect")):
        progress(f"restart mid-stream: {label}")
        result = restarted_mid_stream(mode, bootstrap, count, 1.0)
        rows.append([label, f"{result['arrived']:,}", f"{result['counted']:,}", f"{result['lost silently']:,}",
                     f"{result['duplicates']:,}"])
    print(table(["sender", "arrived", "counted as dropped by the sender", "lost silently", "duplicates"], rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--bootstrap")
    parser.add_argument("--broker-pid", type=int, help="with --bootstrap: its process, to report its CPU")
    parser.add_argument("--only", choices=("calls", "celery", "sockethandler"), help="run one part only")
    args = parser.parse_args()
    calls, rounds, tasks, celery_rounds = (5_000, 3, 100, 1) if args.quick else (20_000, 5, 200, 3)
    with contextlib.ExitStack() as stack:
        broker_pid = args.broker_pid
        if not args.bootstrap:
            broker = stack.enter_context(LocalKafka())
            broker_pid = broker.pid
        bootstrap = args.bootstrap or broker.bootstrap
        directory = Path(tempfile.mkdtemp())
        sock = stack.enter_context(running_collector(bootstrap, directory))
        topic = f"bench-collector-{uuid.uuid4().hex[:8]}"
        create_topic(bootstrap, topic)
        print(f"code {code_version()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
        if args.only == "sockethandler":
            socket_handler_comparison(bootstrap, sock, topic, calls=calls, rounds=rounds,
                                      count=4_000 if args.quick else 20_000)
            return
        if args.only != "celery":
            print(f"\n1. µs per logging call, {calls:,} calls x {rounds} rounds, median (min-max), ratio to "
                  "FileHandler")
            makers = call_makers(bootstrap, sock, topic, calls)
            print(table(["handler", "µs per call", "vs FileHandler"], per_call(makers, calls, rounds)))
        if args.only == "calls":
            return
        print(f"\n2. Celery prefork -c 8 --max-tasks-per-child 10, {tasks} tasks ({celery_rounds} round(s), "
              "interleaved; median wall time)")
        others = (int(query_stats(str(sock))["pid"]), broker_pid)  # type: ignore[call-overload]
        results: dict[str, list[tuple[float, int, int, float, float]]] = {"none": [], "producer": [], "collector": []}
        for round_ in range(celery_rounds):
            for mode, runs in results.items():
                progress(f"celery {mode}, round {round_ + 1}/{celery_rounds}")
                for _attempt in range(2):  # a task lost by the filesystem message broker: say so, run again
                    try:
                        runs.append(celery_run(mode, bootstrap, sock, tasks, others))
                        break
                    except RuntimeError as exc:
                        progress(str(exc).splitlines()[0] + " (" + str(exc).splitlines()[-1] + ")")
        base = statistics.median(r[0] for r in results["none"]) if results["none"] else float("nan")
        rows = []
        for mode, label in (("none", "without kafkalog (FileHandler)"), ("producer", "a producer per process"),
                            ("collector", "handing over to the collector")):
            if not results[mode]:
                rows.append([label, "failed", "", "", "", ""])
                continue
            wall = statistics.median(r[0] for r in results[mode])
            rows.append([label, f"{wall:.2f} s", f"{wall / base:.2f}x", str(max(r[1] for r in results[mode])),
                         str(max(r[2] for r in results[mode])),
                         f"{statistics.median(r[3] for r in results[mode]):.2f} s, "
                         f"{statistics.median(r[4] for r in results[mode]):.2f} s"])
        print(table(["Celery run", "wall time", "vs without", "pool processes", "broker connections opened",
                     "CPU of the collector, of the broker (same host)"],
                    rows))
        print("(connections open before the run, such as the collector's own, are not counted as opened)")


if __name__ == "__main__":
    main()
