"""Helpers for the `kafkalog tail` tests: run the agent as its own process, write numbered lines, read them back."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from kafka_util import SequenceCheck, check_sequence, read_records
from support import ROOT

SEQ = re.compile(r"seq (\d+)\b")


def start_tail(bootstrap: str, topic: str, state_dir: Path, *args: str) -> subprocess.Popen[bytes]:
    """`python -m kafkalog tail` with short intervals for tests; stderr goes to ``state_dir``/../tail-N.err."""
    state_dir.parent.mkdir(parents=True, exist_ok=True)
    n = len(list(state_dir.parent.glob("tail-*.err")))
    err = open(state_dir.parent / f"tail-{n}.err", "wb")  # noqa: SIM115 - kept open for the child's lifetime
    cmd = [sys.executable, "-m", "kafkalog", "tail", "--bootstrap-servers", bootstrap, "--topic", topic,
           "--state-dir", str(state_dir), "--scan-interval", "0.2", "--rotate-wait", "2",
           "--close-timeout", "30", *args]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


def started_tail(bootstrap: str, topic: str, state_dir: Path, *args: str) -> subprocess.Popen[bytes]:
    """:func:`start_tail`, returning once the agent has made its first scan (it saves its offsets right after)."""
    proc = start_tail(bootstrap, topic, state_dir, *args)
    deadline = time.monotonic() + 60
    while not (state_dir / "offsets.json").exists():
        assert proc.poll() is None and time.monotonic() < deadline, stderr_of(state_dir)
        time.sleep(0.05)
    return proc


def stop_tail(proc: subprocess.Popen[bytes], timeout: float = 90.0) -> int:
    """SIGTERM, and the exit code (the agent must exit on its own within ``timeout``)."""
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout)


def stderr_of(state_dir: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in sorted(state_dir.parent.glob("tail-*.err")))


def read_seqs(bootstrap: str, topic: str, expected: int, timeout: float = 120.0, *,
              to_end: bool = False) -> SequenceCheck:
    """The `seq N` numbers in the `msg` of every record of ``topic``, checked against range(expected).

    ``to_end``: read to the topic's end offsets as they are now (when the caller knows all is written, and more
    duplicates may be there than the reader's short wait past ``expected`` records would see)."""
    records = read_records(bootstrap, topic, None if to_end else expected, timeout=timeout)
    seqs = []
    for record in records:
        match = SEQ.search(record.json()["msg"])
        assert match, record.json()
        seqs.append(int(match.group(1)))
    return check_sequence(seqs, expected)


class Writer(threading.Thread):
    """Appends `seq N` lines to ``path`` continuously (O_APPEND, one write per line), until ``count`` lines.

    ``rotate`` is called every ``every`` lines, with the writer's file closed and the lock held, as a logging
    framework's rotation would be; ``lock`` is also held around each write, so a rotation never splits one.
    """

    def __init__(self, path: Path, count: int, *, every: int = 0, rotate: Callable[[int], None] | None = None,
                 pause_every: int = 20, pause: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.path, self.count, self.every, self.rotate = path, count, every, rotate
        self.pause_every, self.pause = pause_every, pause
        self.lock = threading.Lock()
        self.written = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            for seq in range(self.count):
                if self.every and seq and seq % self.every == 0 and self.rotate is not None:
                    with self.lock:
                        os.close(fd)
                        self.rotate(seq)
                        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                with self.lock:
                    os.write(fd, f"2026-12-02 INFO seq {seq} payload {'x' * 40}\n".encode())
                self.written = seq + 1
                if seq % self.pause_every == 0:
                    threading.Event().wait(self.pause)
            os.close(fd)
        except BaseException as exc:  # surfaced by the test
            self.error = exc
