"""The spool as the worker's queue: a logging call appends its record to disk, the sender delivers from disk.

There is no bounded memory queue in front of the disk, so nothing is dropped because a thread lost the race for
the CPU (only ``spool_max_bytes`` bounds what waits), each thread's records keep their order, and a record is in
the page cache, safe from a crash of the process, once the logging call returns. The price is one ``write`` per
call on the application's thread, about what a ``FileHandler`` costs.

While the sender holds the spool (reading a batch back, committing one: about a millisecond), a logging call does
not wait for it: its record joins a short list in memory (``waiting``) that whoever next holds the spool writes
first. Only when that list is at ``queue_max_records``/``queue_max_bytes`` (the disk is far behind) does a logging
call wait for the disk, as a ``FileHandler`` would; it never drops.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

from ..config import KafkaLogConfig
from ..errors import Reason
from ..spool import DiskSpool, SpoolAppend, SpoolBatch
from ..typing import Message
from ._base import Ledger, Taken, charge, put_each

_ROOM_RECHECK = 0.5  # seconds between looks at a full spool when nothing woke the writer


class SpoolQueue:
    """One worker's spool in one process. Lock order: the disk lock, then the ledger's (never the other way)."""

    durable = True

    def __init__(self, config: KafkaLogConfig, spool: DiskSpool, ledger: Ledger, wake: Callable[[], None],
                 report: Callable[[str, str], None]) -> None:
        self.ledger = ledger
        self._config = config
        self._spool = spool
        # every DiskSpool call. An RLock for its owner check: a SIGTERM turned into SystemExit right after a
        # logging call took it must not leave it taken (see put)
        self._disk = threading.RLock()
        self._wake = wake
        self._report = report  # (kind, message), written later by the sender's thread
        self._waiting: list[Message] = []  # accepted while the disk was busy; written before anything newer
        self._waiting_bytes = 0
        self._writing = 0  # accepted, being written by a logging call right now
        self._on_disk = 0  # the spool's pending records (its own and those it claimed)
        self._disk_bytes = 0  # the directory's size as of the last write or commit (for the "block" policy)
        spool.pending_records()  # in a forked child: the spool drops its parent's counters first
        self._full_seen = spool.dropped_full
        self._corrupt_seen = spool.corrupt_skipped
        self._stopped = False
        self._reports: dict[str, str] = {}  # said once the locks are let go (reporting may take them); per kind
        with self._disk, ledger.lock:
            self._refresh()
        self._say()

    def _say(self) -> None:
        """Pass on the reports noted under the locks (no lock held)."""
        if not self._reports:
            return
        with self.ledger.lock:
            reports, self._reports = self._reports, {}
        for kind, text in reports.items():
            self._report(kind, text)

    # --- the application's side ------------------------------------------------------------------------------

    def put(self, message: Message, level: int = 0) -> str:
        """Never drops for lack of room in memory (``overflow`` does not apply): waits for the disk instead."""
        size = charge(message)
        if self._config.spool_full_policy == "block":
            return self._put_waiting_for_room([message], size)
        ledger = self.ledger
        config = self._config
        writing = False  # counted in _writing and not written yet
        try:  # from before the disk can be taken: a signal's SystemExit anywhere below must not leave it taken
            with ledger.lock:
                counters = ledger.counters
                counters.seen += 1
                if ledger.closed or self._stopped:
                    ledger.drop(Reason.CLOSED)
                    return Reason.CLOSED
                counters.enqueued += 1
                if not self._pending_locked():
                    ledger.pending_since = time.time()
                if not self._disk.acquire(blocking=False) and len(self._waiting) < config.queue_max_records \
                        and self._waiting_bytes + size <= config.queue_max_bytes:
                    self._waiting.append(message)
                    self._waiting_bytes += size
                    self._wake()  # the sender writes the list if no logging call does first
                    return ""
                self._writing += 1
                writing = True
            if not self._disk._is_owned():  # type: ignore[attr-defined]
                self._disk.acquire()  # the disk is far behind: wait for it, never drop
            self._write_waiting()
            writing = False  # _write counts it out of _writing, whatever happens to it
            self._write([message], writing=1)
        finally:
            if writing:  # interrupted before the write: count the record as dropped
                with ledger.lock:
                    self._writing -= 1
                    ledger.drop(Reason.INTERNAL_ERROR)
            if self._disk._is_owned():  # type: ignore[attr-defined]
                self._release()
        if self._on_disk == 1:
            self._wake()  # the first record after a quiet spell: the sender may be idle
        return ""

    def put_many(self, messages: list[Message]) -> tuple[int, str]:
        """With ``spool_full_policy="block"``: in slices of up to a quarter of ``spool_max_bytes`` (so each can
        find room), each written at once (one lock round, one write) after waiting for room for all of it, and
        refused whole only when closing. The other policies go one ``put`` at a time."""
        if self._config.spool_full_policy != "block":
            return put_each(self, messages)
        sizes = [charge(message) for message in messages]
        cap = self._config.spool_max_bytes // 4
        done, reason, start, count = len(messages), "", 0, len(messages)
        while start < count:
            end, total = start + 1, sizes[start]
            while end < count and total + sizes[end] <= cap:
                total += sizes[end]
                end += 1
            refused = self._put_waiting_for_room(messages[start:end], total)
            if refused == Reason.SPOOL_ERROR:  # a disk error: stop here, this slice and the rest are the caller's
                return min(done, start), refused
            if refused:  # closing: this slice and the rest refused
                reason, done = Reason.CLOSED, min(done, start)
            start = end
        return done, reason

    def _put_waiting_for_room(self, messages: list[Message], size: int) -> str:
        """``spool_full_policy="block"``: wait while the spool is full (``size``: of all ``messages``), then write
        the records itself; ``spool_error`` if a disk error kept any of them off the disk (counted already).

        For a writer that must not lose a record to a full spool and can afford to wait (``kafkalog tail``: it
        pauses reading instead). The record is on disk (the page cache) when this returns, never only in memory.
        Gives up only when the worker closes (counted as ``closed``).
        """
        ledger = self.ledger
        limit = self._config.spool_max_bytes
        count = len(messages)
        writing = 0
        try:
            with ledger.lock:
                ledger.counters.seen += count
                try:
                    while not (ledger.closed or self._stopped) and self._disk_bytes + size > limit:
                        ledger.changed.wait(_ROOM_RECHECK)  # each commit notifies; a rescan may free room too
                        if self._disk_bytes + size > limit and self._disk.acquire(blocking=False):
                            try:  # other processes' segments: look again (the sender does so on each read)
                                self._disk_bytes = self._spool.disk_bytes()
                            finally:
                                self._disk.release()
                except BaseException:  # a signal's SystemExit during the wait: the records were seen, count them
                    ledger.drop(Reason.INTERNAL_ERROR, count)
                    raise
                if ledger.closed or self._stopped:
                    ledger.drop(Reason.CLOSED, count)
                    return Reason.CLOSED
                ledger.counters.enqueued += count
                if not self._pending_locked():
                    ledger.pending_since = time.time()
                self._writing += count
                writing = count
            self._disk.acquire()
            self._write_waiting()
            writing = 0
            if self._write(messages, writing=count).failed:  # not on disk: the caller keeps them (tail: reads again)
                return Reason.SPOOL_ERROR
        finally:
            if writing:
                with ledger.lock:
                    self._writing -= writing
                    ledger.drop(Reason.INTERNAL_ERROR, writing)
            if self._disk._is_owned():  # type: ignore[attr-defined]
                self._release()
        if self._on_disk <= count:
            self._wake()  # the first records after a quiet spell: the sender may be idle
        return ""

    def _release(self) -> None:
        """Let go of the disk, leaving nothing waiting in memory behind (disk lock held).

        A logging call adds to ``waiting`` only after failing to take the disk. What was added while we held it
        is written here, with one more pass for what came meanwhile; anything after that is the sender's, woken
        for it (it writes waiting records first in each round, so they never wait for a batch it is retrying).
        """
        try:
            self._write_waiting()
        finally:
            self._disk.release()
        with self.ledger.lock:
            left = bool(self._waiting)
        if left and self._disk.acquire(blocking=False):  # one more pass; the sender is woken for anything after
            try:
                self._write_waiting()
            finally:
                self._disk.release()
        if self._waiting:
            self._wake()
        self._say()

    def ticket(self) -> int | None:
        """None: a record is on disk (the page cache) once put; the caller may let go of it at once."""
        return None

    def acked(self) -> int:
        return self.ledger.counters.settled

    # --- the sender's side (disk lock held where it says so) --------------------------------------------------

    def _write_waiting(self) -> None:
        """Write the records that waited for the disk (disk lock held)."""
        while self._waiting:
            with self.ledger.lock:
                waiting, self._waiting, self._waiting_bytes = self._waiting, [], 0
                self._writing += len(waiting)
            self._write(waiting, writing=len(waiting))

    def _write(self, messages: list[Message], writing: int) -> SpoolAppend:
        """Append to the spool and count the outcome (disk lock held)."""
        spool = self._spool
        try:
            result = spool.append(messages)
        except Exception as exc:  # a bug, not a disk error (those are counted by append): still count every record
            result = SpoolAppend(0, len(messages), failed=len(messages))
            spool_error = f"{type(exc).__name__}: {exc}"
        else:
            spool_error = spool.last_error or "unknown error"
        with self.ledger.lock:
            self._writing -= writing
            self.ledger.counters.spooled += result.stored
            errors = result.dropped - result.full
            self.ledger.counters.settled += result.dropped  # refused for good: settled as drops
            if errors:
                self.ledger.drop(Reason.SPOOL_ERROR, errors)
            if spool.dropped_full != self._full_seen or errors:
                self._refresh()
            else:
                self._on_disk += result.stored
                self._disk_bytes = spool.disk_bytes()
        if errors:
            self._report(Reason.SPOOL_ERROR, f"dropping records: the spool cannot write: {spool_error}")
        return result

    def take(self, max_records: int) -> Taken | None:
        self._disk.acquire()
        try:
            if self._stopped:
                return None
            self._write_waiting()
            batch = self._spool.read(max_records)
            with self.ledger.lock:
                self._refresh()
        finally:
            self._release()
        if batch is None:
            return None
        return Taken(batch.messages, batch, replay=batch.foreign)

    def settle(self, taken: Taken, delivered: int, drops: Counter[str], failed: int, retried: int) -> None:
        """Failures count at once; what is delivered or dropped counts when the batch is committed."""
        taken.delivered += delivered
        taken.drops.update(drops)
        ledger = self.ledger
        with ledger.lock:
            ledger.settle(0, Counter(), failed, retried)
            if delivered:
                ledger.counters.last_delivery_at = time.time()

    def finish(self, taken: Taken, complete: bool) -> None:
        """Commit a batch whose records are all delivered or dropped; one left at the deadline stays on disk."""
        self._disk.acquire()
        try:
            batch = taken.handle if isinstance(taken.handle, SpoolBatch) else None
            committed = complete and batch is not None and not self._stopped
            if committed and batch is not None:
                self._spool.commit(batch)
            with self.ledger.lock:
                if committed:  # a batch left on disk is sent again later: it counts when it is done
                    self.ledger.settle(taken.delivered, taken.drops, 0, 0, replay=taken.replay)
                    if not taken.replay:
                        self.ledger.counters.settled += len(taken.messages)
                self._refresh()
        finally:
            self._release()

    def empty(self) -> bool:
        return not self._pending_locked()

    def settled_through(self, target: int) -> bool:
        """Flushed: this process's records accepted up to ``target`` are committed (delivered or dropped)."""
        return self.ledger.counters.settled >= target or not self._pending_locked()

    def pending(self) -> tuple[int, int, int, int]:
        return len(self._waiting), self._waiting_bytes, self._writing, self._on_disk

    def _pending_locked(self) -> int:
        return self._on_disk + len(self._waiting) + self._writing

    def stop(self, timeout: float | None = None) -> int:
        """Write what still waits in memory, then release the directory: what is left is there for the next start.

        Waits for the disk at most ``timeout`` seconds (None: as long as it takes); past that the directory is
        released by the process's exit instead."""
        if not self._disk.acquire(timeout=-1 if timeout is None else max(0.0, timeout)):
            return 0
        try:
            if not self._stopped:
                with self.ledger.lock:
                    self._stopped = True  # no logging call adds to waiting after this
                self._write_waiting()
                with self.ledger.lock:
                    self._refresh()
                self._spool.close()
        finally:
            self._disk.release()
        self._say()
        return 0

    def _refresh(self) -> None:
        """Learn the spool's pending count and its new drops (both locks held; reports wait for the locks to go)."""
        spool = self._spool
        full = max(0, spool.dropped_full - self._full_seen)
        corrupt = max(0, spool.corrupt_skipped - self._corrupt_seen)
        self._full_seen, self._corrupt_seen = spool.dropped_full, spool.corrupt_skipped
        if full:
            self.ledger.drop(Reason.SPOOL_FULL, full)
            self._reports[Reason.SPOOL_FULL] = (f"dropping records: the spool is at spool_max_bytes="
                                                f"{self._config.spool_max_bytes} (spool_full_policy="
                                                f"{self._config.spool_full_policy!r}); see stats().dropped")
        if corrupt:
            self.ledger.drop(Reason.SPOOL_CORRUPT, corrupt)
            self._reports[Reason.SPOOL_CORRUPT] = spool.last_error or "a corrupt spool record was skipped"
        self._on_disk = spool.pending_records()
        self._disk_bytes = spool.disk_bytes()
        self.ledger.changed.notify_all()
