"""The spool as the worker's queue: a logging call appends its record to disk, the sender delivers from disk.

There is no memory queue in front of the disk, so nothing is dropped because a thread lost the race for the CPU
(only ``spool_max_bytes`` bounds what waits), records keep their order, and a record is in the page cache, safe
from a crash of the process, once the logging call returns. The price is one ``write`` per call on the
application's thread, about what a ``FileHandler`` costs. Records still on disk at exit or after SIGKILL are
delivered by the next process that uses the directory: at-least-once.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

from .._queue import Ledger, Taken, settle_counts
from ..errors import Reason
from ..typing import Message
from ._disk import DiskSpool, SpoolBatch


class SpoolQueue:
    """One worker's spool in one process; every spool call runs under the ledger's lock."""

    durable = True

    def __init__(self, spool: DiskSpool, ledger: Ledger, wake: Callable[[], None],
                 report: Callable[[str, str], None]) -> None:
        self.ledger = ledger
        self._spool = spool
        self._wake = wake
        self._report = report  # (kind, message), deferred to the sender's thread
        self._evicted = spool.dropped_full
        self._corrupt = spool.corrupt_skipped
        self._pending = 0
        self._stopped = False
        with ledger.lock:
            self._refresh()

    def put(self, message: Message, size: int) -> str:
        ledger = self.ledger
        with ledger.lock:
            counters = ledger.counters
            counters.seen += 1
            if ledger.closed or self._stopped:
                ledger.drop(Reason.CLOSED)
                return Reason.CLOSED
            spool = self._spool
            refused_before = spool.dropped_full
            if spool.append((message,)).stored:
                counters.enqueued += 1
                counters.spooled += 1
                if not self._pending:
                    ledger.pending_since = time.time()
                self._pending += 1
                reason = ""
            else:
                if spool.dropped_full > refused_before:  # drop_newest: this record itself, counted here
                    reason = Reason.SPOOL_FULL
                    self._evicted += 1
                else:
                    reason = Reason.SPOOL_ERROR  # the disk refused the write
                ledger.drop(reason)
            if spool.dropped_full != self._evicted:  # drop_oldest deleted older records to make room
                self._refresh()
        if reason:
            self._report(reason, self._spool.last_error or "the spool is at spool_max_bytes")
        elif self._pending == 1 or self._pending % 500 == 0:
            self._wake()
        return reason

    def take(self, max_records: int) -> Taken | None:
        with self.ledger.lock:
            if self._stopped:
                return None
            batch = self._spool.read(max_records)
            self._refresh()
        if batch is None:
            return None
        return Taken(batch.messages, batch, replay=batch.foreign)

    def settle(self, taken: Taken, delivered: int, drops: Counter[str], failed: int, retried: int) -> None:
        """Failures count at once; what is delivered or dropped counts when the batch is committed."""
        taken.delivered += delivered
        taken.drops.update(drops)
        ledger = self.ledger
        with ledger.lock:
            settle_counts(ledger, 0, Counter(), failed, retried)
            if delivered:
                ledger.counters.last_delivery_at = time.time()

    def finish(self, taken: Taken, complete: bool) -> None:
        """Commit a batch whose records are all delivered or dropped; one left at the deadline stays on disk."""
        ledger = self.ledger
        with ledger.lock:
            if complete and isinstance(taken.handle, SpoolBatch):
                self._spool.commit(taken.handle)
            settle_counts(ledger, taken.delivered, taken.drops, 0, 0, replay=taken.replay)
            self._refresh()
            ledger.changed.notify_all()

    def empty(self) -> bool:
        return self._pending == 0

    def settled_through(self, target: int) -> bool:
        """Flushed: nothing this spool holds is undelivered (records of earlier processes it claimed included)."""
        return self._pending == 0

    def pending(self) -> tuple[int, int, int, int]:
        return 0, 0, 0, self._pending

    def stop(self) -> int:
        """Release the directory (what is left stays there for the next process)."""
        with self.ledger.lock:
            if not self._stopped:
                self._stopped = True
                self._refresh()
                self._spool.close()
                self.ledger.changed.notify_all()
        return 0

    def _refresh(self) -> None:
        """Learn the spool's pending count and its new drops (lock held)."""
        spool = self._spool
        evicted, self._evicted = spool.dropped_full - self._evicted, spool.dropped_full
        corrupt, self._corrupt = spool.corrupt_skipped - self._corrupt, spool.corrupt_skipped
        if evicted:
            self.ledger.drop(Reason.SPOOL_FULL, evicted)
        if corrupt:
            self.ledger.drop(Reason.SPOOL_CORRUPT, corrupt)
            self._report(Reason.SPOOL_CORRUPT, spool.last_error or "a corrupt spool record was skipped")
        self._pending = spool.pending_records()
        self.ledger.changed.notify_all()
