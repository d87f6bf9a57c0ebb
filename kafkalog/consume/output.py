"""The output formats: ``ndjson`` (one JSON object per line, for ``jq`` and pipes), ``raw`` (the value as
stored) and ``pretty`` (:mod:`.pretty`). Each turns one message into the bytes of its line(s)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

from .pretty import PrettyFormat
from .reader import Message
from .view import View, decode_text, json_object, loads

FORMATS = ("pretty", "ndjson", "raw")


class Format(Protocol):
    needs_view: bool
    """Whether :meth:`line` reads the parsed view (``raw`` does not, so it can skip parsing)."""

    def line(self, message: Message, view: View | None) -> bytes: ...

    def lines(self, messages: Sequence[Message]) -> bytes:
        """The lines of every message, for a run that needs no view (no filter): the same bytes as joining
        :meth:`line` of each, with less work per record."""
        ...


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8", "surrogatepass")


def kafka_meta(topic: str, message: Message) -> dict[str, Any]:
    key = None if message.key is None else message.key.decode("utf-8", "backslashreplace")
    return {"topic": topic, "partition": message.partition, "offset": message.offset,
            "timestamp": message.timestamp, "key": key}


class NdjsonFormat:
    """A stored JSON object is written as it is (one line already: kafkalog writes compact JSON); anything else
    becomes ``{"raw": <text>, "_kafka": {topic, partition, offset, timestamp, key}}``, never dropped. ``meta``
    adds ``_kafka`` to every object."""

    needs_view = False  # it needs to know only whether the value is a JSON object

    def __init__(self, topic: str, *, meta: bool = False) -> None:
        self.topic = topic
        self.meta = meta

    def line(self, message: Message, view: View | None) -> bytes:
        record = json_object(message.value) if view is None else (view.record if view.kind != "raw" else None)
        return self.record_line(message, record)

    def record_line(self, message: Message, record: dict[str, Any] | None) -> bytes:
        """The line of a message whose value's JSON object (None: not one) has been read already."""
        value = message.value
        if record is None or value is None:
            text = None if value is None else decode_text(value)
            return _dumps({"raw": text, "_kafka": kafka_meta(self.topic, message)}) + b"\n"
        if self.meta:
            return _dumps({**record, "_kafka": kafka_meta(self.topic, message)}) + b"\n"
        if b"\n" in value or b"\r" in value:
            return _dumps(record) + b"\n"
        return value + b"\n"

    def lines(self, messages: Sequence[Message]) -> bytes:
        if self.meta:
            return b"".join([self.line(m, None) for m in messages])
        out: list[bytes] = []
        append = out.append
        for message in messages:
            value = message.value
            if value and b"\n" not in value and b"\r" not in value:
                try:  # a stored one-line JSON object, the usual case, is written as it is
                    if type(loads(value)) is dict:
                        append(value)
                        continue
                except (ValueError, TypeError):
                    pass
            append(self.line(message, None)[:-1])  # anything else takes the general way
        out.append(b"")
        return b"\n".join(out)


class RawFormat:
    """The value's bytes as stored, then a newline (an empty line for a message without a value)."""

    needs_view = False

    def line(self, message: Message, view: View | None) -> bytes:
        return (message.value or b"") + b"\n"

    def lines(self, messages: Sequence[Message]) -> bytes:
        return b"\n".join([m.value or b"" for m in messages] + [b""])


def make_format(name: str, *, topic: str, color: bool, meta: bool) -> Format:
    if name == "raw":
        return RawFormat()
    if name == "ndjson":
        return NdjsonFormat(topic, meta=meta)
    return PrettyFormat(color=color, meta=meta)
