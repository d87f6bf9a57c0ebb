"""Reading a topic back in tests: what the code under test wrote, as records or as JSON dicts.

Consumers use manual ``assign()`` + ``seek_to_beginning()`` rather than a consumer group: no group join or
rebalance to wait for, and nothing committed that could hide records from a later read. kafka-python is imported
inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ConsumedRecord", "count_records", "read_json", "read_records"]

_SETTLE_S = 0.5


@dataclass(frozen=True)
class ConsumedRecord:
    """One record as read from the broker (tombstones have ``value == b""``)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int
    headers: tuple[tuple[str, bytes], ...] = ()

    def json(self) -> dict[str, Any]:
        """The value decoded as a JSON object (AssertionError if it is anything else: a failed test, not a crash)."""
        decoded = json.loads(self.value)
        if not isinstance(decoded, dict):
            raise AssertionError(f"record value is JSON {type(decoded).__name__}, not an object: {self.value!r}")
        return decoded


def _consumer(bootstrap: str, client_config: Mapping[str, Any] | None = None) -> Any:
    from kafka import KafkaConsumer

    return KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=100,
        # responses under 1 MiB: kafka-python 3.0.0 (the oldest supported) cannot receive larger frames
        fetch_max_bytes=512 * 1024,
        max_partition_fetch_bytes=512 * 1024,
        client_id="kafkalog-tests-reader",
        **dict(client_config or {}),
    )


def _partitions(consumer: Any, topic: str, deadline: float) -> list[Any]:
    """All partitions of ``topic``, waiting for them to appear in metadata (empty if they never do)."""
    from kafka import TopicPartition

    while True:
        partitions = consumer.partitions_for_topic(topic)
        if partitions:
            return [TopicPartition(topic, p) for p in sorted(partitions)]
        if time.monotonic() >= deadline:
            return []
        time.sleep(0.1)


def _to_record(msg: Any) -> ConsumedRecord:
    return ConsumedRecord(
        topic=msg.topic,
        partition=msg.partition,
        offset=msg.offset,
        key=msg.key,
        value=msg.value if msg.value is not None else b"",
        timestamp_ms=msg.timestamp,
        headers=tuple((k, v if v is not None else b"") for k, v in (msg.headers or ())),
    )


def read_records(
    bootstrap: str,
    topic: str,
    expected: int | None = None,
    timeout: float = 30.0,
    client_config: Mapping[str, Any] | None = None,
) -> list[ConsumedRecord]:
    """Read ``topic`` from the beginning until ``expected`` records arrived, or to its end, or ``timeout`` passed.

    With ``expected=None`` it reads up to the end offsets the topic has when the call starts. Returns whatever was
    read, sorted by (partition, offset), so the caller asserts on it (too few records is a failed assertion, not
    an exception). Once ``expected`` is reached it polls ~0.5 s more, so extra (e.g. duplicated) records show up
    in an exact-count assertion. ``client_config`` adds kafka-python consumer options (SASL/SSL settings).
    """
    deadline = time.monotonic() + timeout
    consumer = _consumer(bootstrap, client_config)
    records: list[ConsumedRecord] = []
    try:
        partitions = _partitions(consumer, topic, deadline)
        if not partitions:
            return []
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(partitions) if expected is None else {}

        def poll(timeout_s: float) -> None:
            batches = consumer.poll(timeout_ms=max(1, int(timeout_s * 1000)))
            for batch in batches.values():
                records.extend(_to_record(msg) for msg in batch)

        def done() -> bool:
            if expected is not None:
                return len(records) >= expected
            return all(consumer.position(tp) >= int(ends[tp]) for tp in partitions)

        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            poll(min(0.5, remaining))
        if expected is not None and len(records) >= expected:
            end = time.monotonic() + _SETTLE_S
            while (left := end - time.monotonic()) > 0:
                poll(left)
    finally:
        consumer.close()
    return sorted(records, key=lambda r: (r.partition, r.offset))


def read_json(
    bootstrap: str,
    topic: str,
    expected: int | None = None,
    timeout: float = 30.0,
    client_config: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """:func:`read_records`, each value decoded as the JSON object kafkalog shipped."""
    return [record.json() for record in read_records(bootstrap, topic, expected, timeout, client_config)]


def count_records(bootstrap: str, topic: str, timeout: float = 30.0) -> int:
    """Number of records in ``topic``: end minus beginning offsets, summed over partitions.

    Exact for plain topics (no transactions, no compaction, no retention deletes mid-test) and much faster
    than reading everything.
    """
    consumer = _consumer(bootstrap)
    try:
        partitions = _partitions(consumer, topic, time.monotonic() + timeout)
        if not partitions:
            return 0
        begin = consumer.beginning_offsets(partitions)
        end = consumer.end_offsets(partitions)
        return sum(int(end[tp]) - int(begin[tp]) for tp in partitions)
    finally:
        consumer.close()
