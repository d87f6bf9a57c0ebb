"""Where records wait for the sender, and the accounting of every record a worker was handed.

Two queues share one small interface (:class:`RecordQueue`): :class:`MemoryQueue`, bounded in records and bytes
with an overflow policy, and the disk spool (:class:`kafkalog.spool.SpoolQueue`), used instead when ``spool_dir``
is set. Both count into a :class:`Ledger`, whose lock is the only lock a logging call takes.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Protocol

from ._stats import Counters
from .config import KafkaLogConfig
from .errors import Reason
from .typing import Message

RECORD_OVERHEAD = 256
"""Bytes charged per queued record on top of its key and value: the Python objects that hold it (measured ~250 B),
so queue_max_bytes bounds the memory the queue really takes."""
HEADER_OVERHEAD = 140
"""Bytes charged per record header on top of its name and value: its tuple, str and bytes objects (measured ~138 B)."""


class Ledger:
    """Counters, the close state and the lock that guards them: ``seen == delivered + dropped + pending``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)  # space freed, records settled, close asked
        self.counters = Counters()
        self.closed = False
        self.deadline: float | None = None  # set by close: the sender stops at this monotonic time
        self.pending_since = time.time()  # when pending last went from none to some

    def drop(self, reason: str, count: int = 1) -> None:
        """Count ``count`` dropped records (lock held)."""
        self.counters.dropped[reason] += count
        self.counters.last_drop_at = time.time()

    def past_deadline(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline


class Taken:
    """A batch the sender is working on; ``handle`` is the queue's own (the spool's read position)."""

    __slots__ = ("delivered", "drops", "handle", "messages", "replay")

    def __init__(self, messages: list[Message], handle: object = None, replay: bool = False) -> None:
        self.messages = messages
        self.handle = handle
        self.replay = replay  # written by an earlier process: what is delivered counts as replayed too
        self.delivered = 0
        self.drops: Counter[str] = Counter()


class RecordQueue(Protocol):
    """What the worker needs from a queue. ``put`` runs on the application's threads, the rest on the sender's."""

    ledger: Ledger
    durable: bool  # records survive the process: never give up on them, leave them at the close deadline

    def put(self, message: Message, size: int, level: int = 0) -> str:
        """Accept one record, or return the reason it was dropped (counted already). ``level`` (the record's
        level number) chooses the overflow policy when the queue is full."""

    def put_many(self, messages: list[Message], sizes: list[int]) -> tuple[int, str]:
        """Accept records as ``put`` would, each with its ``sizes`` entry: (how many were handled before the first
        refused as ``closed``, the reason of the last one dropped or "")."""

    def take(self, max_records: int) -> Taken | None:
        """The oldest records not yet taken, or None when there are none right now."""

    def settle(self, taken: Taken, delivered: int, drops: Counter[str], failed: int, retried: int) -> None:
        """The outcome of one send attempt of ``taken``."""

    def finish(self, taken: Taken, complete: bool) -> None:
        """Done with ``taken``: every record delivered or dropped (``complete``), or left at the close deadline."""

    def empty(self) -> bool:
        """Nothing waits to be taken."""

    def settled_through(self, target: int) -> bool:
        """Every record accepted up to the ``target``-th (``counters.enqueued``) is delivered or dropped (lock held)."""

    def pending(self) -> tuple[int, int, int, int]:
        """(queue depth, queue bytes, in flight, spool pending), lock held."""

    def stop(self, timeout: float | None = None) -> int:
        """The sender is done: drop what memory still holds as ``shutdown`` (returns how many); idempotent.
        ``timeout`` bounds any wait for a resource (the spool's disk)."""


def settle_counts(ledger: Ledger, delivered: int, drops: Counter[str], failed: int, retried: int, *,
                  replay: bool = False) -> None:
    """Add one outcome to the ledger's counters (lock held)."""
    c = ledger.counters
    c.delivered += delivered
    if replay:
        c.replayed += delivered
    c.failed += failed
    c.retried += retried
    if drops:
        c.dropped.update(drops)
        c.last_drop_at = time.time()
    if delivered:
        c.last_delivery_at = time.time()


def put_each(queue: RecordQueue, messages: list[Message], sizes: list[int]) -> tuple[int, str]:
    """``put_many`` as one ``put`` per record (level 0), for queues with no faster way."""
    done = len(messages)
    last = ""
    for index, (message, size) in enumerate(zip(messages, sizes, strict=True)):
        reason = queue.put(message, size)
        if reason:
            last = reason
            if reason == Reason.CLOSED and done == len(messages):
                done = index
    return done, last


class MemoryQueue:
    """A bounded FIFO in memory: ``queue_max_records`` and ``queue_max_bytes``, full → the overflow policy."""

    durable = False

    def __init__(self, config: KafkaLogConfig, ledger: Ledger, wake: Callable[[], None],
                 sender_thread: Callable[[], threading.Thread | None]) -> None:
        self.config = config
        self.ledger = ledger
        self._wake = wake
        self._sender_thread = sender_thread  # "block" never blocks the sender itself
        self._items: deque[tuple[Message, int]] = deque()
        self._bytes = 0
        self._in_flight = 0

    def put(self, message: Message, size: int, level: int = 0) -> str:
        config = self.config
        ledger = self.ledger
        with ledger.lock:
            ledger.counters.seen += 1
            if ledger.closed:
                reason = Reason.CLOSED
            elif size > config.queue_max_bytes:
                reason = Reason.TOO_LARGE
            elif self._full(size) and not self._make_room(size, level):
                # a "block" wait that close() cut short: refused because the handler closes, not for room
                reason = Reason.CLOSED if ledger.closed else Reason.QUEUE_FULL
            else:
                if not self._items and not self._in_flight:
                    ledger.pending_since = time.time()
                self._items.append((message, size))
                self._bytes += size
                ledger.counters.enqueued += 1
                if len(self._items) in (1, config.batch_max_records):
                    self._wake()
                return ""
            ledger.drop(reason)
            return reason

    def put_many(self, messages: list[Message], sizes: list[int]) -> tuple[int, str]:
        return put_each(self, messages, sizes)

    def _full(self, size: int) -> bool:
        return len(self._items) >= self.config.queue_max_records or self._bytes + size > self.config.queue_max_bytes

    def _make_room(self, size: int, level: int) -> bool:
        """Called with the lock held and the queue full: apply the overflow policy for the record's level."""
        config = self.config
        policy = config.overflow_policy.for_level(level)
        if policy == "drop_oldest":
            while self._items and self._full(size):
                _, old_size = self._items.popleft()
                self._bytes -= old_size
                self.ledger.counters.settled += 1
                self.ledger.drop(Reason.QUEUE_FULL)
            return True
        if policy == "block" and threading.current_thread() is not self._sender_thread():
            deadline = time.monotonic() + config.block_timeout
            while self._full(size):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.ledger.closed:
                    return False
                self.ledger.changed.wait(remaining)
            return True
        return False

    def take(self, max_records: int) -> Taken | None:
        with self.ledger.lock:
            count = min(len(self._items), max_records)
            if not count:
                return None
            popleft = self._items.popleft
            taken = [popleft() for _ in range(count)]
            self._bytes -= sum(size for _, size in taken)
            self._in_flight += count
            self.ledger.changed.notify_all()
        return Taken([message for message, _ in taken])

    def settle(self, taken: Taken, delivered: int, drops: Counter[str], failed: int, retried: int) -> None:
        ledger = self.ledger
        with ledger.lock:
            settle_counts(ledger, delivered, drops, failed, retried)
            done = delivered + sum(drops.values())
            self._in_flight -= done
            ledger.counters.settled += done
            ledger.changed.notify_all()

    def finish(self, taken: Taken, complete: bool) -> None:
        """Memory batches always end complete: the sender drops what it cannot deliver by the deadline."""

    def empty(self) -> bool:
        return not self._items

    def settled_through(self, target: int) -> bool:
        return self.ledger.counters.settled >= target

    def depth(self) -> int:
        return len(self._items)

    def pending(self) -> tuple[int, int, int, int]:
        return len(self._items), self._bytes, self._in_flight, 0

    def stop(self, timeout: float | None = None) -> int:
        ledger = self.ledger
        with ledger.lock:
            left = len(self._items)
            if left:
                ledger.drop(Reason.SHUTDOWN, left)
                ledger.counters.settled += left
                self._items.clear()
                self._bytes = 0
                ledger.changed.notify_all()
        return left
