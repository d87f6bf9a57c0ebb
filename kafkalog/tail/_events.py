"""A line or entry of a file -> an event in the record contract (docs/record-format.md, docs/tail.md).

Plain text: ``msg`` is the entry, ``type`` the first level word in its first 200 characters (``info`` when there is
none). JSON lines (``format="json"``): the object's keys are kept in ``fields``; ``msg`` and ``type`` are taken from
its ``msg``/``message`` and ``level``/``levelname``/``severity`` keys when present. Both get ``fields.path``,
``file`` (the path), ``line`` (the entry's first line number), ``host``, and ``time`` (when the line was read).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from itertools import accumulate, repeat
from typing import Any, NamedTuple

from .._encode import dumps, dumps_text
from .._ids import line_id
from .._records import ID_KEY, iso_utc
from ..typing import Event
from ._lines import Entry, PlainRead

# the lookahead (the first letters of the words) lets the search skip most positions before trying 22 words
_WORDS = ("TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|CRITICAL|CRIT|FATAL|SEVERE|PANIC|"
          "trace|debug|info|notice|warn|warning|error|critical|fatal")
_LEVEL_WORD = re.compile(rf"(?=[CDEFINPSTWcdefintw])\b({_WORDS})\b")
_LEVEL_WORD_BYTES = re.compile(rb"(?=[CDEFINPSTWcdefintw])\b(" + _WORDS.encode() + rb")\b")  # ASCII: the same
_LEVELS = {"trace": "trace", "debug": "debug", "info": "info", "notice": "info", "warn": "warning",
           "warning": "warning", "error": "error", "err": "error", "critical": "critical", "crit": "critical",
           "fatal": "critical", "severe": "error", "panic": "critical"}
_SCAN = 200
DEFAULT_TYPE = "info"
_STAND_IN = ("\0kafkalog-type\0", "\0kafkalog-msg\0", "\0kafkalog-line\0", "\0kafkalog-id\0")  # no text has NUL


def level_of(text: str) -> str | None:
    """The contract's ``type`` for the first level word near the start of ``text``, or None."""
    match = _LEVEL_WORD.search(text, 0, _SCAN)
    return _LEVELS[match.group(1).lower()] if match else None


class _Template(NamedTuple):
    """A plain-text event encoded once, cut around its type, msg, line and id."""

    head: bytes
    types: dict[str, bytes]  # each type's JSON
    middle: bytes
    tail: bytes
    end: bytes  # between the line and the id
    last: bytes  # after the id
    fixed_bytes: int  # all but the four values


