"""Bytes of a file -> lines -> entries (a multi-line entry, such as a stack trace, is one entry).

Pure and I/O-free, so the rules are unit-tested on their own: a line ends at ``\\n``; a partial last line waits in
the buffer for its newline (the agent ships it after ``partial_timeout``); NUL bytes, which a truncation racing
a writer leaves as a hole, are skipped; a line longer than ``max_line_bytes`` is cut into pieces of that size, so
memory stays bounded whatever is in the file.
"""

from __future__ import annotations

import functools
import re
from itertools import accumulate
from operator import add
from typing import NamedTuple


class Line(NamedTuple):
    text: str
    end: int  # file offset just after the line (and its newline)


class Entry(NamedTuple):
    """One record's worth: ``text`` (lines joined by ``\\n``), its first line's number and where it ends."""

    text: str
    line: int
    end: int


class PlainRead(NamedTuple):
    """Lines of one read that take the plain path (``LineSplitter.feed_plain``), one entry each."""

    body: bytes  # the lines joined by b"\\n"
    lines: list[bytes]
    first: int  # the first one's number
    start: int  # file offset of the first
    end: int  # file offset after the last one's newline

    def entries(self) -> list[Entry]:
        """The same lines as entries (for what the plain encoding does not cover)."""
        ends = accumulate((len(line) + 1 for line in self.lines), initial=self.start)
        next(ends)
        pairs = enumerate(zip(self.lines, ends, strict=True))
        return [Entry(line.decode("ascii"), self.first + i, end) for i, (line, end) in pairs]


_new_line = functools.partial(tuple.__new__, Line)  # Line((text, end)) without namedtuple's Python-level __new__
_new_entry = functools.partial(tuple.__new__, Entry)


# the bytes JSON escapes (or that the line rules treat apart: NUL, CR), other than the newlines between lines
_NOT_PLAIN = bytes(range(0x0a)) + bytes(range(0x0b, 0x20)) + b'"\\'
_BLANK_LINE = re.compile(rb"(?m)^ *$")
PLAIN_MAX = 199  # the longest line the plain path takes (shorter than the level word scan, see _events)


def _decode(raw: bytes) -> str:
    if b"\0" in raw:
        raw = raw.replace(b"\0", b"")
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    return raw.decode("utf-8", "replace")


class LineSplitter:
    """Splits what is read from one file into lines, keeping the partial last line until its newline comes."""

    def __init__(self, offset: int, max_line_bytes: int) -> None:
        self.max_line_bytes = max_line_bytes
        self.buffer = b""
        self.buffer_start = offset  # file offset of buffer[0]

    @property
    def end(self) -> int:
        """File offset after everything fed so far."""
        return self.buffer_start + len(self.buffer)

    def feed(self, data: bytes) -> list[Line]:
        buffer = self.buffer + data if self.buffer else data
        start = self.buffer_start
        lines, pos = self._split_plain(buffer, start) or self._split(buffer, start)
        rest = buffer[pos:]
        if rest and not rest.strip(b"\0"):
            pos += len(rest)  # only NULs so far: nothing to keep
            rest = b""
        self.buffer = rest
        self.buffer_start = start + pos
        return lines

    def feed_plain(self, data: bytes) -> tuple[bytes, list[bytes], int] | None:
        """:meth:`feed` for the commonest logs, as bytes: (the complete lines joined, each of them, the offset of the
        first) when each
        is ASCII, at most :data:`PLAIN_MAX` long, not blank, and holds nothing JSON escapes (so ``"`` + line +
        ``"`` is its JSON string); None, with nothing consumed, for anything else (then :meth:`feed`)."""
        buffer = self.buffer + data if self.buffer else data
        last = buffer.rfind(b"\n")
        if last < 0:
            return None
        body = buffer[:last]
        if not body.isascii() or len(body.translate(None, _NOT_PLAIN)) != len(body) or b"\n\n" in body \
                or not body or ((body[0] == 0x20 or b"\n " in body) and _BLANK_LINE.search(body)):
            return None
        lines = body.split(b"\n")
        if max(map(len, lines)) > PLAIN_MAX:
            return None
        start = self.buffer_start
        rest = buffer[last + 1:]
        if rest and not rest.strip(b"\0"):
            rest = b""  # only NULs so far: nothing to keep
        self.buffer = rest
        self.buffer_start = start + len(buffer) - len(rest)
        return body, lines, start

    def _split_plain(self, buffer: bytes, start: int) -> tuple[list[Line], int] | None:
        """The usual case at C speed (one decode, one split): ASCII without NUL or CR, no line over the limit;
        None for anything else."""
        limit = self.max_line_bytes
        last = buffer.rfind(b"\n")
        if last < 0 or len(buffer) - last - 1 > limit or not buffer.isascii() or b"\0" in buffer \
                or b"\r" in buffer:
            return None
        texts = buffer[:last].decode("ascii").split("\n")
        if max(map(len, texts)) > limit:
            return None
        ends = map(add, accumulate(map(len, texts)), range(start + 1, start + 1 + len(texts)))
        return list(map(_new_line, zip(texts, ends, strict=True))), last + 1

    def _split(self, buffer: bytes, start: int) -> tuple[list[Line], int]:
        """Line by line, for what the fast path does not take: NULs, CRs, non-ASCII, lines over the limit."""
        lines: list[Line] = []
        pos = 0
        limit = self.max_line_bytes
        while True:
            newline = buffer.find(b"\n", pos, pos + limit + 1)
            if newline < 0:
                if len(buffer) - pos > limit:  # no newline within the limit: cut
                    lines.append(Line(_decode(buffer[pos:pos + limit]), start + pos + limit))
                    pos += limit
                    continue
                break
            raw = buffer[pos:newline]
            pos = newline + 1
            if raw and not raw.strip(b"\0"):  # a hole of NULs only: skipped (the offset moves on with the next line)
                continue
            lines.append(Line(_decode(raw), start + pos))
        return lines, pos

    def take_partial(self) -> Line | None:
        """The partial last line, as a line of its own (its newline never came in time)."""
        if not self.buffer:
            return None
        line = Line(_decode(self.buffer), self.end)
        self.buffer_start, self.buffer = self.end, b""
        return line

    def reset(self, offset: int) -> None:
        self.buffer = b""
        self.buffer_start = offset


