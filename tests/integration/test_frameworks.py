"""The framework examples under examples/, run the way each framework runs them, against the real broker.

Each test starts an example as its users would (a real ``uvicorn --workers 2``, a real celery prefork worker,
``manage.py runserver`` with its autoreloader, real pools), makes it log a known number of records numbered in
``fields.seq``, stops it the way its operators do (SIGTERM, Ctrl-C, ``with Pool``), then reads the topic back
and checks that every number arrived exactly once and that nothing was printed as a traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kafka_util import check_sequence, count_records, read_records
from support import ROOT, unused_port

from kafkalog.testing import create_topic

pytestmark = [pytest.mark.integration, pytest.mark.slow]
EXAMPLES = ROOT / "examples"
SERVER_START = 60.0  # generous deadlines: the machine may be busy; passing tests never wait this long


def _needs(*modules: str) -> None:
    """Skip (with the reason) when a framework is not installed; ``make test`` installs them all."""
    for module in modules:
        pytest.importorskip(module, reason=f"{module} is not installed (pip install -e '.[dev]')")


def _env(bootstrap: str, topic: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "KAFKA_BOOTSTRAP": bootstrap, "KAFKA_TOPIC": topic,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
            **extra}


def _events(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Every record of ``topic`` as JSON, in (partition, offset) order."""
    total = count_records(bootstrap, topic, timeout=10)
    return [record.json() for record in read_records(bootstrap, topic, total, timeout=30)]


def _seq_events(events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if isinstance(e.get("fields"), dict) and "seq" in e["fields"]]


def _assert_each_seq_once(events: Sequence[dict[str, Any]], expected: int) -> None:
    check = check_sequence((e["fields"]["seq"] for e in _seq_events(events)), expected)
    assert not check.lost and not check.duplicates, check.summary()


def _assert_clean(stderr: str) -> None:
    """No traceback, no 'Exception ignored', no kafkalog report of records left behind."""
    for marker in ("Traceback", "Exception ignored", "undelivered"):
        assert marker not in stderr, f"{marker!r} on stderr:\n{stderr[-6000:]}"


def _poll(what: str, probe: Callable[[], Any], timeout: float = SERVER_START) -> Any:
    """``probe()``'s first truthy result, polled until ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout:.0f} s")
        time.sleep(0.1)


@dataclass(frozen=True)
class _Finished:
    """How a program that ran to its end ended."""

    returncode: int
    stdout: str
    stderr: str


def _run(args: Sequence[str], *, env: dict[str, str], cwd: Path = ROOT, timeout: float = 60) -> _Finished:
    """Run a program to its end in its own process group; if it hangs, kill the whole group and fail.

    A hung pool leaves children blocked on a lock their dead parent held: killing the group leaves no strays.
    """
    proc = subprocess.Popen(list(args), cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"{' '.join(args[1:])} hung for {timeout:.0f} s (killed):\n{stderr[-6000:]}")
    return _Finished(proc.returncode, stdout, stderr)


class _Server:
    """A server process whose output goes to files (a full pipe can never stall it), stopped by a signal."""

    def __init__(self, args: Sequence[str], *, cwd: Path, env: dict[str, str], logs: Path) -> None:
        self.out_path, self.err_path = logs / "stdout.txt", logs / "stderr.txt"
        with self.out_path.open("w") as out, self.err_path.open("w") as err:
            # its own process group: Ctrl-C in a terminal signals the whole group, and so can we
            # PYTHONFAULTHANDLER: a server that does not stop is sent SIGABRT, and every thread's stack is on stderr
            self.proc = subprocess.Popen(list(args), cwd=cwd, env={**env, "PYTHONFAULTHANDLER": "1"}, stdout=out,
                                         stderr=err, text=True, start_new_session=True)

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def wait_for_stderr(self, text: str, count: int = 1) -> None:
        def seen() -> bool:
            assert self.proc.poll() is None, f"exited with {self.proc.returncode}:\n{self.stderr()[-6000:]}"
            return self.stderr().count(text) >= count

        _poll(f"{count} x {text!r} on stderr", seen)

    def stop(self, signum: int, *, group: bool = False, timeout: float = 60) -> int:
        """Send ``signum`` (to the whole process group with ``group``) and wait for the exit status."""
        if group:
            os.killpg(self.proc.pid, signum)
        else:
            self.proc.send_signal(signum)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGABRT)  # each process left prints its threads' stacks
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
            pytest.fail(f"still running {timeout:.0f} s after signal {signum}; stacks at SIGABRT:\n"
                        f"{self.stderr()[-12000:]}")

    def kill(self) -> None:
        """Last resort after a failed test: kill what is left of the group."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def _answering(url: str) -> Any:
    try:
        return _get_json(url)
    except (OSError, urllib.error.URLError):
        return None


