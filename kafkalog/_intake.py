"""What the handler, the sink and the processor share: the intake has an event encoded and routed
(:class:`~kafkalog._messages.Messages`, the same encoder ``kafkalog tail`` and ``kafkalog check`` use) and queues it.

It runs on the application's thread and never ships anything itself: the :class:`~kafkalog._worker.Worker`
behind it does.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from ._levels import follow_levels
from ._messages import Messages
from ._records import RecordBuilder
from ._stats import Stats
from ._worker import CloseReport, Worker
from .config import KafkaLogConfig
from .flood import Flood
from .typing import Event, Message

if TYPE_CHECKING:
    from .collector import Collector

CLIENT_LOGGER = "kafka"


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
        self.messages = Messages(config, on_drop=self.drop, on_truncated=self.worker.count_truncated)
        # the encoder's own bound method: no extra call per record
        self.message_for: Callable[[Event | str, float, str | None], Message | None] = self.messages.message_for
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

    def put_many(self, messages: list[Message]) -> int:
        """Queue many messages (made by :attr:`messages`) in one go: ``kafkalog tail``'s lines of one read, put
        with one lock round and one spool write. Returns how many were queued before the first the worker refused
        because it is closing or (under ``spool_full_policy="block"``) a disk error kept off the disk: the caller
        keeps that one and those after it (they are counted as dropped ``closed`` or ``spool_error``)."""
        return self.worker.put_many(messages) if messages else 0

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
