"""The memory queue: bounded in records and bytes, full → the ``overflow`` policy for the record's level.

The buffer of a handler, sink or processor without ``spool_dir``. Records are the caller's to lose: a full queue
drops (``drop_newest``/``drop_oldest``, counted as ``queue_full``) or makes the caller wait up to ``block_timeout``.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable

from ..config import KafkaLogConfig
from ..errors import Reason
from ..typing import Message
from ._base import Ledger, Taken, charge, put_each


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

    def put(self, message: Message, level: int = 0) -> str:
        size = charge(message)
        config = self.config
        ledger = self.ledger
        items = self._items
        with ledger.lock:
            counters = ledger.counters
            counters.seen += 1
            if not ledger.closed and len(items) < config.queue_max_records \
                    and self._bytes + size <= config.queue_max_bytes:  # the common case, in one test
                if not items and not self._in_flight:
                    ledger.pending_since = time.time()
                items.append((message, size))
                self._bytes += size
                counters.enqueued += 1
                if len(items) in (1, config.batch_max_records):
                    self._wake()
                return ""
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

    def put_many(self, messages: list[Message]) -> tuple[int, str]:
        return put_each(self, messages)

    def ticket(self) -> int | None:
        """None: a record accepted is the queue's to deliver or to drop and count; nothing to acknowledge."""
        return None

    def acked(self) -> int:
        return self.ledger.counters.settled

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
            ledger.settle(delivered, drops, failed, retried)
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