@pytest.fixture
def servers() -> Iterator[list[_Server]]:
    """Servers started by a test; whatever is still running at its end is killed."""
    started: list[_Server] = []
    yield started
    for server in started:
        server.kill()


class TestPools:
    TASKS = 400

    @pytest.mark.parametrize(("mode", "end"), [
        ("fork-initializer", "close"),
        ("fork-initializer", "with"),
        ("fork-parent", "with"),
        ("fork-parent", "close"),
        ("spawn-initializer", "with"),
        ("spawn-initializer", "close"),
    ])
    def test_every_task_record_arrives_once(self, kafka_bootstrap: str, topic: str, mode: str, end: str) -> None:
        """examples/pools.py: each pool process sends what it logged, however the pool ends and wherever the
        handler was created; no traceback on stderr."""
        proc = _run([sys.executable, str(EXAMPLES / "pools.py"), mode, "--end", end, "--tasks", str(self.TASKS)],
                    env=_env(kafka_bootstrap, topic), timeout=30)  # takes 2-4 s; a hang costs no more than this
        assert proc.returncode == 0, proc.stderr
        _assert_clean(proc.stderr)
        expected = self.TASKS + (1 if mode.endswith("parent") else 0)
        assert f"sent {expected} records" in proc.stdout
        events = _events(kafka_bootstrap, topic)
        _assert_each_seq_once(events, expected)


class TestAsyncio:
    TASKS = 100

    @pytest.mark.parametrize("warnings", [[], ["-W", "error"]], ids=["default", "W-error"])
    def test_hundred_tasks_all_arrive(self, kafka_bootstrap: str, topic: str, warnings: list[str]) -> None:
        """examples/asyncio_app.py: 100 concurrent tasks log, the script just ends; also under ``-W error``
        (importing the Kafka client on the worker thread must not turn a warning into lost records)."""
        proc = _run([sys.executable, *warnings, str(EXAMPLES / "asyncio_app.py"), str(self.TASKS)],
                    env=_env(kafka_bootstrap, topic))
        assert proc.returncode == 0, proc.stderr
        _assert_clean(proc.stderr)
        _assert_each_seq_once(_events(kafka_bootstrap, topic), self.TASKS)


class TestUvicornWorkers:
    REQUESTS = 400

    @pytest.mark.parametrize("stop", ["SIGTERM", "Ctrl-C"])
    def test_requests_and_lifespan_shutdown_of_every_worker_arrive(
            self, kafka_bootstrap: str, topic: str, tmp_path: Path, servers: list[_Server], stop: str) -> None:
        """examples/fastapi_app.py under ``uvicorn --workers 2``, handler made at import; stopped by SIGTERM to
        uvicorn, or by Ctrl-C (SIGINT to the whole process group): every request's record, each worker's
        lifespan shutdown record and uvicorn's last lines arrive once."""
        _needs("fastapi", "uvicorn")
        port = unused_port()
        server = _Server([sys.executable, "-m", "uvicorn", "fastapi_app:app", "--app-dir", str(EXAMPLES),
                          "--workers", "2", "--host", "127.0.0.1", "--port", str(port)],
                         cwd=tmp_path, env=_env(kafka_bootstrap, topic), logs=tmp_path)
        servers.append(server)
        server.wait_for_stderr("Application startup complete.", count=2)
        with ThreadPoolExecutor(8) as pool:
            pids = Counter(pool.map(lambda seq: _get_json(f"http://127.0.0.1:{port}/log/{seq}")["pid"],
                                    range(self.REQUESTS)))
        # SIGTERM (kill, docker stop, systemd, Kubernetes) goes to uvicorn's main process only; Ctrl-C in a
        # terminal sends SIGINT to every process of the foreground group
        status = server.stop(signal.SIGTERM) if stop == "SIGTERM" else server.stop(signal.SIGINT, group=True)
        stderr = server.stderr()
        assert status == 0, stderr[-6000:]
        _assert_clean(stderr)
        events = _events(kafka_bootstrap, topic)
        _assert_each_seq_once(events, self.REQUESTS)
        assert Counter(e["pid"] for e in _seq_events(events)) == pids
        started = sorted(e["pid"] for e in events if e["fields"].get("event") == "startup")
        assert len(set(started)) == 2
        assert sorted(e["pid"] for e in events if e["fields"].get("event") == "shutdown") == started
        assert sorted(e["pid"] for e in events if e["msg"] == "Application shutdown complete.") == started
        # uvicorn's ANSI-coloured copy of its message is console decoration, not a field
        assert not [e for e in events if "color_message" in e["fields"]]


