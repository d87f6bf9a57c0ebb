"""One followed file: its descriptor (opened only while needed), read position, line splitter and entry assembler.

A follower is keyed by its file's identity (device, inode, fingerprint), not by its path: after a rename it is the
same follower under a new path, and the file that appears at the old path gets a follower of its own.
"""

from __future__ import annotations

import os
import time

from .._ids import file_prefix, read_head
from ._config import TailInput
from ._events import EventMaker
from ._identity import FINGERPRINT_BYTES, FileKey, Fingerprint, same_content, take_fingerprint
from ._lines import Entry, EntryAssembler, Line, LineSplitter, PlainRead
from ._offsets import Offset


class Follower:
    """Reads one file in chunks and turns its bytes into entries; the agent ships them and saves ``offset``."""

    def __init__(self, path: str, key: FileKey, source: TailInput, maker: EventMaker, *, offset: int, line: int,
                 fingerprint: Fingerprint, max_line_bytes: int) -> None:
        self.path = path
        self.key = key
        self.source = source
        self.maker = maker
        self.fd: int | None = None
        self.fingerprint = fingerprint
        self.splitter = LineSplitter(offset, max_line_bytes)
        self.assembler = EntryAssembler(source.multiline_start, offset, line)
        self.offset = offset  # handed to the shipper through here
        self.line = line  # number of the first line after ``offset``
        self.acked_offset = offset  # settled (or, with the spool, on disk) through here: what is saved
        self.acked_line = line
        self.epoch = 0  # moves when the file's content starts over: acknowledgements of older reads are void
        self.size = offset  # the file's size when last looked at
        self.draining_since: float | None = None  # renamed away, deleted or dropped from the inputs: read to the end
        self.copy_of: Follower | None = None  # a copy of a followed file (copytruncate): waits for the original
        self.copied_at = 0.0
        self.last_read = time.monotonic()
        self.partial_since: float | None = None
        self._id_prefix: str | None = None

    # --- descriptor ---------------------------------------------------------------------------------------------

    def open(self) -> bool:
        """Open by path; False if the path no longer names this file (or cannot be opened)."""
        if self.fd is not None:
            return True
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return False
        info = os.fstat(fd)
        if (info.st_dev, info.st_ino) != self.key:
            os.close(fd)
            return False
        self.fd = fd
        self.size = info.st_size
        return True

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    @property
    def read_to(self) -> int:
        """Everything before this offset was read (and split)."""
        return self.splitter.end

    def at_end(self) -> bool:
        return self.read_to >= self.size

    # --- reading ------------------------------------------------------------------------------------------------

    def refresh_size(self) -> None:
        if self.fd is not None:
            self.size = os.fstat(self.fd).st_size

    def changed_under_us(self) -> bool:
        """Truncated (copytruncate: smaller than what was read) or rewritten from the start (other first bytes)."""
        if self.fd is None:
            return False
        return self.size < self.read_to or not same_content(self.fd, self.fingerprint)

    def read(self, chunk_bytes: int, plain: bool = False) -> list[Entry] | PlainRead:
        """Read one chunk from where reading stopped; the complete entries in it, or with ``plain`` (one line, one
        entry) and lines that allow it, the lines as bytes (``LineSplitter.feed_plain``)."""
        if self.fd is None:
            return []
        data = os.pread(self.fd, chunk_bytes, self.read_to)
        if not data:
            return []
        self.last_read = time.monotonic()
        got = self.splitter.feed_plain(data) if plain and not self.assembler.holding else None
        lines = self.splitter.feed(data) if got is None else []
        # a partial line waits for its newline only once the file has no more (not while more is to be read)
        self.partial_since = self.last_read if self.splitter.buffer and self.at_end() else None
        if self.fingerprint.length < FINGERPRINT_BYTES and self.read_to > self.fingerprint.length:
            self.fingerprint = take_fingerprint(self.fd, min(self.read_to, FINGERPRINT_BYTES))
        if got is not None:
            body, texts, start = got
            end = start + len(body) + 1
            return PlainRead(body, texts, self.assembler.add_plain(len(texts), end), start, end)
        return self.assembler.add(lines)

    def take_held(self, partial: bool) -> list[Entry]:
        """The entry being held (multi-line timeout, or the file is done with) and, if ``partial``, the partial
        last line as a line of its own."""
        lines: list[Line] = []
        if partial:
            line = self.splitter.take_partial()
            self.partial_since = None
            if line is not None:
                lines.append(line)
        entries = self.assembler.add(lines)
        held = self.assembler.take()
        return entries + ([held] if held is not None else [])

    def shipped(self, entry: Entry) -> None:
        self.offset = entry.end
        self.line = entry.line + entry.text.count("\n") + 1

    def shipped_to(self, offset: int, line: int) -> None:
        self.offset, self.line = offset, line

    def acknowledge(self, offset: int, line: int) -> None:
        """What was read before ``offset`` is settled: it may be saved."""
        self.acked_offset, self.acked_line = offset, line

    def restart_at(self, offset: int, line: int, acked: tuple[int, int] | None = None) -> None:
        """Forget what was read past ``offset`` and read on from there (truncation, a copy taking over, a disk
        error). ``acked``: the content starts over (truncation, a copy): the saved position becomes this and
        acknowledgements still to come for earlier reads no longer apply."""
        if acked is not None:
            self.epoch += 1
            self._id_prefix = None  # new content: new ids
            self.acked_offset, self.acked_line = acked
        self.splitter.reset(offset)
        self.assembler.reset(offset, line)
        self.offset, self.line = offset, line
        self.partial_since = None
        if self.fd is not None:
            self.size = os.fstat(self.fd).st_size
            self.fingerprint = take_fingerprint(self.fd, self.size)

    def id_prefix(self, host: str) -> str:
        """The prefix of the ids of this file's lines (:func:`~kafkalog._ids.file_prefix`); kept once the file's
        first line is complete, so every read of a line, in this run or the next, gives it the same id."""
        if self._id_prefix is not None:
            return self._id_prefix
        head = read_head(self.fd) if self.fd is not None else b""
        prefix = file_prefix(host, self.key.dev, self.key.ino, head)
        if self.fd is not None and (len(head) >= 256 or os.pread(self.fd, 1, len(head)) == b"\n"):
            self._id_prefix = prefix
        return prefix

    def saved(self, now: float) -> Offset:
        return Offset(path=self.path, dev=self.key.dev, ino=self.key.ino, fp_len=self.fingerprint.length,
                      fp=self.fingerprint.digest, offset=self.acked_offset, line=self.acked_line, seen=now)
