"""What the handler and the sink share: the intake turns an event into a routed, encoded message and queues it.

It runs on the application's thread and never ships anything itself: the :class:`~kafkalog._worker.Worker`
behind it does.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import threading
from collections.abc import Sequence
from itertools import repeat
from typing import TYPE_CHECKING

from ._encode import dumps, encode_event
from ._levels import follow_levels
from ._records import RecordBuilder
from ._stats import Stats
from ._worker import CloseReport, Worker
from .config import KafkaLogConfig
from .errors import Reason
from .flood import Flood
from .schemas import encode_mapped, mapper_for, serialized
from .typing import Event, Message

if TYPE_CHECKING:
    from .collector import Collector

CLIENT_LOGGER = "kafka"
_new_message = functools.partial(tuple.__new__, Message)  # Message((...)) without namedtuple's Python __new__


def is_client_logger(name: str) -> bool:
    """True for kafka-python's own loggers (``kafka`` and ``kafka.*``; not ``kafkalog`` or ``kafka_app``)."""
    return name == CLIENT_LOGGER or name.startswith("kafka.")


class Intake:
    """Routes and encodes events on the caller's thread and queues them for the worker; the adapters' one door."""

    def __init__(self, config: KafkaLogConfig, *, acked: bool = False) -> None:
        """``acked``: see :class:`~kafkalog._worker.Worker` (``kafkalog tail`` without its spool)."""
        self.config = config
        self.builder = RecordBuilder(host=config.host, default_action=config.default_action,
                                     static_fields=config.static_fields, trace_ids=config.trace_ids)
        self.worker = Worker(config, config.fixed_topic or "dynamic-topic", acked=acked)
        # None for the default schema: its events are encoded as they are, with no extra step
        self.to_schema = mapper_for(config.schema, config.static_fields)
        self.redactor = config.redactor
        limit = config.rate_limiter
        self.flood = Flood(limit, self.ship) if limit else None
        self.levels = follow_levels(config, self.report) if config.levels_from else None
        self.parent_collector: Collector | None = None
        if config.prefork_collector:  # forked children hand their records to this process
            from .collector._parent import start_parent_collector
            self.parent_collector = start_parent_collector(self.worker)

    def own_thread(self, ident: int | None = None) -> bool:
        """True on the worker's own threads, whose records (client internals) must never be shipped.

        ``ident`` is the caller's thread id when already known (``LogRecord.thread``), which saves a lookup.
        """
        return (threading.get_ident() if ident is None else ident) in self.worker.thread_idents

    def ship(self, event: Event | str, created: float, level: int = 0, topic: str | None = None) -> bool:
        """Queue one record; False if it was dropped (counted). ``event`` is an event dict, or the text a custom
        formatter produced; ``level`` is its level number (stdlib's and loguru's agree), which picks the
        ``overflow`` policy when the queue is full; ``topic`` overrides the configured one (``kafkalog tail``: one
        topic per input)."""
        message = self.message_for(event, created, topic)
        return message is not None and self.worker.put(message, level)

    def encodes_as_is(self, topic: str | None) -> bool:
        """True if an event to ``topic`` is shipped exactly as ``dumps`` encodes it: the default schema, no key
        or headers taken from it, a topic known without it. Then :meth:`ship_many` takes it encoded."""
        config = self.config
        return self.to_schema is None and config.key_for is None and config.headers_for is None \
            and self.redactor is None and bool(topic or config.fixed_topic)

    def ship_many(self, events: Sequence[Event | bytes], created: float, topic: str | None = None) -> int:
        """Queue many records in one go, each encoded as :meth:`ship` does (``kafkalog tail``: the lines of one
        chunk read, put with one lock round and one spool write). An event given as bytes is its JSON already
        (only where :meth:`encodes_as_is`; at most ``max_message_bytes``). Returns how many of ``events`` were handled
        (queued, or dropped and counted) before the first the worker refused because it is closing or (under
        ``spool_full_policy="block"``) a disk error kept off the disk: the caller keeps that one and those after it
        (they are counted as dropped ``closed`` or ``spool_error``, and read again)."""
        messages: list[Message] = []
        owners: list[int] = []  # the index in ``events`` of each message
        message_for = self.message_for
        new_message = _new_message
        timestamp_ms = int(created * 1000)
        fixed = topic or self.config.fixed_topic
        for index, event in enumerate(events):
            if isinstance(event, bytes):
                if fixed is None or len(event) > self.config.max_message_bytes:
                    raise ValueError("ship_many: encoded events need a fixed topic and max_message_bytes")
                messages.append(new_message((fixed, None, event, timestamp_ms, None)))
                owners.append(index)
                continue
            message = message_for(event, created, topic)
            if message is not None:
                messages.append(message)
                owners.append(index)
        if not messages:
            return len(events)
        done = self.worker.put_many(messages)
        return len(events) if done >= len(messages) else owners[done]

    def ship_encoded(self, records: list[bytes], created: float, topic: str | None = None) -> int:
        """:meth:`ship_many` for records all given as their JSON (only where :meth:`encodes_as_is`; each at most
        ``max_message_bytes``), without a Python step per record. Returns how many were handled, as ship_many."""
        fixed = topic or self.config.fixed_topic
        if fixed is None:
            raise ValueError("ship_encoded: encoded events need a fixed topic")
        timestamp_ms = int(created * 1000)
        messages = list(map(_new_message, zip(repeat(fixed), repeat(None), records, repeat(timestamp_ms),
                                              repeat(None))))
        return self.worker.put_many(messages) if messages else 0

    def message_for(self, event: Event | str, created: float, topic: str | None = None) -> Message | None:
        """The routed, encoded record for ``event``; None if it cannot be shipped (dropped and counted)."""
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
                        self.worker.count_truncated()
        if data is None:
            self.drop(Reason.TOO_LARGE, f"a record over max_message_bytes={config.max_message_bytes} was dropped")
            return None
        topic = topic or config.fixed_topic or config.topic_for(routing)
        key = config.key_for(routing) if config.key_for is not None else None
        if config.headers_for is None:
            return Message(topic, key, data, int(created * 1000))
        return Message(topic, key, data, int(created * 1000), config.headers_for(routing))

    def drop(self, reason: str, message: str | None = None) -> None:
        """Count a record the adapter could not even build or ship; report why, if ``message`` says."""
        self.worker.count_drop(reason)
        if message is not None:
            self.worker.report(reason, message)

    def report(self, kind: str, message: str) -> None:
        """Report a problem found on the application's thread (rate-limited, written by the worker)."""
        self.worker.report(kind, message)

    def flush(self, timeout: float | None) -> bool:
        return self.worker.flush(timeout)

    def close(self, timeout: float | None) -> CloseReport:
        if self.flood is not None:  # what was held back is summarised now, before the queue drains
            self.flood.sweep(everything=True)
        if self.levels is not None:
            self.levels.stop()
        if self.parent_collector is not None and self.parent_collector.owner_pid == os.getpid():
            return self.parent_collector.close(timeout)  # stops listening, then closes the worker
        return self.worker.close(timeout)

    def stats(self) -> Stats:
        stats = self.worker.stats()
        redactor, flood = self.redactor, self.flood
        if redactor is not None:
            stats = dataclasses.replace(stats, redacted=redactor.redacted, redact_errors=redactor.failed)
        if flood is not None:
            stats = dataclasses.replace(stats, suppressed=flood.suppressed, rate_limit_overflow=flood.overflow)
        return stats

    def describe(self) -> str:
        topic = self.config.fixed_topic or "<per-record topic>"
        where = f"collector {self.config.collector}" if self.config.collector else ",".join(self.config.servers)
        return f"{topic} @ {where}"
