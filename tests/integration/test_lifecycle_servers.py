"""App servers and task workers against the real broker (issue 9): uvicorn with workers (handler created inside
its signal capture) and a Celery prefork worker with ``--max-tasks-per-child`` (children end with ``os._exit``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from kafka_util import check_sequence, read_records
from support import ROOT, unused_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _start(cmd: list[str], cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": f"{cwd}{os.pathsep}{ROOT}"}
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _stop(proc: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"did not stop within {timeout}s after SIGTERM:\n{err}") from None
    return proc.returncode, err


def _wait_until(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


UVICORN_APP = """
import logging
from contextlib import asynccontextmanager
from fastapi import FastAPI
from kafkalog import KafkaHandler

handler = KafkaHandler({bootstrap!r}, {topic!r})  # created while uvicorn has its signals captured
log = logging.getLogger("svc")
log.addHandler(handler)
log.setLevel(logging.INFO)
log.propagate = False
logging.getLogger("uvicorn.error").addHandler(handler)

@asynccontextmanager
async def lifespan(app):
    yield
    log.info("lifespan shutdown")

app = FastAPI(lifespan=lifespan)

@app.get("/log/{{seq}}")
def write(seq: int) -> dict:
    log.info("request %d", seq, extra={{"seq": seq}})
    return {{"ok": True}}
"""


def test_uvicorn_workers_sigterm_delivers_shutdown_records(tmp_path: Path, kafka_bootstrap: str,
                                                          topic: str) -> None:
    """uvicorn --workers 2 under load, then SIGTERM: 400 requests' records and both workers' shutdown records
    arrive (uvicorn re-raises SIGTERM with the default action after its shutdown; it is held until we drained)."""
    pytest.importorskip("uvicorn")
    pytest.importorskip("fastapi")
    (tmp_path / "webapp.py").write_text(textwrap.dedent(UVICORN_APP.format(bootstrap=kafka_bootstrap, topic=topic)))
    port = unused_port()
    proc = _start([sys.executable, "-m", "uvicorn", "webapp:app", "--workers", "2", "--port", str(port),
                   "--log-level", "info"], tmp_path)
    base = f"http://127.0.0.1:{port}"

    def get(seq: int) -> int:
        with urllib.request.urlopen(f"{base}/log/{seq}", timeout=30) as response:
            return int(response.status)

    def ready() -> bool:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            return get(-1) == 200
        except OSError:
            return False

    try:
        _wait_until(ready, 60, "uvicorn to serve")
        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(get, range(400))) == {200}
    finally:
        _, err = _stop(proc)
    assert "Traceback" not in err, err
    records = [r.json() for r in read_records(kafka_bootstrap, topic, 400 + 2 + 2 * 3, timeout=60)]
    seqs = [e["fields"]["seq"] for e in records if e["fields"].get("seq", -1) >= 0]
    check = check_sequence(seqs, 400)
    assert (check.received, check.lost, check.duplicate_count) == (400, (), 0), check.summary()
    per_msg = Counter(e["msg"].split(" [")[0] for e in records if "seq" not in e["fields"])
    assert per_msg["lifespan shutdown"] == 2, per_msg
    assert per_msg["Application shutdown complete."] == 2, per_msg
    assert per_msg["Finished server process"] == 2, per_msg
    assert len({e["pid"] for e in records if e["msg"] == "lifespan shutdown"}) == 2
    assert not any("color_message" in e["fields"] for e in records)


CELERY_TASKS = """
import logging
from celery import Celery
from kafkalog import KafkaHandler

app = Celery("tasks", broker="filesystem://")
app.conf.update(
    broker_transport_options={{"data_folder_in": {folder!r}, "data_folder_out": {folder!r}}},
    task_ignore_result=True, worker_hijack_root_logger=True, worker_prefetch_multiplier=1,
)
log = logging.getLogger("jobs")  # a named logger: celery replaces the root logger's handlers
log.addHandler(KafkaHandler({bootstrap!r}, {topic!r}))
log.setLevel(logging.INFO)
log.propagate = False

@app.task
def job(seq):
    log.info("job %d", seq, extra={{"seq": seq}})
"""


def test_celery_prefork_max_tasks_per_child(tmp_path: Path, kafka_bootstrap: str, topic: str) -> None:
    """Celery prefork, --max-tasks-per-child=10, no hook in the app: 200 sent, 200 arrive; no client lines."""
    pytest.importorskip("celery")
    folder = tmp_path / "queue"
    folder.mkdir()
    (tmp_path / "tasks.py").write_text(textwrap.dedent(CELERY_TASKS.format(
        folder=str(folder), bootstrap=kafka_bootstrap, topic=topic)))
    sender = subprocess.run([sys.executable, "-c", "from tasks import job\nfor n in range(200): job.delay(n)"],
                            cwd=tmp_path, env={**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"},
                            capture_output=True, text=True, timeout=120, check=False)
    assert sender.returncode == 0, sender.stderr
    proc = _start([sys.executable, "-m", "celery", "-A", "tasks", "worker", "--pool=prefork", "--concurrency=2",
                   "--max-tasks-per-child=10", "--loglevel=INFO", "--without-gossip", "--without-mingle",
                   "--without-heartbeat"], tmp_path)
    try:
        _wait_until(lambda: not any(folder.iterdir()) or proc.poll() is not None, 180, "the queue to empty")
        records = read_records(kafka_bootstrap, topic, 200, timeout=120)
    finally:
        _, err = _stop(proc)
    check = check_sequence((r.json()["fields"]["seq"] for r in records), 200)
    assert (check.received, check.lost, check.duplicate_count) == (200, (), 0), check.summary()
    client_lines = [line for line in err.splitlines() if "BrokerConnection" in line or "kafka." in line]
    assert client_lines == [], client_lines[:5]
    assert "undelivered" not in err, err
