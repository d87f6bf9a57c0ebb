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
from typing import Any

from .._records import iso_utc
from ..typing import Event
from ._lines import Entry

_LEVEL_WORD = re.compile(
    r"\b(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|CRITICAL|CRIT|FATAL|SEVERE|PANIC|"
    r"trace|debug|info|notice|warn|warning|error|critical|fatal)\b")
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
    """Builds events for one input; the per-input constants are bound once."""

    def __init__(self, *, host: str, fmt: str, static_fields: Mapping[str, Any], action: str = "log") -> None:
        self.host = host
        self.json = fmt == "json"
        self.static_fields = dict(static_fields)
        self.action = action

    def make(self, text: str, path: str, line: int, now: float) -> Event:
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
        if self.static_fields:
            event.update(self.static_fields)
        return event

    def make_many(self, entries: Sequence[Entry], path: str, now: float) -> tuple[list[Event], list[int]]:
        """Events for the non-blank ``entries`` of one read (all read at ``now``), and each one's index in
        ``entries``. Plain text takes a lean path: the constant parts of the event are built once per call."""
        if self.json:
            make = self.make
            pairs = [(make(e.text, path, e.line, now), i) for i, e in enumerate(entries) if e.text.strip()]
            return [event for event, _ in pairs], [i for _, i in pairs]
        events: list[Event] = []
        owners: list[int] = []
        stamp = iso_utc(now)
        action, host, static = self.action, self.host, self.static_fields
        search, levels = _LEVEL_WORD.search, _LEVELS
        for index, (text, line, _) in enumerate(entries):
            if not text or ((text[0].isspace() or text[-1].isspace()) and not text.strip()):
                continue
            match = search(text, 0, _SCAN)
            event: Event = {"type": levels[match.group(1).lower()] if match else DEFAULT_TYPE, "action": action,
                            "time": stamp, "msg": text, "fields": {"path": path}, "funcName": "",
                            "logger": None, "host": host, "pid": None, "thread": None, "file": path, "line": line}
            if static:
                event.update(static)
            events.append(event)
            owners.append(index)
        return events, owners