class EventMaker:
    """Builds events for one input; the per-input constants are bound once."""

    def __init__(self, *, host: str, fmt: str, static_fields: Mapping[str, Any], action: str = "log") -> None:
        self.host = host
        self.json = fmt == "json"
        self.static_fields = dict(static_fields)
        self.action = action

    def make(self, text: str, path: str, line: int, now: float, record_id: str | None = None) -> Event:
        fields: dict[str, Any] = {}
        msg = text
        level: str | None = None
        if self.json:
            try:
                doc = json.loads(text)
            except ValueError:
                doc = None
            if isinstance(doc, dict):
                fields.update(doc)
                for key in ("msg", "message"):
                    if isinstance(doc.get(key), str):
                        msg = fields.pop(key)
                        break
                for key in ("level", "levelname", "severity"):
                    value = doc.get(key)
                    if isinstance(value, str):
                        level = _LEVELS.get(value.lower(), value.lower())
                        break
            else:
                fields["json_error"] = "not a JSON object"
        if level is None:
            level = level_of(msg) or DEFAULT_TYPE
        fields["path"] = path
        event: Event = {
            "type": level,
            "action": self.action,
            "time": iso_utc(now),
            "msg": msg,
            "fields": fields,
            "funcName": "",
            "logger": None,
            "host": self.host,
            "pid": None,
            "thread": None,
            "file": path,
            "line": line,
        }
        if record_id is not None:
            event[ID_KEY] = record_id
        if self.static_fields:
            event.update(self.static_fields)
        return event

    def make_many(self, entries: Sequence[Entry], path: str, now: float, encode_max_bytes: int = 0,
                  id_prefix: str = "") -> tuple[list[Event | bytes], list[int]]:
        """Events for the non-blank ``entries`` of one read (all read at ``now``), and each one's index in
        ``entries``. Plain text takes a lean path: the constant parts of the event are built once per call.

        ``encode_max_bytes`` > 0 (the caller checked that the default schema and no per-record routing apply): a
        plain text entry whose record surely fits in that many bytes comes back as the JSON bytes ``dumps`` gives
        for its event, spliced into a template encoded once per call, instead of as a dict. ``id_prefix``: the
        file's (``Follower.id_prefix``); each entry's id is it and the entry's end offset ("": no ids)."""
        if self.json:
            make = self.make
            pairs = [(make(e.text, path, e.line, now, line_id(id_prefix, e.end) if id_prefix else None), i)
                     for i, e in enumerate(entries) if e.text.strip()]
            return [event for event, _ in pairs], [i for _, i in pairs]
        events: list[Event | bytes] = []
        owners: list[int] = []
        stamp = iso_utc(now)
        action, host, static = self.action, self.host, self.static_fields
        search, levels = _LEVEL_WORD.search, _LEVELS
        template = self._template(path, stamp, bool(id_prefix)) if encode_max_bytes > 0 else None
        # a character takes at most 6 bytes in JSON (\\u001f); the line number at most 20
        below = 0 if template is None else (encode_max_bytes - template.fixed_bytes - 40) // 6
        for index, (text, line, end_offset) in enumerate(entries):
            if not text or ((text[0].isspace() or text[-1].isspace()) and not text.strip()):
                continue
            match = search(text, 0, _SCAN)
            level = levels[match.group(1).lower()] if match else DEFAULT_TYPE
            if template is not None and len(text) < below:
                head, types, middle, tail, end, last, _ = template
                try:
                    msg = dumps_text(text)
                except (TypeError, ValueError):  # a lone surrogate: dumps repairs it
                    msg = dumps(text)
                record_id = b"%s%x" % (id_prefix.encode(), end_offset) if id_prefix else b""
                events.append(b"".join((head, types[level], middle, msg, tail, b"%d" % line, end, record_id, last)))
            else:
                event: Event = {"type": level, "action": action, "time": stamp, "msg": text,
                                "fields": {"path": path}, "funcName": "", "logger": None, "host": host,
                                "pid": None, "thread": None, "file": path, "line": line}
                if id_prefix:
                    event[ID_KEY] = line_id(id_prefix, end_offset)
                if static:
                    event.update(static)
                events.append(event)
            owners.append(index)
        return events, owners

    def encode_plain(self, read: PlainRead, path: str, now: float, encode_max_bytes: int,
                     id_prefix: str = "") -> list[bytes] | None:
        """The JSON records of plain lines (``LineSplitter.feed_plain``: ASCII, nothing to escape, each shorter
        than the level scan), all read at ``now``: the bytes :meth:`make_many` gives for
        them, built without a Python step per line. None if the template does not apply (then make_many)."""
        if self.json or encode_max_bytes <= 0:
            return None
        template = self._template(path, iso_utc(now), bool(id_prefix))
        if template is None or (encode_max_bytes - template.fixed_bytes - 40) // 6 <= _SCAN:
            return None
        lines, first = read.lines, read.first
        head, types, middle, tail, end, last, _ = template
        by_word = self._by_word(types)
        none = by_word[b""]
        # lines are shorter than _SCAN: an unbounded search is the same as the bounded one
        found = [by_word[match[1]] if match else none for match in map(_LEVEL_WORD_BYTES.search, lines)]
        numbers = map(b"%d".__mod__, range(first, first + len(lines)))
        if not id_prefix:
            return list(map(b"".join, zip(repeat(head), found, repeat(middle + b'"'), lines, repeat(b'"' + tail),
                                          numbers, repeat(end + last))))
        ends = accumulate((len(line) + 1 for line in lines), initial=read.start)
        next(ends)
        ids = map((id_prefix.encode() + b"%x").__mod__, ends)
        return list(map(b"".join, zip(repeat(head), found, repeat(middle + b'"'), lines, repeat(b'"' + tail),
                                      numbers, repeat(end), ids, repeat(last))))

    @staticmethod
    def _by_word(types: dict[str, bytes]) -> dict[bytes, bytes]:
        """Each level word (as found in bytes; b"": none) -> its type's JSON."""
        by_word = {word.encode(): types[_LEVELS[word.lower()]] for word in _WORDS.split("|")}
        by_word[b""] = types[DEFAULT_TYPE]
        return by_word

    def _template(self, path: str, stamp: str, with_id: bool = False) -> _Template | None:
        """The event of ``path`` at ``stamp`` encoded with stand-ins for its type, msg, line and id (the id's
        quotes stay in the template), cut around them; None if the static fields replace one of those (then
        each event is encoded whole)."""
        event: Event = {"type": _STAND_IN[0], "action": self.action, "time": stamp, "msg": _STAND_IN[1],
                        "fields": {"path": path}, "funcName": "", "logger": None, "host": self.host, "pid": None,
                        "thread": None, "file": path, "line": _STAND_IN[2]}
        if with_id:
            event[ID_KEY] = _STAND_IN[3]
        event.update(self.static_fields)
        encoded = dumps(event)
        marks = [dumps(stand_in) for stand_in in _STAND_IN[:3]]
        if with_id:
            marks.append(dumps(_STAND_IN[3])[1:-1])  # inside its quotes
        else:
            encoded += b"\0"  # an empty id at the end: cut below like the others
            marks.append(b"\0")
        spots = [encoded.find(mark) for mark in marks]
        if any(encoded.count(mark) != 1 for mark in marks) or not spots[0] < spots[1] < spots[2] < spots[3]:
            return None
        cuts = [0, *(p for spot, mark in zip(spots, marks, strict=True) for p in (spot, spot + len(mark))),
                len(encoded)]
        head, middle, tail, end, last = (encoded[cuts[i]:cuts[i + 1]] for i in range(0, len(cuts), 2))
        types = {level: dumps(level) for level in {*_LEVELS.values(), DEFAULT_TYPE}}
        # room for an id: the prefix and up to 16 hex digits
        return _Template(head, types, middle, tail, end, last, len(encoded) - sum(map(len, marks)) + 48)
