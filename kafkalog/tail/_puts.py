"""How the records of one read are cut into puts, so that offsets are saved while a backlog ships.

A put waits while the queue (or, with ``--spool``, the spool) is full, and the agent saves offsets between puts.
A read of 256 KiB is thousands of records: put whole into a full queue it waits until thousands are settled
(with a queue smaller than the read, until the queue is empty), and for that long nothing is saved although the
broker keeps acknowledging. Puts of at most a quarter of the bound wait only until that much is settled.
"""

from __future__ import annotations

import sys
from bisect import bisect_right
from collections.abc import Iterable
from itertools import accumulate

from ..buffers import RECORD_OVERHEAD
from ..config import KafkaLogConfig


class Puts:
    """The most records and bytes one put takes."""

    def __init__(self, config: KafkaLogConfig, acked: bool) -> None:
        self.records = max(1, config.queue_max_records // 4) if acked else sys.maxsize
        self.bytes = max(1, (config.queue_max_bytes if acked else config.spool_max_bytes) // 4)

    def cuts(self, sizes: Iterable[int], count: int) -> list[int]:
        """The end index of each put of ``count`` records of ``sizes`` bytes (one record at least per put)."""
        ends = list(accumulate(map(RECORD_OVERHEAD.__add__, sizes)))  # no Python step per record
        limit, most = self.bytes, self.records
        if count <= most and (not ends or ends[-1] <= limit):
            return [count]
        cuts, start = [], 0
        while start < count:
            below = ends[start - 1] if start else 0
            start = max(start + 1, min(start + most, bisect_right(ends, below + limit)))
            cuts.append(start)
        return cuts
