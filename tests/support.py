"""Small helpers shared by the tests (ports, loggers, child interpreters, waiting with a deadline)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


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
    """Start ``script`` (dedented) in a fresh interpreter that imports this checkout's kafkalog.

    With PYTHONFAULTHANDLER, so :func:`wait_or_show_stacks` can show where a process that does not end is stuck.
    """
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=cwd,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONFAULTHANDLER": "1"})


def wait_or_show_stacks(proc: subprocess.Popen[str], timeout: float) -> int:
    """``proc.wait(timeout)``; a process still running then is sent SIGABRT and the test fails with its stderr,
    where Python's fault handler has put every thread's stack."""
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        try:
            _, stderr = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, stderr = proc.communicate()
        pytest.fail(f"still running {timeout:.0f} s later; stacks at SIGABRT:\n{(stderr or '')[-12000:]}")


_BURN = "import os\np = os.getppid()\nwhile os.getppid() == p:\n    for _ in range(1_000_000): pass\n"
"""Spins until its parent is gone: a test killed outright leaves no burner behind."""


@contextlib.contextmanager
def cpu_burners(count: int = 2) -> Iterator[None]:
    """``count`` CPU-bound processes for the duration of the block: the busy machine some bugs need."""
    procs = [subprocess.Popen([sys.executable, "-c", _BURN]) for _ in range(count)]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait()


def wait_until(predicate: Callable[[], object], timeout: float = 10.0, message: str = "condition not met") -> bool:
    """Poll ``predicate`` until it is true; fail the test with ``message`` if ``timeout`` seconds pass first.

    Returns True, so ``assert wait_until(...)`` reads naturally too. The timeout is a deadline for something
    that should happen, never a measurement: pick it generously (seconds, not fractions of one).
    """
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            raise AssertionError(f"{message} (waited {timeout} s)")
        time.sleep(0.01)


def finishes_within(timeout: float, call: Callable[[], T]) -> T:
    """Run ``call`` on a helper thread; fail the test if it has not returned within ``timeout`` seconds.

    For promises of the kind "this call does not wait for X": run it while X is held stuck indefinitely, so a
    call that waits never returns, whatever the machine's load; ``timeout`` is only how long to give up after.
    """
    result: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result.append(call())
        except BaseException as exc:  # re-raised on the test thread
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True, name="finishes_within")
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise AssertionError(f"call still running after {timeout} s")
    if errors:
        raise errors[0]
    return result[0]