@dataclass(frozen=True)
class _Run:
    """What a framework run left behind: the records in its topic, the server's stderr and exit status."""

    events: list[dict[str, Any]]
    stderr: str
    status: int


CELERY_TASKS = 60
MAX_TASKS_PER_CHILD = 10


@pytest.fixture(scope="class")
def celery_run(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Run]:
    """examples/celery_app.py in a prefork worker of 2 processes recycled every 10 tasks; 60 tasks queued and
    done; then SIGTERM (warm shutdown), as a process manager stops it."""
    _needs("celery")
    tmp_path = tmp_path_factory.mktemp("celery")
    topic = f"t-celery-{uuid.uuid4().hex[:8]}"
    create_topic(kafka_bootstrap, topic)
    env = _env(kafka_bootstrap, topic, CELERY_DATA_DIR=str(tmp_path / "celery-data"))
    # Every task queued before the worker starts. kombu's filesystem transport (5.7), the example's message broker,
    # creates a message file under its final name and writes it after: a worker reading the queue meanwhile reads
    # it empty and exits (JSONDecodeError, "Unrecoverable error"). A real broker has no such race.
    sender = subprocess.Popen([sys.executable, "celery_app.py", str(CELERY_TASKS)], cwd=EXAMPLES, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    queue = tmp_path / "celery-data" / "queue"

    def queued() -> bool:
        assert sender.poll() is None, sender.communicate()[1][-6000:]
        return queue.is_dir() and sum(1 for f in queue.glob("*.msg") if f.stat().st_size) >= CELERY_TASKS

    server = None
    try:
        _poll(f"{CELERY_TASKS} tasks queued", queued)
        server = _Server([sys.executable, "-m", "celery", "-A", "celery_app", "worker", "--pool", "prefork",
                          "--concurrency", "2", "--max-tasks-per-child", str(MAX_TASKS_PER_CHILD),
                          "--loglevel", "INFO", "--without-mingle", "--without-gossip", "--without-heartbeat"],
                         cwd=EXAMPLES, env=env, logs=tmp_path)
        try:
            _, sender_err = sender.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(sender.pid, signal.SIGKILL)
            _, sender_err = sender.communicate()
        assert sender.returncode == 0, sender_err + server.stderr()[-6000:]
        status = server.stop(signal.SIGTERM)
        yield _Run(_events(kafka_bootstrap, topic), server.stderr(), status)
    finally:
        if sender.poll() is None:
            os.killpg(sender.pid, signal.SIGKILL)
            sender.communicate()
        if server is not None:
            server.kill()


class TestCeleryPrefork:
    """examples/celery_app.py: handler on the root logger, set up from Celery's ``setup_logging`` signal."""

    def test_worker_stops_cleanly(self, celery_run: _Run) -> None:
        """Warm shutdown by SIGTERM exits 0, with no traceback and nothing reported undelivered."""
        assert celery_run.status == 0, celery_run.stderr[-6000:]
        _assert_clean(celery_run.stderr)

    def test_every_task_record_arrives_once(self, celery_run: _Run) -> None:
        """Each task's record arrives once, including the last ones before each pool process is recycled."""
        _assert_each_seq_once(celery_run.events, CELERY_TASKS)

    def test_records_come_from_every_pool_process(self, celery_run: _Run) -> None:
        """At least 6 pool processes (60 tasks, 10 per process) sent records, none more than 10."""
        per_process = Counter(e["pid"] for e in _seq_events(celery_run.events))
        assert len(per_process) >= CELERY_TASKS // MAX_TASKS_PER_CHILD
        assert max(per_process.values()) <= MAX_TASKS_PER_CHILD

    def test_worker_lines_reach_kafka_through_the_root_logger(self, celery_run: _Run) -> None:
        """Celery did not remove the root logger's handler: its own "ready." line was shipped."""
        assert any(e["msg"].endswith(" ready.") and e["logger"].startswith("celery") for e in celery_run.events)

    def test_console_shows_no_kafka_client_lines(self, celery_run: _Run) -> None:
        """kafka-python's own INFO lines (connections, producer ids) stay off the worker's console."""
        noise = [line for line in celery_run.stderr.splitlines() if "] kafka." in line or "] kafka:" in line]
        assert not noise, "\n".join(noise[:20])


class TestDjangoRunserver:
    REQUESTS = 40

    def test_records_arrive_across_a_reload(
            self, kafka_bootstrap: str, topic: str, tmp_path: Path, servers: list[_Server]) -> None:
        """examples/django_site under ``manage.py runserver`` (autoreload, LOGGING run by dictConfig more than
        once): the site answers, half the records before and half after a code change reloads it; Ctrl-C; every
        record arrives once and nothing is reported undelivered. (No start-time assert: a start under load is no
        promise of kafkalog's; that building the handler never waits for the broker is tested without Django.)"""
        _needs("django")
        site = tmp_path / "django_site"
        shutil.copytree(EXAMPLES / "django_site", site)  # the test edits a file to make the reloader reload
        port = unused_port()
        server = _Server([sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}"], cwd=site,
                         env=_env(kafka_bootstrap, topic), logs=tmp_path)
        servers.append(server)
        url = f"http://127.0.0.1:{port}"
        first_pid = _poll("runserver to answer", lambda: _answering(f"{url}/pid/"))["pid"]
        half = self.REQUESTS // 2
        for seq in range(half):
            assert _get_json(f"{url}/log/{seq}/")["pid"] == first_pid

        urls = site / "kafkasite" / "urls.py"
        urls.write_text(urls.read_text() + "\n# edited by the test: the autoreloader restarts the server\n")
        reloaded = time.monotonic()
        touched = [reloaded]

        def reloaded_server() -> Any:
            """The new server's answer. Django's reloader takes a file it sees for the first time as it is: if
            its first look at urls.py came after the edit (a busy machine delays its 1 s tick), that edit never
            reloads. So while the old server still answers, the file is touched again until one is seen."""
            answer = _answering(f"{url}/pid/")
            if answer and answer["pid"] != first_pid:
                return answer
            if answer and time.monotonic() - touched[-1] > 1.5:
                touched.append(time.monotonic())
                os.utime(urls)
            return None

        second = _poll("the reloaded server", reloaded_server)
        for seq in range(half, self.REQUESTS):
            assert _get_json(f"{url}/log/{seq}/")["pid"] == second["pid"]

        # Ctrl-C: runserver's reloader gives the serving process 0.25 s before it kills it (subprocess.run),
        # too short to promise a drain; wait until this process's records are in (see docs/recipes.md).
        _poll("the records logged after the reload",
              lambda: len(_seq_events(_events(kafka_bootstrap, topic))) >= self.REQUESTS, timeout=30)
        server.stop(signal.SIGINT, group=True)
        stderr = server.stderr()
        _assert_clean(stderr)
        events = _events(kafka_bootstrap, topic)
        _assert_each_seq_once(events, self.REQUESTS)
        assert Counter(e["pid"] for e in _seq_events(events)) == {first_pid: half, second["pid"]: half}

    def test_noreload_ctrl_c_drains_what_was_just_logged(self, kafka_bootstrap: str, topic: str, tmp_path: Path,
                                                         servers: list[_Server]) -> None:
        """``runserver --noreload``: Ctrl-C right after the last request ends the process normally, and the exit
        hook sends everything (the way to keep the last records that docs/recipes.md gives)."""
        _needs("django")
        port = unused_port()
        server = _Server([sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
                         cwd=EXAMPLES / "django_site", env=_env(kafka_bootstrap, topic), logs=tmp_path)
        servers.append(server)
        url = f"http://127.0.0.1:{port}"
        _poll("runserver to answer", lambda: _answering(f"{url}/pid/"))
        for seq in range(self.REQUESTS):
            _get_json(f"{url}/log/{seq}/")
        server.stop(signal.SIGINT, group=True)
        _assert_clean(server.stderr())
        _assert_each_seq_once(_events(kafka_bootstrap, topic), self.REQUESTS)
