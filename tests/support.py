"""Small helpers shared by the integration tests (ports, loggers, child interpreters)."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def unused_port() -> int:
    """A loopback port nothing listens on: a broker address that refuses connections at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def isolated_logger(name: str, handler: logging.Handler, level: int = logging.DEBUG) -> logging.Logger:
    """A logger with only ``handler``, not registered with ``logging`` (pytest's capture handlers stay away)."""
    log = logging.Logger(name, level)
    log.addHandler(handler)
    return log


def python_script(script: str, *, cwd: Path = ROOT) -> subprocess.Popen[str]:
    """Start ``script`` (dedented) in a fresh interpreter that imports this checkout's kafkalog."""
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=cwd,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


@contextlib.contextmanager
def cpu_burners(count: int = 2) -> Iterator[None]:
    """``count`` CPU-bound processes for the duration of the block: the busy machine some bugs need."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait()
