"""``--dedup``: drop a record whose id was seen among the last N ids (kafkalog delivers at least once).

The id is read where each schema puts it: ``id`` (the default record), ``event.id`` (ECS), the ``log.record.uid``
attribute (OTLP/JSON). A value without an id (not JSON, not a kafkalog record, or written before ids existed) is
never dropped. The window is bounded: past ``window`` ids the oldest is forgotten, so a repeat that arrives
later than that is written again (a retry or replay normally comes seconds after the first copy, a few thousand
records at most).
"""

from __future__ import annotations

from collections import deque
from typing import Any

DEFAULT_WINDOW = 1_000_000
"""Ids remembered by default: about 120 MB of memory (measured: ~115 bytes per id, the id string, a set entry and
a deque slot)."""

_UID = "log.record.uid"


def record_id(record: Any) -> str | None:
    """The id of a parsed record in any of kafkalog's schemas, or None when it has none."""
    if type(record) is not dict:
        return None
    found = record.get("id")
    if type(found) is str:
        return found
    event = record.get("event")
    if type(event) is dict and type(event.get("id")) is str:
        return str(event["id"])
    return _otlp_id(record.get("resourceLogs"))


def _otlp_id(resource_logs: Any) -> str | None:
    try:
        attributes = resource_logs[0]["scopeLogs"][0]["logRecords"][0]["attributes"]
        for attribute in attributes:
            if attribute.get("key") == _UID:
                value = attribute["value"].get("stringValue")
                return value if type(value) is str else None
    except (TypeError, KeyError, IndexError, AttributeError):
        return None
    return None


class Dedup:
    """The last ``window`` ids seen: :meth:`repeat` tells whether an id is among them (and remembers it)."""

    __slots__ = ("_order", "_seen", "dropped", "window")

    def __init__(self, window: int = DEFAULT_WINDOW) -> None:
        if window < 1:
            raise ValueError(f"--dedup-window: expected a positive number, got {window}")
        self.window = window
        self._seen: set[str] = set()
        self._order: deque[str] = deque()
        self.dropped = 0

    def repeat(self, record_id: str | None) -> bool:
        """True if ``record_id`` is among the last ``window`` ids (counted in :attr:`dropped`); None: never."""
        if record_id is None:
            return False
        seen = self._seen
        if record_id in seen:
            self.dropped += 1
            return True
        seen.add(record_id)
        order = self._order
        order.append(record_id)
        if len(order) > self.window:
            seen.discard(order.popleft())
        return False
