"""gunicorn --preload: the handler is built in the master before fork; each worker ships its own records."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from kafka_util import read_records
from support import unused_port

pytestmark = pytest.mark.integration
WORKERS = 4
REQUESTS = 200


def _wait_listening(port: int, proc: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("gunicorn did not start")


class TestGunicornPreload:
    def test_preloaded_handler_ships_from_every_worker(self, kafka_bootstrap: str, topic: str,
                                                       tmp_path: Path) -> None:
        """Master logs before fork, 4 workers serve 200 requests; SIGTERM; every record arrives once."""
        app = tmp_path / "kl_app.py"
        app.write_text(textwrap.dedent(f"""
            import logging, os
            from kafkalog import KafkaHandler
            handler = KafkaHandler("{kafka_bootstrap}", "{topic}")
            log = logging.getLogger("web")
            log.addHandler(handler)
            log.setLevel(logging.INFO)
            log.info("master loaded", extra={{"role": "master"}})

            def app(environ, start_response):
                log.info("request %s", environ["PATH_INFO"], extra={{"role": "worker", "path": environ["PATH_INFO"]}})
                start_response("200 OK", [("Content-Type", "text/plain")])
                return [str(os.getpid()).encode()]
        """))
        port = unused_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--preload", "-w", str(WORKERS), "-b", f"127.0.0.1:{port}",
             "--graceful-timeout", "10", "kl_app:app"],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{Path(__file__).resolve().parents[2]}"})
        try:
            _wait_listening(port, proc)
            pids = Counter()
            for i in range(REQUESTS):
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/r{i}", timeout=10) as response:
                    pids[response.read().decode()] += 1
        finally:
            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 0, stderr
        events = [r.json() for r in read_records(kafka_bootstrap, topic, REQUESTS + 1, timeout=60)]
        by_pid = Counter(str(e["pid"]) for e in events if e["fields"]["role"] == "worker")
        # stderr carries kafkalog's own report of anything it could not deliver, and why
        assert len(events) == REQUESTS + 1, f"sent per worker pid {dict(pids)}, read {dict(by_pid)}\n{stderr}"
        assert [e["msg"] for e in events if e["fields"]["role"] == "master"] == ["master loaded"]
        paths = sorted(e["fields"]["path"] for e in events if e["fields"]["role"] == "worker")
        assert paths == sorted(f"/r{i}" for i in range(REQUESTS))
        assert by_pid == pids  # each worker's records carry its own pid, and all of them arrived
