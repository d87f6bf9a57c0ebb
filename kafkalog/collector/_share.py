"""Each client's fair share of the collector's queue, so that one noisy process cannot fill it and starve the others.

A client's *holding* is what it put in the queue that is still there (the queue is first in, first out: a batch
has left once as many records left the queue as had entered it up to the batch's last one). The *active* clients
are those connected that sent a batch within the last ``window`` seconds. Each of ``n`` active clients may hold
``1/n`` of the queue's records and bytes; it may hold more only while the queue keeps free room for every other
active client to reach its own share. Alone, a client may fill the whole queue; a client that holds nothing may
always put one batch that fits (else a batch larger than its share could never go in). A batch over the share is
answered busy: the client keeps it and sends it again after a backoff, while the others still get in.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

OVER_SHARE = "over its share of the queue"
"""The start of the busy answer's reason when a client is over its share (how the collector counts them)."""


@dataclass
class Holding:
    """One client session's batches still in the queue: (queue position after its last record, records, bytes)."""

    batches: deque[tuple[int, int, int]] = field(default_factory=deque)
    records: int = 0
    size: int = 0
    connections: int = 0
    last_batch_at: float = 0.0


class FairShare:
    """Decides, batch by batch, whether a client is over its share; keeps each client's holding."""

    def __init__(self, max_records: int, max_bytes: int, window: float = 30.0) -> None:
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.window = window
        self._holdings: dict[bytes, Holding] = {}

    def connected(self, owner: bytes) -> None:
        self._holdings.setdefault(owner, Holding()).connections += 1

    def disconnected(self, owner: bytes) -> None:
        holding = self._holdings.get(owner)
        if holding is not None:
            holding.connections -= 1
            if holding.connections <= 0 and not holding.batches:
                del self._holdings[owner]

    def release(self, out: int) -> None:
        """``out`` records have left the queue since it was made: the batches that ended by then are no longer
        held."""
        gone = []
        for owner, holding in self._holdings.items():
            batches = holding.batches
            while batches and batches[0][0] <= out:
                _, records, size = batches.popleft()
                holding.records -= records
                holding.size -= size
            if not batches and holding.connections <= 0:
                gone.append(owner)
        for owner in gone:
            del self._holdings[owner]

    def refusal(self, owner: bytes, records: int, size: int, queued_records: int, queued_bytes: int, *,
                now: float | None = None) -> str:
        """Why the batch (``records``, ``size`` bytes) of ``owner`` must wait ("" if it may go in), with the queue
        holding ``queued_records`` and ``queued_bytes`` right now."""
        now = time.monotonic() if now is None else now
        mine = self._holdings.setdefault(owner, Holding())
        mine.last_batch_at = now
        if not mine.batches:
            return ""
        since = now - self.window
        others = [h for o, h in self._holdings.items()
                  if o != owner and h.connections > 0 and h.last_batch_at >= since]
        if not others:
            return ""
        active = len(others) + 1
        share_records, share_bytes = self.max_records / active, self.max_bytes / active
        if mine.records + records <= share_records and mine.size + size <= share_bytes:
            return ""
        reserve_records = sum(max(0.0, share_records - h.records) for h in others)
        reserve_bytes = sum(max(0.0, share_bytes - h.size) for h in others)
        if (self.max_records - queued_records - records >= reserve_records
                and self.max_bytes - queued_bytes - size >= reserve_bytes):
            return ""
        return f"{OVER_SHARE} ({mine.records} records of {int(share_records)}, {active} clients)"

    def taken(self, owner: bytes, end: int, records: int, size: int) -> None:
        """The batch went in; its last record is the ``end``-th to enter the queue."""
        holding = self._holdings.setdefault(owner, Holding())
        holding.batches.append((end, records, size))
        holding.records += records
        holding.size += size

    def held(self, owner: bytes) -> tuple[int, int]:
        """(records, bytes) of ``owner`` in the queue now."""
        holding = self._holdings.get(owner)
        return (holding.records, holding.size) if holding is not None else (0, 0)