class EntryAssembler:
    """Groups lines into entries: with ``start`` set, a line not matching it continues the entry before it.

    The entry being built is held until the next start line comes, or the agent calls :meth:`take` after
    ``multiline_timeout`` of quiet. ``committed`` is the offset before anything held, what may be saved.
    """

    def __init__(self, start: re.Pattern[str] | None, offset: int, line: int, max_lines: int = 1000,
                 max_bytes: int = 1_000_000) -> None:
        self.start = start
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self.committed = offset  # offset after the last entry handed out
        self.next_line = line  # number of the next line (1-based)
        self.committed_line = line  # number of the first line not handed out yet
        self._held: list[str] = []
        self._held_bytes = 0
        self._held_line = line
        self._held_end = offset

    @property
    def holding(self) -> bool:
        return bool(self._held)

    def add(self, lines: list[Line]) -> list[Entry]:
        start = self.start
        if start is None:  # one line, one entry: built at C speed
            if not lines:
                return []
            first = self.next_line
            self.next_line += len(lines)
            self.committed, self.committed_line = lines[-1].end, self.next_line
            texts, ends = zip(*lines, strict=True)
            return list(map(_new_entry, zip(texts, range(first, self.next_line), ends, strict=True)))
        entries: list[Entry] = []
        for text, end in lines:
            number = self.next_line
            self.next_line += 1
            if self._held and (start.search(text) or len(self._held) >= self.max_lines
                               or self._held_bytes + len(text) > self.max_bytes):
                entries.append(self._release())
            if not self._held:
                self._held_line = number
            self._held.append(text)
            self._held_bytes += len(text) + 1
            self._held_end = end
        return entries

    def add_plain(self, count: int, end: int) -> int:
        """``count`` lines, one entry each (no ``start`` pattern), the last ending at ``end``: the first's number."""
        first = self.next_line
        self.next_line += count
        self.committed, self.committed_line = end, self.next_line
        return first

    def take(self) -> Entry | None:
        """The entry being held, now (its timeout passed, or the file is done with)."""
        return self._release() if self._held else None

    def _release(self) -> Entry:
        entry = Entry("\n".join(self._held), self._held_line, self._held_end)
        self._held, self._held_bytes = [], 0
        self.committed = self._held_end
        self.committed_line = self._held_line + entry.text.count("\n") + 1
        return entry

    def reset(self, offset: int, line: int) -> None:
        self._held, self._held_bytes = [], 0
        self.committed = self._held_end = offset
        self.next_line = self.committed_line = self._held_line = line
