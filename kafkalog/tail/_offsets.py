"""Where reading stopped in each file, saved atomically in the state directory.

An offset is saved only past entries the shipper has settled (delivered, or dropped and counted) or, with
``--spool``, that are in the disk spool (``spool_full_policy="block"``: on disk when the put returns). A crash
therefore repeats at most the entries in flight and those settled since the last save, and loses none.
The file is written to a temporary name, fsynced, renamed over the old one and the directory fsynced, so a
crash leaves either the old or the new state, never a torn one.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from dataclasses import asdict, dataclass

from ._identity import FileKey, Fingerprint

STATE_FILE = "offsets.json"
LOCK_FILE = "lock"
_FORGET_AFTER = 7 * 24 * 3600.0  # an offset of a file not seen for a week is forgotten
_VERSION = 1


@dataclass
class Offset:
    """The saved position in one file: ``offset`` bytes (and ``line`` lines) are shipped."""

    path: str
    dev: int
    ino: int
    fp_len: int
    fp: str
    offset: int
    line: int
    seen: float  # when the agent last followed this file (time.time())

    @property
    def key(self) -> FileKey:
        return FileKey(self.dev, self.ino)

    @property
    def fingerprint(self) -> Fingerprint:
        return Fingerprint(self.fp_len, self.fp)


class StateDirInUse(RuntimeError):
    """Another agent holds the state directory."""


class OffsetStore:
    """The state directory: the offsets file and the lock that keeps a second agent out of it."""

    def __init__(self, directory: str) -> None:
        self.directory = os.path.abspath(directory)
        os.makedirs(self.directory, exist_ok=True)
        self.path = os.path.join(self.directory, STATE_FILE)
        self._lock_fd = os.open(os.path.join(self.directory, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_fd)
            raise StateDirInUse(f"state dir {self.directory!r} is used by another kafkalog tail") from None

    def load(self) -> dict[FileKey, Offset]:
        """The saved offsets (none when there is no state file yet)."""
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return {}
        now = time.time()
        offsets = {}
        for item in data.get("files", []):
            entry = Offset(**item)
            if now - entry.seen < _FORGET_AFTER:
                offsets[entry.key] = entry
        return offsets

    def save(self, offsets: list[Offset]) -> None:
        """Replace the state file atomically (temp file, fsync, rename, fsync of the directory)."""
        temp = f"{self.path}.tmp"
        data = json.dumps({"version": _VERSION, "files": [asdict(o) for o in offsets]}, separators=(",", ":"))
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, self.path)
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def close(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = -1
