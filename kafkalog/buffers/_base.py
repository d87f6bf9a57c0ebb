"""What every buffer shares: the protocol the worker sees, the ledger it counts into, and the size charge.

A buffer sits between the application (or a source such as ``kafkalog tail``) and the sender. The worker knows
buffers only through :class:`Buffer`: it never asks which kind it has. Each kind differs in what it promises:

* :class:`~kafkalog.buffers.MemoryQueue`: bounded in records and bytes, full → the overflow policy;
* :class:`~kafkalog.buffers.AckedQueue`: the caller keeps its records (a tail's files) until the buffer
  acknowledges them: a full buffer makes the caller wait, an outage is waited out;
* :class:`~kafkalog.buffers.SpoolQueue`: records go to disk on put and survive the process.

A new kind (a hand-off to a local collector, say) implements :class:`Buffer` and nothing else.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable
from operator import attrgetter
from typing import Protocol

from .._stats import Counters
from ..errors import Reason
from ..typing import Message

RECORD_OVERHEAD = 256
"""Bytes charged per queued record on top of its key and value: the Python objects that hold it (measured ~250 B),
so queue_max_bytes bounds the memory the queue really takes."""
HEADER_OVERHEAD = 140
"""Bytes charged per record header on top of its name and value: its tuple, str and bytes objects (measured ~138 B)."""

_KEY, _VALUE, _HEADERS = attrgetter("key"), attrgetter("value"), attrgetter("headers")


def charge(message: Message) -> int:
    """What one record is charged against ``queue_max_bytes``: its key, value and headers, and the objects
    holding them. The one place this is computed."""
    size = len(message.value) + (len(message.key) if message.key else 0) + RECORD_OVERHEAD
    if message.headers:
        size += sum(len(name) + len(value) + HEADER_OVERHEAD for name, value in message.headers)
    return size


def charge_all(messages: list[Message], *, headers: bool = True) -> int:
    """The sum of :func:`charge` over ``messages``, in C-speed passes (a tail puts thousands at once).
    ``headers=False``: the caller knows none has headers (no ``headers`` option), which spares a pass."""
    total = sum(map(len, map(_VALUE, messages))) + sum(map(len, filter(None, map(_KEY, messages))))
    total += RECORD_OVERHEAD * len(messages)
    if not headers:
        return total
    with_headers: Iterable[tuple[tuple[str, bytes], ...]] = filter(None, map(_HEADERS, messages))
    for pairs in with_headers:
        total += sum(len(name) + len(value) + HEADER_OVERHEAD for name, value in pairs)
    return total


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

    def settle(self, delivered: int, drops: Counter[str], failed: int, retried: int, *,
               replay: bool = False) -> None:
        """Add one outcome to the counters (lock held)."""
        c = self.counters
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


class Taken:
    """A batch the sender is working on; ``handle`` is the buffer's own (the spool's read position)."""

    __slots__ = ("delivered", "drops", "handle", "messages", "replay")

    def __init__(self, messages: list[Message], handle: object = None, replay: bool = False) -> None:
        self.messages = messages
        self.handle = handle
        self.replay = replay  # written by an earlier process: what is delivered counts as replayed too
        self.delivered = 0
        self.drops: Counter[str] = Counter()


class Buffer(Protocol):
    """What the worker needs from a buffer. ``put``/``put_many``/``ticket``/``acked`` run on the caller's threads,
    the rest on the sender's. Every record put is counted in :attr:`ledger` (seen, then enqueued or dropped)."""

    ledger: Ledger
    durable: bool
    """Records survive the process (on disk, or in the caller's source): the sender never gives up on them for
    an outage, and leaves them where they are at the close deadline instead of dropping them."""

    def put(self, message: Message, level: int = 0) -> str:
        """Accept one record, or return the reason it was dropped (counted already). ``level`` (the record's
        level number) chooses the overflow policy when the buffer is full."""

    def put_many(self, messages: list[Message]) -> tuple[int, str]:
        """Accept records as ``put`` would (level 0): (how many were handled before the first refused as
        ``closed`` or kept off the disk, the reason of the last one dropped or "")."""

    def ticket(self) -> int | None:
        """The acknowledgement ticket of the last record put: it is settled once :meth:`acked` reaches it. None
        when a record is as safe as it gets once accepted (nothing to wait for before the caller lets go)."""

    def acked(self) -> int:
        """How many records put are settled (delivered, or dropped and counted), oldest first."""

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
        """(queue depth, queue bytes, in flight, kept: on disk or in the source), lock held."""

    def stop(self, timeout: float | None = None) -> int:
        """The sender is done: drop what memory still holds as ``shutdown`` (returns how many); idempotent.
        ``timeout`` bounds any wait for a resource (the spool's disk)."""


def put_each(buffer: Buffer, messages: list[Message]) -> tuple[int, str]:
    """``put_many`` as one ``put`` per record (level 0), for buffers with no faster way."""
    done = len(messages)
    last = ""
    put = buffer.put
    for index, message in enumerate(messages):
        reason = put(message)
        if reason:
            last = reason
            if reason == Reason.CLOSED and done == len(messages):
                done = index
    return done, last
