"""A memory queue for a source that keeps its records itself until they are acknowledged (``kafkalog tail``).

The files a tail reads are their own durable buffer: the agent saves a file's offset only once the records read
before it are settled (delivered, or dropped with a counted reason), so nothing needs to be on disk twice. The
queue therefore never drops for room (a put waits, which pauses reading) and never gives up on an outage (it is
``durable`` for the sender: errors the spool waits out are waited out here too, and a batch left at the close
deadline stays unsettled, to be read again from its file by the next start).

Records settle in the order they were put (one batch in flight, taken oldest first, settled whole before the
next), so one number tells the source how far it may save: :meth:`AckedQueue.acked`, the count of records put
whose outcome is final. The source notes :meth:`AckedQueue.ticket` after each put.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable

from ..config import KafkaLogConfig
from ..errors import Reason
from ..typing import Message
from ._base import Ledger, Taken, charge_all

_ROOM_RECHECK = 0.5  # seconds between looks at a full queue when nothing woke the writer


class AckedQueue:
    """FIFO of put batches, bounded by ``queue_max_records``/``queue_max_bytes``; a full queue makes puts wait."""

    durable = True  # the records survive the process in their source: never give up, leave them at the deadline

    def __init__(self, config: KafkaLogConfig, ledger: Ledger, wake: Callable[[], None]) -> None:
        self.config = config
        self.ledger = ledger
        self._wake = wake
        self._headers = config.headers_for is not None  # records carry headers only with the headers option
        self._chunks: deque[list[Message]] = deque()  # put batches (and batches put back), oldest first
        self._head = 0  # records of _chunks[0] already taken
        self._depth = 0
        self._bytes = 0
        self._in_flight = 0
        self._in_flight_bytes = 0
        self._stopped = False
        self.accepted = 0  # records put so far (their sequence numbers are 0 .. accepted - 1)
        self.acked_count = 0  # records 0 .. acked_count - 1 are settled (delivered or dropped and counted)

    # --- the source's side -------------------------------------------------------------------------------------

    def put(self, message: Message, level: int = 0) -> str:
        _, reason = self.put_many([message])
        return reason

    def put_many(self, messages: list[Message]) -> tuple[int, str]:
        """Wait for room (at most the bounds, or an empty queue for a batch over them), then queue all of
        ``messages``; refused whole (counted ``closed``) only when the worker closes. A batch is charged whole,
        as :meth:`take` gives it back."""
        count, size = len(messages), charge_all(messages, headers=self._headers)
        config, ledger = self.config, self.ledger
        with ledger.lock:
            counters = ledger.counters
            counters.seen += count
            try:
                while not (ledger.closed or self._stopped) and self._depth + self._in_flight and (
                        self._depth + self._in_flight + count > config.queue_max_records
                        or self._bytes + self._in_flight_bytes + size > config.queue_max_bytes):
                    ledger.changed.wait(_ROOM_RECHECK)  # each settled batch notifies
            except BaseException:  # a signal's SystemExit during the wait: the records were seen, count them
                ledger.drop(Reason.INTERNAL_ERROR, count)
                raise
            if ledger.closed or self._stopped:
                ledger.drop(Reason.CLOSED, count)
                return 0, Reason.CLOSED
            if not self._depth and not self._in_flight:
                ledger.pending_since = time.time()
            self._chunks.append(messages)
            self._depth += count
            self._bytes += size
            self.accepted += count
            counters.enqueued += count
        self._wake()
        return count, ""

    def ticket(self) -> int | None:
        """The count of records put so far: the last one put is settled once :meth:`acked` reaches it."""
        return self.accepted

    def acked(self) -> int:
        return self.acked_count

    # --- the sender's side -----------------------------------------------------------------------------------

    def take(self, max_records: int) -> Taken | None:
        with self.ledger.lock:
            if not self._depth or self._in_flight or self._stopped:
                return None  # one batch at a time: that is what keeps ``acked`` exact
            taken: list[Message] = []
            chunks = self._chunks
            while chunks and len(taken) < max_records:
                chunk, head = chunks[0], self._head
                end = min(len(chunk), head + max_records - len(taken))
                taken.extend(chunk if head == 0 and end == len(chunk) else chunk[head:end])
                if end == len(chunk):
                    chunks.popleft()
                    self._head = 0
                else:
                    self._head = end
            size = charge_all(taken, headers=self._headers)
            self._depth -= len(taken)
            self._bytes = max(0, self._bytes - size)
            self._in_flight, self._in_flight_bytes = len(taken), size
        return Taken(taken)

    def settle(self, taken: Taken, delivered: int, drops: Counter[str], failed: int, retried: int) -> None:
        """Failures count at once; what is delivered or dropped counts when the batch is finished."""
        taken.delivered += delivered
        taken.drops.update(drops)
        with self.ledger.lock:
            self.ledger.settle(0, Counter(), failed, retried)
            if delivered:
                self.ledger.counters.last_delivery_at = time.time()

    def finish(self, taken: Taken, complete: bool) -> None:
        """Complete: the batch's outcome is final and ``acked`` moves past it. Otherwise (the close deadline, an
        unexpected error) it goes back to the front, to be sent again (or read again by the next start)."""
        ledger = self.ledger
        count = len(taken.messages)
        with ledger.lock:
            if complete:
                ledger.settle(taken.delivered, taken.drops, 0, 0)
                ledger.counters.settled += count
                self.acked_count += count
            else:
                if self._head:
                    self._chunks[0] = self._chunks[0][self._head:]
                    self._head = 0
                self._chunks.appendleft(taken.messages)
                self._depth += count
                self._bytes += self._in_flight_bytes
            taken.delivered, taken.drops = 0, Counter()
            self._in_flight = self._in_flight_bytes = 0
            ledger.changed.notify_all()

    def empty(self) -> bool:
        return not self._depth

    def settled_through(self, target: int) -> bool:
        return self.ledger.counters.settled >= target

    def pending(self) -> tuple[int, int, int, int]:
        """After :meth:`stop`, what is left is reported as kept (the fourth number): its source has it."""
        if self._stopped:
            return 0, 0, 0, self._depth + self._in_flight
        return self._depth, self._bytes, self._in_flight, 0

    def stop(self, timeout: float | None = None) -> int:
        """Nothing is dropped: records not settled stay where their source has them (a tail reads them again)."""
        with self.ledger.lock:
            self._stopped = True
            self.ledger.changed.notify_all()
        return 0

