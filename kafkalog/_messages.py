"""Event -> the routed, encoded :class:`~kafkalog.typing.Message` that is sent: redaction, the output schema, the
size policy, topic, key and headers, in one place for every producer of records.

The handler, the sink and the processor (through :class:`~kafkalog._intake.Intake`), ``kafkalog tail`` and
``kafkalog check``'s probe all encode here, so a record is the same bytes whichever door it came in by. It owns no
worker and no thread: what it cannot ship it hands to ``on_drop``, and a record it had to cut to ``on_truncated``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from itertools import repeat

from ._encode import dumps, encode_event
from .config import KafkaLogConfig
from .errors import Reason
from .schemas import encode_mapped, mapper_for, serialized
from .typing import Event, Message

_new_message = functools.partial(tuple.__new__, Message)  # Message((...)) without namedtuple's Python __new__


class Messages:
    """Encodes and routes events by one configuration; pure but for the two callbacks."""

    def __init__(self, config: KafkaLogConfig, *, on_drop: Callable[[str, str], None],
                 on_truncated: Callable[[], None]) -> None:
        """``on_drop(reason, message)``: a record that cannot be shipped (counted and reported by the caller);
        ``on_truncated()``: a record cut down to ``max_message_bytes`` (``oversize="truncate"``)."""
        self.config = config
        # None for the default schema: its events are encoded as they are, with no extra step
        self.to_schema = mapper_for(config.schema, config.static_fields)
        self.redactor = config.redactor
        self.on_drop = on_drop
        self.on_truncated = on_truncated

    def message_for(self, event: Event | str, created: float, topic: str | None = None) -> Message | None:
        """The routed, encoded record for ``event``; None if it cannot be shipped (given to ``on_drop``).
        ``event`` is an event dict, or the text a custom formatter produced."""
        config = self.config
        limit = config.max_message_bytes
        data: bytes | None
        if self.redactor is not None:  # before anything is encoded, queued or spooled
            event = self.redactor.safe_text(event) if isinstance(event, str) else self.redactor.event(event)
        if isinstance(event, str):
            routing: Event = {}
            data = event.encode("utf-8", "backslashreplace")
            if len(data) > limit:
                data = None
        else:
            routing = event
            to_schema = self.to_schema
            data = dumps(event) if to_schema is None else serialized(event, to_schema)
            if len(data) > limit:  # rare: cut it down (or drop it) by the oversize policy
                data = None
                if config.oversize == "truncate":
                    data = (encode_event(event, limit) if to_schema is None
                            else encode_mapped(event, to_schema, limit)).data
                    if data is not None:
                        self.on_truncated()
        if data is None:
            self.on_drop(Reason.TOO_LARGE, f"a record over max_message_bytes={config.max_message_bytes} was dropped")
            return None
        topic = topic or config.fixed_topic or config.topic_for(routing)
        key = config.key_for(routing) if config.key_for is not None else None
        if config.headers_for is None:
            return Message(topic, key, data, int(created * 1000))
        return Message(topic, key, data, int(created * 1000), config.headers_for(routing))

    def encoded_limit(self, topic: str | None) -> int:
        """``max_message_bytes`` if an event to ``topic`` is sent exactly as ``dumps`` encodes it (the default
        schema, no redaction, no key or headers taken from it, a topic known without it), else 0. Then the
        encoder may splice such events' JSON together itself (:mod:`._encode_lines`) and hand over bytes."""
        config = self.config
        as_is = self.to_schema is None and config.key_for is None and config.headers_for is None \
            and self.redactor is None and bool(topic or config.fixed_topic)
        return config.max_message_bytes if as_is else 0

    def many(self, events: Sequence[Event | bytes], created: float,
             topic: str | None = None) -> tuple[list[Message], list[int]]:
        """The messages of ``events`` (all created at ``created``), each as :meth:`message_for` makes it, and the
        index in ``events`` of each (those dropped have none). An event given as bytes is its JSON already (only
        where :meth:`encoded_limit` allows, and at most that long)."""
        messages: list[Message] = []
        owners: list[int] = []
        message_for = self.message_for
        new_message = _new_message
        timestamp_ms = int(created * 1000)
        fixed = topic or self.config.fixed_topic
        for index, event in enumerate(events):
            if isinstance(event, bytes):
                if fixed is None or len(event) > self.config.max_message_bytes:
                    raise ValueError("encoded events need a fixed topic and at most max_message_bytes")
                messages.append(new_message((fixed, None, event, timestamp_ms, None)))
                owners.append(index)
                continue
            message = message_for(event, created, topic)
            if message is not None:
                messages.append(message)
                owners.append(index)
        return messages, owners

    def of_encoded(self, records: list[bytes], created: float, topic: str | None = None) -> list[Message]:
        """:meth:`many` for records all given as their JSON, without a Python step per record."""
        fixed = topic or self.config.fixed_topic
        if fixed is None:
            raise ValueError("encoded events need a fixed topic")
        timestamp_ms = int(created * 1000)
        return list(map(_new_message, zip(repeat(fixed), repeat(None), records, repeat(timestamp_ms), repeat(None))))
