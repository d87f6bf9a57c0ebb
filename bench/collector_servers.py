"""gunicorn and uvicorn workers logging each request: a producer per worker process against one ``kafkalog collect``.

    python bench/collector_servers.py [--quick] [--requests N] [--rounds R] [--bootstrap HOST:PORT]

Servers: gunicorn ``-w 16`` (sync workers, ``--preload``) and uvicorn ``--workers 8``, each serving an endpoint that
logs one record per request (``log.info`` with the request's sequence number). A load client in this process
sends ``--requests`` requests from 16 threads (a new connection every 10 requests). Modes, interleaved in each round:

- ``none``: a ``logging.FileHandler`` (the baseline: what serving and logging cost without kafkalog);
- ``producer``: ``KafkaHandler(bootstrap_servers=...)`` in each worker (kafka-python, a producer per process);
- ``collector``: ``KafkaHandler(collector=...)`` handing over to one ``kafkalog collect`` started before.

Measured per run: the broker connections opened from the host while the server ran (distinct local ports to the
broker seen in /proc/net/tcp, sampled every 20 ms; the collector's own connections, open before, are not
counted), CPU per record in the server's processes (user + system of the master and its workers from /proc, from
the first request to the last record read back), total CPU per record on the host (those plus the collector;
the broker and the load client left out), and records/s from the first request until every record was read back
from the topic (each sequence number once, checked). Nothing here is asserted; the numbers go to
docs/collector.md and docs/performance.md.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
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
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from _common import code_version, progress, start_collect, table

from kafkalog.testing import LocalKafka, create_topic
from kafkalog.testing.reader import count_records, read_records
from kafkalog.transports.collector import CollectorTransport
from kafkalog.typing import Message

ROOT = Path(__file__).resolve().parents[1]
CLOCK = os.sysconf("SC_CLK_TCK")
MODES = ("none", "producer", "collector")

HANDLER = """
import logging, os
log = logging.getLogger("web")
log.propagate = False
log.setLevel(logging.INFO)
mode = os.environ["BENCH_MODE"]
if mode == "producer":
    from kafkalog import KafkaHandler
    log.addHandler(KafkaHandler(os.environ["BENCH_BOOTSTRAP"], os.environ["BENCH_TOPIC"], transport="kafka-python"))
elif mode == "collector":
    from kafkalog import KafkaHandler
    log.addHandler(KafkaHandler(collector=os.environ["BENCH_SOCKET"], topic=os.environ["BENCH_TOPIC"]))
else:
    log.addHandler(logging.FileHandler(os.path.join(os.environ["BENCH_DIR"], f"app-{os.getpid()}.log")))
"""

WSGI_APP = HANDLER + """
def app(environ, start_response):
    query = environ.get("QUERY_STRING", "")
    if query.startswith("seq="):
        log.info("request done", extra={"seq": int(query[4:]), "path": environ["PATH_INFO"]})
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
"""

ASGI_APP = HANDLER + """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    query = scope.get("query_string", b"").decode()
    if query.startswith("seq="):
        log.info("request done", extra={"seq": int(query[4:]), "path": scope["path"]})
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK  # utime, stime


