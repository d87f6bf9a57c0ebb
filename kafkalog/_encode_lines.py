"""The fast path of ``kafkalog tail``: records of plain text lines encoded without a dict per line.

All lines of one read of one file share every key of their record but ``type``, ``msg``, ``line`` and ``id``. The
record is built once (:meth:`~kafkalog._records.RecordBuilder.from_line`) with stand-ins for those four, encoded
once (:func:`~kafkalog._encode.dumps`), and cut around them; each line's record is then the pieces joined with its
own values: the same bytes ``dumps`` gives for the line's event (tests/unit/test_tail_plain.py checks it). Only
where :meth:`~kafkalog._messages.Messages.encoded_limit` allows (what is sent is exactly ``dumps``' output).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import repeat
from typing import NamedTuple

from ._encode import dumps, dumps_text
from ._records import RecordBuilder

_STAND_IN = ("\0kafkalog-type\0", "\0kafkalog-msg\0", "\0kafkalog-line\0", "\0kafkalog-id\0")  # no text has NUL
_NUMBER = 20  # the most bytes of a line number
_CHAR = 6  # the most bytes of one character in JSON (\u001f)
_ID_ROOM = 48  # an id: the file's prefix and up to 16 hex digits


class LineTemplate(NamedTuple):
    """A plain-text event encoded once, cut around its type, msg, line and id."""

    head: bytes
    types: dict[str, bytes]  # each type's JSON
    middle: bytes
    tail: bytes
    end: bytes  # between the line and the id
    last: bytes  # after the id
    fixed_bytes: int  # all but the four values

    def longest(self, limit: int) -> int:
        """Lines shorter than this many characters surely fit in ``limit`` bytes."""
        return (limit - self.fixed_bytes - 2 * _NUMBER) // _CHAR

    def encode(self, level: str, text: str, line: int, record_id: bytes = b"") -> bytes:
        """The record of one line (``record_id``: its id, or b"" when ids are off); ``level`` one of ``types``."""
        try:
            msg = dumps_text(text)
        except (TypeError, ValueError):  # a lone surrogate: dumps repairs it
            msg = dumps(text)
        return b"".join((self.head, self.types[level], self.middle, msg, self.tail, b"%d" % line, self.end,
                         record_id, self.last))

    def encode_plain(self, types: Iterable[bytes], lines: list[bytes], first: int,
                     ids: Iterator[bytes] | None) -> list[bytes]:
        """The records of ``lines`` (ASCII with nothing to escape), numbered from ``first``, each with its type's
        JSON from ``types`` and its id from ``ids`` (None: ids are off); no Python step per line."""
        numbers = map(b"%d".__mod__, range(first, first + len(lines)))
        opening, closing = self.middle + b'"', b'"' + self.tail
        if ids is None:
            return list(map(b"".join, zip(repeat(self.head), types, repeat(opening), lines, repeat(closing),
                                          numbers, repeat(self.end + self.last))))
        return list(map(b"".join, zip(repeat(self.head), types, repeat(opening), lines, repeat(closing),
                                      numbers, repeat(self.end), ids, repeat(self.last))))


def line_template(builder: RecordBuilder, path: str, stamp: str, levels: Iterable[str],
                  with_id: bool = False) -> LineTemplate | None:
    """The line records of ``path`` read at ``stamp`` (with the types ``levels``) as a template; None if the
    builder's static fields replace one of the four values (then each event is encoded whole)."""
    event = builder.from_line(_STAND_IN[0], stamp, _STAND_IN[1], path, _STAND_IN[2],
                              record_id=_STAND_IN[3] if with_id else None)
    encoded = dumps(event)
    marks = [dumps(stand_in) for stand_in in _STAND_IN[:3]]
    if with_id:
        marks.append(dumps(_STAND_IN[3])[1:-1])  # inside its quotes: they stay in the template
    else:
        encoded += b"\0"  # an empty id at the end: cut below like the others
        marks.append(b"\0")
    spots = [encoded.find(mark) for mark in marks]
    if any(encoded.count(mark) != 1 for mark in marks) or not spots[0] < spots[1] < spots[2] < spots[3]:
        return None
    cuts = [0, *(p for spot, mark in zip(spots, marks, strict=True) for p in (spot, spot + len(mark))), len(encoded)]
    head, middle, tail, end, last = (encoded[cuts[i]:cuts[i + 1]] for i in range(0, len(cuts), 2))
    types = {level: dumps(level) for level in levels}
    return LineTemplate(head, types, middle, tail, end, last, len(encoded) - sum(map(len, marks)) + _ID_ROOM)
