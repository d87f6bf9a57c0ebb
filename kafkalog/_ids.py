"""Record ids: unique across hosts and processes without coordination, and cheap enough for every record.

An id is a per-process prefix (64 random bits, base32: 13 characters) and a counter (hex). The prefix is drawn
again in a forked child, so a parent and its children never share one. The id is made once, when the record is
built on the application's thread; everything that can send the record again (a retry, a new producer, a spool
replay in another process) sends the same bytes, so a reader can drop repeats or index by it.

Lines read by ``kafkalog tail`` get ids from the file instead (:func:`file_prefix`, :func:`line_id`): the same line
read again after a restart gets the same id.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import os

ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
"""Characters of an id (base32, lower case) besides the counter's hex digits and ``-``."""


def _new_prefix() -> str:
    return base64.b32encode(os.urandom(8)).decode("ascii").rstrip("=").lower() + "-"


_prefix = _new_prefix()
_counter = itertools.count(1)


def _renew() -> None:
    """In a forked child: a prefix of its own, so its ids never equal the parent's."""
    global _prefix, _counter
    _prefix = _new_prefix()
    _counter = itertools.count(1)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew)


def new_id() -> str:
    """The next id of this process, e.g. ``k5v3q7xw2mzaa-1f4`` (thread-safe: ``next`` on a count holds the GIL)."""
    return f"{_prefix}{next(_counter):x}"


def file_prefix(host: str, dev: int, ino: int, head: bytes) -> str:
    """The id prefix of one file's lines: its host, device, inode and first line (``head``, up to 256 bytes).

    The first line tells a file from another that reuses its inode, or from what a copytruncate left at the same
    offsets; it does not change while the file is appended to."""
    digest = hashlib.blake2b(b"%s\0%d\0%d\0%s" % (host.encode("utf-8", "replace"), dev, ino, head),
                             digest_size=10).digest()
    return "f" + base64.b32encode(digest).decode("ascii").lower() + "-"


def line_id(prefix: str, end: int) -> str:
    """The id of the entry of a file that ends at byte ``end``."""
    return f"{prefix}{end:x}"


def read_head(fd: int) -> bytes:
    """The first line of an open file (up to 256 bytes, without its newline)."""
    head = os.pread(fd, 256, 0)
    newline = head.find(b"\n")
    return head if newline < 0 else head[:newline]
