"""The confluent-kafka reader (``--transport confluent``): librdkafka fetches and decodes in C, so it reads faster.

Manual assignment, as the kafka-python reader: a ``--group`` only remembers positions, it is never joined.
librdkafka insists on a ``group.id`` even then; without ``--group`` one is set that nothing commits to.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from .._librdkafka_names import hint, unknown_property
from .._secrets import scrub
from .reader import ConsumeError, Message, ReaderSettings, client_errors

DEFAULTS: dict[str, Any] = {
    "fetch.wait.max.ms": 200,
    "client.id": "kafkalog-consume",
    "queued.max.messages.kbytes": 256 * 1024,
    "fetch.max.bytes": 64 * 1024 * 1024,
    "max.partition.fetch.bytes": 8 * 1024 * 1024,
    # librdkafka stops fetching once queued.min.messages (100,000) are queued and, by default, waits a whole
    # second before it looks again: a bulk read stalled there for most of that second each time
    "fetch.queue.backoff.ms": 10,
}
OWNED = ("bootstrap.servers", "group.id", "enable.auto.commit", "enable.auto.offset.store", "enable.partition.eof",
         "allow.auto.create.topics", "error_cb")
BATCH = 10_000
NO_GROUP = "kafkalog-consume-unused"
_NO_OFFSET = -1001  # librdkafka's OFFSET_INVALID: nothing committed, no answer


def _quiet_logger() -> logging.Logger:
    log = logging.getLogger("kafkalog.consume.librdkafka")
    log.propagate = False
    log.addHandler(logging.NullHandler())
    return log


def check_names(config: Mapping[str, Any]) -> None:
    """Raise :class:`ConsumeError` for an option librdkafka does not know, with the closest one it does: a consumer
    built without servers (no network) and dropped, so a misspelt ``-X`` is reported before anything connects."""
    try:
        from confluent_kafka import Consumer, KafkaException
    except ImportError:
        return  # the reader says how to install it
    try:
        consumer = Consumer({**config, "group.id": NO_GROUP, "logger": _quiet_logger()})
    except KafkaException as exc:
        unknown = unknown_property(str(exc))
        if unknown is not None:
            raise ConsumeError(f"consumer config: unknown librdkafka option {unknown!r}"
                               f"{hint(str(exc), 'consumer')}") from None
        return  # other rejections: the reader reports them with their text
    except Exception:
        return
    consumer.close()


class ConfluentReader:
    def __init__(self, settings: ReaderSettings) -> None:
        self._settings = settings
        settings.refuse(OWNED)
        self._fatal: str | None = None
        self._last_error: str | None = None
        check_names(settings.client_config)
        with self._errors("creating the consumer"):
            from confluent_kafka import Consumer, KafkaError, TopicPartition

            self._tp = TopicPartition
            self._eof = KafkaError._PARTITION_EOF
            self._auth = (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED)
            self._consumer = Consumer({
                **DEFAULTS, **settings.client_config, "bootstrap.servers": settings.bootstrap_servers,
                "group.id": settings.group or NO_GROUP, "enable.auto.commit": False,
                "enable.auto.offset.store": False, "enable.partition.eof": True,
                "allow.auto.create.topics": False, "error_cb": self._on_error,
                # librdkafka's own log lines go to a logger, not straight to stderr: errors end the run instead
                "logger": _quiet_logger()})
        self._next: dict[int, int] = {}

    def _on_error(self, error: Any) -> None:
        # librdkafka retries connection trouble by itself; only what it cannot get past ends the run
        text = scrub(error.str(), self._settings.secrets)
        self._last_error = text
        if error.fatal() or error.code() in self._auth:
            self._fatal = text

    def _errors(self, doing: str) -> AbstractContextManager[None]:
        return client_errors(doing, self._settings.secrets, fatal=lambda: self._fatal,
                             missing="--transport confluent needs confluent-kafka: pip install confluent-kafka (or the "
                                     "extra: pip install 'kafkalog[confluent]')")

    def open(self) -> dict[int, int]:
        topic, timeout = self._settings.topic, self._settings.timeout
        deadline = time.monotonic() + timeout
        with self._errors(f"reading topic {topic!r}"):
            while True:
                meta = self._consumer.list_topics(topic, timeout=timeout).topics.get(topic)
                if meta is not None and meta.error is None and meta.partitions:
                    break
                if time.monotonic() >= deadline or self._fatal is not None:
                    why = f" ({self._last_error})" if self._last_error else ""
                    raise ConsumeError(f"topic {topic!r} not found (or not authorized) at "
                                       f"{self._settings.bootstrap_servers}{why}")
                time.sleep(0.2)
            ids = sorted(meta.partitions)
            start = self._settings.start
            marks = {p: self._consumer.get_watermark_offsets(self._tp(topic, p), timeout=timeout) for p in ids}
            at_time: dict[int, int | None] = dict.fromkeys(ids)
            if start.kind == "time":
                found = self._consumer.offsets_for_times([self._tp(topic, p, start.value) for p in ids],
                                                         timeout=timeout)
                at_time = {tp.partition: (tp.offset if tp.offset >= 0 else None) for tp in found}
            committed: dict[int, int] = {}
            if self._settings.group is not None:
                for tp in self._consumer.committed([self._tp(topic, p) for p in ids], timeout=timeout):
                    if tp.offset >= 0:
                        committed[tp.partition] = tp.offset
            for p in ids:
                low, high = marks[p]
                self._next[p] = (min(max(committed[p], low), high) if p in committed  # retention may have
                                 else start.resolve(low, high, at_time[p]))  # removed what the group had reached
            self._consumer.assign([self._tp(topic, p, self._next[p]) for p in ids])
            return {p: int(marks[p][1]) for p in ids}

    def poll(self, timeout: float) -> Sequence[Message]:
        with self._errors("reading"):
            # consume() waits for a full batch or the timeout: take what is queued, and wait for one if nothing is
            batch = self._consumer.consume(BATCH, 0)
            if not batch:
                first = self._consumer.poll(timeout)
                batch = [first, *self._consumer.consume(BATCH, 0)] if first is not None else []
        new = tuple.__new__  # Message's own __new__ is a Python function: one frame per record more
        out: list[Message] = [new(Message, (m.partition(), m.offset(), m.timestamp()[1], m.key(), m.value()))
                              for m in batch if m.error() is None]
        self._next.update({m.partition: m.offset + 1 for m in out})
        if len(out) != len(batch):
            self._errors_in(batch)
        return out

    def _errors_in(self, batch: Sequence[Any]) -> None:
        """End-of-partition events move the position (past any gap at the end); real errors end the run."""
        for m in batch:
            error = m.error()
            if error is None:
                continue
            if error.code() == self._eof:
                self._next[m.partition()] = max(self._next[m.partition()], m.offset())
            elif error.fatal() or not error.retriable():
                raise ConsumeError(f"reading: {scrub(str(error), self._settings.secrets)}")

    def position(self, partition: int) -> int:
        return self._next[partition]

    def commit(self, offsets: Mapping[int, int]) -> None:
        if not offsets:
            return
        topic = self._settings.topic
        with self._errors(f"committing offsets for group {self._settings.group!r}"):
            answer = self._consumer.commit(offsets=[self._tp(topic, p, o) for p, o in offsets.items()],
                                           asynchronous=False)
            failed = [tp for tp in answer or () if tp.error is not None]
            if failed:
                raise ConsumeError(f"committing offsets for group {self._settings.group!r}: {failed[0].error}")

    def close(self) -> None:
        try:
            self._consumer.close()
        except Exception:
            pass  # closing after an error: nothing left to save
