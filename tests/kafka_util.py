"""Reading back what the code under test wrote to Kafka, for assertions.

Consumers use manual ``assign()`` + ``seek_to_beginning()`` rather than a consumer group: no group join or
rebalance to wait for, and nothing committed that could hide records from a later read.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol


class TopicFactory(Protocol):
    """Type of the ``make_topic`` fixture."""

    def __call__(self, partitions: int = 1, name: str | None = None) -> str: ...


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
        """The value decoded as a JSON object (fails the test if it is anything else)."""
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
        # responses under 1 MiB: kafka-python 3.0.0 (make test-oldest) cannot receive larger frames
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


def read_records(
    bootstrap: str,
    topic: str,
    expected: int,
    timeout: float = 30.0,
    client_config: Mapping[str, Any] | None = None,
) -> list[ConsumedRecord]:
    """Read ``topic`` from the beginning until ``expected`` records arrived or ``timeout`` passed.

    Returns whatever was read, sorted by (partition, offset), so the caller asserts on it. Once ``expected``
    is reached it polls ~0.5 s more, so extra (e.g. duplicated) records show up in an exact-count assertion.
    ``client_config`` adds kafka-python consumer options (e.g. SASL/SSL settings for a secure listener).
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

        def poll(timeout_s: float) -> None:
            batches = consumer.poll(timeout_ms=max(1, int(timeout_s * 1000)))
            for batch in batches.values():
                records.extend(
                    ConsumedRecord(
                        topic=msg.topic,
                        partition=msg.partition,
                        offset=msg.offset,
                        key=msg.key,
                        value=msg.value if msg.value is not None else b"",
                        timestamp_ms=msg.timestamp,
                        headers=tuple((k, v if v is not None else b"") for k, v in (msg.headers or ())),
                    )
                    for msg in batch
                )

        while len(records) < expected:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            poll(min(0.5, remaining))
        if len(records) >= expected:
            end = time.monotonic() + 0.5
            while (left := end - time.monotonic()) > 0:
                poll(left)
    finally:
        consumer.close()
    return sorted(records, key=lambda r: (r.partition, r.offset))


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


@dataclass(frozen=True)
class SequenceCheck:
    """How a stream of sequence numbers read back compares with ``0 .. expected-1`` sent once each."""

    expected: int
    received: int
    lost: tuple[int, ...]
    duplicates: Mapping[int, int]  # sequence number -> extra copies
    out_of_order: int  # records whose number is lower than the one before (in read order)

    @property
    def duplicate_count(self) -> int:
        return sum(self.duplicates.values())

    @property
    def each_once(self) -> bool:
        """Every number from 0 to expected-1 arrived exactly once, and nothing else did."""
        return not self.lost and not self.duplicates and self.received == self.expected

    def summary(self) -> str:
        lost = f"{len(self.lost)} lost (first {list(self.lost[:10])})" if self.lost else "0 lost"
        dups = sorted(self.duplicates)[:10]
        return (f"expected {self.expected}, received {self.received}: {lost}, {self.duplicate_count} duplicate(s)"
                f"{f' (first {dups})' if dups else ''}, {self.out_of_order} out of order")


def check_sequence(seqs: Iterable[int], expected: int) -> SequenceCheck:
    """Compare sequence numbers (in the order read) against ``range(expected)``."""
    order = list(seqs)
    counts = Counter(order)
    out_of_order = sum(1 for before, after in itertools.pairwise(order) if after < before)
    return SequenceCheck(
        expected=expected,
        received=len(order),
        lost=tuple(n for n in range(expected) if n not in counts),
        duplicates={n: c - 1 for n, c in counts.items() if c > 1},
        out_of_order=out_of_order,
    )


def read_sequence(bootstrap: str, topic: str, expected: int, *, field: str = "seq",
                  timeout: float = 60.0) -> SequenceCheck:
    """Read ``topic`` back and compare the ``fields[field]`` numbers of its records with ``range(expected)``.

    For "every record delivered exactly once": a count of offsets passes with one loss plus one duplicate, this
    does not (``assert check.each_once, check.summary()``).
    """
    records = read_records(bootstrap, topic, expected, timeout=timeout)
    return check_sequence((r.json()["fields"][field] for r in records), expected)
