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
from itertools import accumulate
from typing import Any

from .._encode_lines import LineTemplate, line_template
from .._ids import line_id
from .._messages import Messages
from .._records import RecordBuilder, iso_utc
from ..typing import Event, Message
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


def level_of(text: str) -> str | None:
    """The contract's ``type`` for the first level word near the start of ``text``, or None."""
    match = _LEVEL_WORD.search(text, 0, _SCAN)
    return _LEVELS[match.group(1).lower()] if match else None


class EventMaker:
    """Builds the records of one input, through the record contract's builder and encoder; the per-input
    constants are bound once."""

    def __init__(self, *, host: str, fmt: str, static_fields: Mapping[str, Any], action: str = "log",
                 messages: Messages | None = None, topic: str | None = None) -> None:
        """``messages``: the shipper's encoder, and ``topic`` the input's, for :meth:`plain_messages` and
        :meth:`entry_messages`."""
        self.json = fmt == "json"
        self.builder = RecordBuilder(host=host, default_action=action, static_fields=static_fields,
                                     trace_ids=False)
        self.messages = messages
        self.topic = topic

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
        return self.builder.from_line(level, iso_utc(now), msg, path, line, record_id=record_id, fields=fields)

    def make_many(self, entries: Sequence[Entry], path: str, now: float, encode_max_bytes: int = 0,
                  id_prefix: str = "") -> tuple[list[Event | bytes], list[int]]:
        """Events for the non-blank ``entries`` of one read (all read at ``now``), and each one's index in
        ``entries``. Plain text takes a lean path: the constant parts of the event are built once per call.

        ``encode_max_bytes`` > 0 (:meth:`~kafkalog._messages.Messages.encoded_limit`): a plain text entry whose
        record surely fits in that many bytes comes back as the JSON bytes ``dumps`` gives for its event
        (:class:`~kafkalog._encode_lines.LineTemplate`) instead of as a dict. ``id_prefix``: the file's
        (``Follower.id_prefix``); each entry's id is it and the entry's end offset ("": no ids)."""
        if self.json:
            make = self.make
            pairs = [(make(e.text, path, e.line, now, line_id(id_prefix, e.end) if id_prefix else None), i)
                     for i, e in enumerate(entries) if e.text.strip()]
            return [event for event, _ in pairs], [i for _, i in pairs]
        events: list[Event | bytes] = []
        owners: list[int] = []
        stamp = iso_utc(now)
        from_line = self.builder.from_line
        search, levels = _LEVEL_WORD.search, _LEVELS
        template = self._template(path, stamp, bool(id_prefix)) if encode_max_bytes > 0 else None
        below = 0 if template is None else template.longest(encode_max_bytes)
        encode = None if template is None else template.encode
        prefix = id_prefix.encode()
        for index, (text, line, end_offset) in enumerate(entries):
            if not text or ((text[0].isspace() or text[-1].isspace()) and not text.strip()):
                continue
            match = search(text, 0, _SCAN)
            level = levels[match.group(1).lower()] if match else DEFAULT_TYPE
            if encode is not None and len(text) < below:
                events.append(encode(level, text, line, b"%s%x" % (prefix, end_offset) if id_prefix else b""))
            else:
                events.append(from_line(level, stamp, text, path, line,
                                        record_id=line_id(id_prefix, end_offset) if id_prefix else None))
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
        if template is None or template.longest(encode_max_bytes) <= _SCAN:
            return None
        lines, first = read.lines, read.first
        by_word = _by_word(template.types)
        none = by_word[b""]
        # lines are shorter than _SCAN: an unbounded search is the same as the bounded one
        found = [by_word[match[1]] if match else none for match in map(_LEVEL_WORD_BYTES.search, lines)]
        if not id_prefix:
            return template.encode_plain(found, lines, first, None)
        ends = accumulate((len(line) + 1 for line in lines), initial=read.start)
        next(ends)
        return template.encode_plain(found, lines, first, map((id_prefix.encode() + b"%x").__mod__, ends))

    def plain_messages(self, read: PlainRead, path: str, now: float, id_prefix: str = "") -> list[Message] | None:
        """The messages of a plain read (:meth:`encode_plain`), or None if it does not apply (then
        :meth:`entry_messages` with ``read.entries()``)."""
        messages, topic = self._encoder(), self.topic
        records = self.encode_plain(read, path, now, messages.encoded_limit(topic), id_prefix)
        return None if records is None else messages.of_encoded(records, now, topic)

    def entry_messages(self, entries: Sequence[Entry], path: str, now: float,
                       id_prefix: str = "") -> tuple[list[Message], list[int], int]:
        """The messages of the non-blank ``entries`` of one read, each encoded and routed as the handler's are
        (those too large are dropped and counted by the encoder); the index in ``entries`` of each; and how many
        entries were not blank."""
        messages, topic = self._encoder(), self.topic
        events, owners = self.make_many(entries, path, now, messages.encoded_limit(topic), id_prefix)
        sent, event_of = messages.many(events, now, topic)
        return sent, [owners[i] for i in event_of], len(events)

    def _encoder(self) -> Messages:
        if self.messages is None:
            raise ValueError("EventMaker: messages need the shipper's encoder (messages=)")
        return self.messages

    def _template(self, path: str, stamp: str, with_id: bool = False) -> LineTemplate | None:
        return line_template(self.builder, path, stamp, _TYPES, with_id)


_TYPES = frozenset({*_LEVELS.values(), DEFAULT_TYPE})


def _by_word(types: dict[str, bytes]) -> dict[bytes, bytes]:
    """Each level word (as found in bytes; b"": none) -> its type's JSON."""
    by_word = {word.encode(): types[_LEVELS[word.lower()]] for word in _WORDS.split("|")}
    by_word[b""] = types[DEFAULT_TYPE]
    return by_word
