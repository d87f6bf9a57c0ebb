"""Running ``kafkalog collect`` in tests: started on a socket and waited for, stopped with SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from support import ROOT, wait_until

from kafkalog.transports.collector import query_stats

_ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONFAULTHANDLER": "1"}


def start_collector(bootstrap: str, sock: Path, *extra: str, transport: str = "kafka-python") -> subprocess.Popen[str]:
    """``kafkalog collect`` on ``sock``, once it answers stats."""
    proc = subprocess.Popen([sys.executable, "-m", "kafkalog", "collect", "--socket", str(sock),
                             "--bootstrap-servers", bootstrap, "--transport", transport, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_ENV)

    def answers() -> bool:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            query_stats(str(sock), timeout=2.0)
        except (OSError, ValueError):
            return False
        return True

    wait_until(answers, timeout=30, message="the collector did not start")
    return proc


def stop_collector(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        _, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, stderr = proc.communicate()
    return stderr
