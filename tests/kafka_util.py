"""Reading back what the code under test wrote to Kafka, for assertions.

The reader itself is the one users get (:mod:`kafkalog.testing.reader`); what is only the suite's own lives here:
checking sequence numbers read back (each sent once, each received once).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from kafkalog.testing.reader import ConsumedRecord, count_records, read_records

__all__ = ["ConsumedRecord", "SequenceCheck", "TopicFactory", "check_sequence", "count_records", "read_records",
           "read_sequence"]


class TopicFactory(Protocol):
    """Type of the ``make_topic`` fixture."""

    def __call__(self, partitions: int = 1, name: str | None = None) -> str: ...


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