def _descendants(root: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
                parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(parents.get(pid, []))
    return found


def _own_sockets() -> set[str]:
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    return inodes


def broker_connections(port: int) -> set[int]:
    """Local ports of open (established or connecting) TCP connections to the broker's loopback ``port``, but
    this process's own (the bench's reader)."""
    remote = f"0100007F:{port:04X}"
    ports = set()
    with contextlib.suppress(OSError):
        table = Path("/proc/net/tcp").read_text().splitlines()[1:]
        own = _own_sockets()
        for line in table:
            parts = line.split()
            if parts[2] == remote and parts[3] in ("01", "02") and parts[9] not in own:  # ESTABLISHED, SYN_SENT
                ports.add(int(parts[1].split(":")[1], 16))
    return ports


@contextlib.contextmanager
def collector_process(bootstrap: str, directory: Path) -> Iterator[tuple[Path, int]]:
    """``kafkalog collect`` (kafka-python, as the producer mode's workers) on a socket in ``directory``."""
    sock = directory / "collector.sock"
    proc = start_collect(bootstrap, sock, "--transport", "kafka-python")
    warm_topic = f"bench-warmup-{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, warm_topic)
    transport = CollectorTransport(str(sock))  # its producer connected before the runs: its connections not counted
    transport.send([Message(warm_topic, None, b'{"warm": 1}', 0)], 30.0)
    transport.close(1.0)
    deadline = time.monotonic() + 60
    while count_records(bootstrap, warm_topic) < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    try:
        yield sock, proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


@dataclass
class Run:
    connections: int
    worker_cpu_us: float  # per record, the server's processes
    host_cpu_us: float  # per record, the server's processes and the collector
    rate: float  # records/s from the first request to the last record read back
    each_once: bool


def _load(port: int, first: int, count: int, threads: int) -> None:
    def worker(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for done, seq in enumerate(range(first + index, first + count, threads)):
            if done and done % 10 == 0:  # a new connection now and then: the kernel spreads them over the workers
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            for attempt in range(5):
                try:
                    conn.request("GET", f"/log?seq={seq}")
                    response = conn.getresponse()
                    response.read()
                    break
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                    if attempt == 4:
                        raise
        conn.close()

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(worker, range(threads)))


def _warm(port: int, workers: int) -> None:
    """Answered, and each worker has served a few requests (its handler made, its imports done)."""
    deadline = time.monotonic() + 120
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/warmup")
            conn.getresponse().read()
            conn.close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not answer") from None
            time.sleep(0.2)

    def hit(_: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for _ in range(5):
            conn.request("GET", "/warmup")
            conn.getresponse().read()
        conn.close()

    with ThreadPoolExecutor(workers * 2) as pool:
        list(pool.map(hit, range(workers * 4)))


def server_run(server: str, mode: str, bootstrap: str, sock: Path, *, collector_pid: int, requests: int) -> Run:
    directory = Path(tempfile.mkdtemp(prefix="kafkalog-bench-"))
    topic = f"bench-{server}-{mode}-{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, topic)
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": f"{directory}{os.pathsep}{ROOT}", "BENCH_MODE": mode,
           "BENCH_BOOTSTRAP": bootstrap, "BENCH_TOPIC": topic, "BENCH_SOCKET": str(sock), "BENCH_DIR": str(directory)}
    if server == "gunicorn":
        (directory / "bench_app.py").write_text(textwrap.dedent(WSGI_APP))
        args = [sys.executable, "-m", "gunicorn", "--preload", "-w", "16", "-b", f"127.0.0.1:{port}",
                "--graceful-timeout", "20", "--log-level", "warning", "bench_app:app"]
        workers = 16
    else:
        (directory / "bench_app.py").write_text(textwrap.dedent(ASGI_APP))
        args = [sys.executable, "-m", "uvicorn", "bench_app:app", "--workers", "8", "--host", "127.0.0.1",
                "--port", str(port), "--log-level", "warning", "--no-access-log"]
        workers = 8
    broker_port = int(bootstrap.rsplit(":", 1)[1])
    before = broker_connections(broker_port)
    seen: set[int] = set()
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.02):
            seen.update(broker_connections(broker_port) - before)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    proc = subprocess.Popen(args, cwd=directory, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        _warm(port, workers)
        pids = _descendants(proc.pid)
        cpu_before = {pid: _cpu_seconds(pid) for pid in pids}
        collector_before = _cpu_seconds(collector_pid) if mode == "collector" else 0.0
        started = time.perf_counter()
        _load(port, 0, requests, 16)
        if mode == "none":
            elapsed = time.perf_counter() - started
        else:
            deadline = time.monotonic() + 300
            while count_records(bootstrap, topic, timeout=10) < requests:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{server}/{mode}: records did not all arrive")
                time.sleep(0.1)
            elapsed = time.perf_counter() - started
        pids = [pid for pid in _descendants(proc.pid) if pid in cpu_before]
        worker_cpu = sum(_cpu_seconds(pid) - cpu_before[pid] for pid in pids)
        collector_cpu = _cpu_seconds(collector_pid) - collector_before if mode == "collector" else 0.0
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        stop.set()
        sampler.join()
    each_once = True
    if mode != "none":
        seqs = sorted(r.json()["fields"]["seq"] for r in read_records(bootstrap, topic, requests, timeout=60))
        each_once = seqs == list(range(requests))
    return Run(connections=len(seen), worker_cpu_us=worker_cpu / requests * 1e6,
               host_cpu_us=(worker_cpu + collector_cpu) / requests * 1e6, rate=requests / elapsed,
               each_once=each_once)


def _span(values: list[float], fmt: str = "{:.0f}") -> str:
    middle = fmt.format(statistics.median(values))
    return middle if len(values) == 1 else f"{middle} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 requests, one round (to try the bench)")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--only", choices=("gunicorn", "uvicorn"))
    parser.add_argument("--bootstrap")
    args = parser.parse_args()
    requests, rounds = (200, 1) if args.quick else (args.requests, args.rounds)
    servers = [args.only] if args.only else ["gunicorn", "uvicorn"]
    with contextlib.ExitStack() as stack:
        bootstrap = args.bootstrap or stack.enter_context(LocalKafka()).bootstrap
        sock, collector_pid = stack.enter_context(collector_process(bootstrap, Path(tempfile.mkdtemp())))
        print(f"code {code_version()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        for server in servers:
            runs: dict[str, list[Run]] = {mode: [] for mode in MODES}
            for round_ in range(rounds):
                for mode in MODES:
                    progress(f"{server} {mode}, round {round_ + 1}/{rounds}")
                    runs[mode].append(server_run(server, mode, bootstrap, sock, collector_pid=collector_pid,
                                                                requests=requests))
            label = "gunicorn --preload -w 16 (sync)" if server == "gunicorn" else "uvicorn --workers 8"
            print(f"\n{label}, {requests:,} requests from 16 threads, one record each; {rounds} round(s), median "
                  "(min-max); load average now " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
            base = statistics.median(r.worker_cpu_us for r in runs["none"])
            rows = []
            for mode in MODES:
                got = runs[mode]
                rows.append([mode, _span([float(r.connections) for r in got]),
                             _span([r.worker_cpu_us for r in got]),
                             f"{statistics.median(r.worker_cpu_us for r in got) / base:.2f}x",
                             _span([r.host_cpu_us for r in got]), _span([r.rate for r in got]),
                             "n/a" if mode == "none" else ("yes" if all(r.each_once for r in got) else "NO")])
            print(table(["mode", "broker connections opened", "worker CPU µs/record", "vs none",
                         "host CPU µs/record", "records/s to ack", "each once"], rows))
        print("(none: records/s is requests answered; the collector's own broker connections, opened before, are "
              "not counted; host CPU leaves out the broker and the load client)")


if __name__ == "__main__":
    main()
