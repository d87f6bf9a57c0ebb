"""Which file is which: device and inode, plus a fingerprint of the first bytes.

Device and inode alone are not enough: after a file is deleted its inode is soon reused by a new file, which would
then be resumed at the old file's offset. The fingerprint (a hash of up to the first ``FINGERPRINT_BYTES``) tells a
reused inode from the file it once was; it grows with the file until it covers ``FINGERPRINT_BYTES``.
"""

from __future__ import annotations

import hashlib
import os
from typing import NamedTuple

FINGERPRINT_BYTES = 1024


class FileKey(NamedTuple):
    """Device and inode: what a path points to right now."""

    dev: int
    ino: int

    def __str__(self) -> str:
        return f"{self.dev}:{self.ino}"


class Fingerprint(NamedTuple):
    """A hash of the file's first ``length`` bytes (``length`` 0: an empty file, which matches any file)."""

    length: int
    digest: str


EMPTY = Fingerprint(0, "")


def key_of(stat: os.stat_result) -> FileKey:
    return FileKey(stat.st_dev, stat.st_ino)


def take_fingerprint(fd: int, size: int) -> Fingerprint:
    """The fingerprint of an open file of ``size`` bytes (the bytes there now, up to ``FINGERPRINT_BYTES``)."""
    length = min(size, FINGERPRINT_BYTES)
    if length <= 0:
        return EMPTY
    head = os.pread(fd, length, 0)
    return Fingerprint(len(head), hashlib.blake2b(head, digest_size=16).hexdigest()) if head else EMPTY


def same_content(fd: int, fingerprint: Fingerprint) -> bool:
    """True if the open file still begins with the bytes ``fingerprint`` was taken from."""
    if fingerprint.length == 0:
        return True
    head = os.pread(fd, fingerprint.length, 0)
    return len(head) == fingerprint.length and \
        hashlib.blake2b(head, digest_size=16).hexdigest() == fingerprint.digest
