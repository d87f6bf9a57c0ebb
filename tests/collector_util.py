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


BROKER_CONNECTIONS = """
def _socket_inodes(pid):
    inodes = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes

def broker_connections(port):
    # TCP connections this process opened to the broker's port: its socket inodes matched against /proc/net/tcp,
    # less those its parent holds too (a socket the parent had open at the fork is the parent's connection,
    # inherited, not one more opened by this process)
    inodes = _socket_inodes(os.getpid()) - _socket_inodes(os.getppid())
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in open(table).read().splitlines()[1:]:
            parts = line.split()
            if int(parts[2].rsplit(":", 1)[1], 16) == port and parts[3] == "01" and parts[9] in inodes:
                count += 1
    return count
"""
