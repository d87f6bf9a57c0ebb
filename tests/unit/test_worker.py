"""The background worker (kafkalog._worker): ordering, batching, overflow, retries, flush/close, fork, errors."""

from __future__ import annotations

import itertools
import json
import logging
import os
import select
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from kafkalog import KafkaHandler
from kafkalog._report import ErrorReporter
from kafkalog._worker import Worker
from kafkalog.buffers import RECORD_OVERHEAD
from kafkalog.errors import DeliveryError
from kafkalog.transports import MemoryTransport
from kafkalog.typing import Message

from .conftest import (
    GatedTransport,
    RecordingTransport,
    StuckOpenTransport,
    assert_invariant,
    finishes_within,
    message,
    wait_until,
)

SECRET = "s3cr3t-Pa55word"
MakeWorker = Callable[..., Worker]
Gated = Callable[..., GatedTransport]


QB = 2 * (1000 + RECORD_OVERHEAD) + 48  # room for two 1000-byte records, not three


def numbered(count: int, start: int = 0) -> list[Message]:
    return [message(f'{{"n":{i}}}'.encode()) for i in range(start, start + count)]


def fail_first(calls: int, reason: str = "broker_unavailable", *, retriable: bool = True,
               times: list[float] | None = None) -> Callable[[Message], BaseException | None]:
    """An outcome that fails the first ``calls`` calls, then delivers; records call times if asked."""
    count = [0]

    def outcome(_: Message) -> BaseException | None:
        if times is not None:
            times.append(time.monotonic())
        count[0] += 1
        if count[0] <= calls:
            return DeliveryError(reason, f"scripted failure {count[0]}", retriable=retriable)
        return None

    return outcome


class RaisingSendTransport(MemoryTransport):
    """A transport whose send() raises a plain exception the first ``raises`` times."""

    def __init__(self, raises: int, exc: Exception, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.raises = raises
        self.exc = exc

    def send(self, messages: Sequence[Message], timeout: float) -> list[BaseException | None]:
        if self.raises > 0:
            self.raises -= 1
            self.send_calls += 1
            raise self.exc
        return super().send(messages, timeout)


class ShortResultTransport(MemoryTransport):
    """A transport that returns too few outcomes once, then behaves."""

    def __init__(self) -> None:
        super().__init__()
        self.bad = 1

    def send(self, messages: Sequence[Message], timeout: float) -> list[BaseException | None]:
        if self.bad:
            self.bad -= 1
            return []
        return super().send(messages, timeout)


def stuck_with(worker: Worker, transport: GatedTransport) -> None:
    """Put one record and wait until the worker is stuck sending it."""
    assert worker.put(message(b'{"n":"first"}'))
    assert transport.entered.wait(5)


class TestDelivery:
    def test_order_preserved(self, make_worker: MakeWorker) -> None:
        """Records arrive in the order they were put."""
        transport = MemoryTransport()
        worker = make_worker(transport=transport, batch_max_records=7)
        sent = numbered(200)
        for item in sent:
            worker.put(item)
        assert worker.flush(5)
        assert transport.messages == sent

    def test_message_passed_unchanged(self, make_worker: MakeWorker) -> None:
        """Topic, key, value and timestamp reach the transport unchanged."""
        transport = MemoryTransport()
        worker = make_worker(transport=transport)
        item = Message("t-1", b"k", b'{"a":1}', 1_700_000_000_123)
        worker.put(item)
        assert worker.flush(5)
        assert transport.messages == [item]

    def test_batches_respect_batch_max_records(self, make_worker: MakeWorker, gated: Gated) -> None:
        """No batch handed to the transport exceeds batch_max_records; full batches are used when queued."""
        transport = gated()
        worker = make_worker(transport=transport, batch_max_records=4)
        stuck_with(worker, transport)
        for item in numbered(21):
            worker.put(item)
        transport.gate.set()
        assert worker.flush(5)
        assert transport.batches == [1, 4, 4, 4, 4, 4, 1]

    def test_batch_cap_without_stall(self, make_worker: MakeWorker) -> None:
        """With records arriving freely, every batch is still at most batch_max_records."""
        transport = RecordingTransport()
        worker = make_worker(transport=transport, batch_max_records=3, linger=0.01)
        for item in numbered(50):
            worker.put(item)
        assert worker.flush(5)
        assert max(transport.batches) <= 3
        assert sum(transport.batches) == 50

    def test_transport_opened_on_worker_thread(self, make_worker: MakeWorker) -> None:
        """open() and send() run on the worker thread, never on the caller's."""
        transport = MemoryTransport()
        worker = make_worker(transport=transport)
        worker.put(message())
        assert worker.flush(5)
        assert transport.threads == {"kafkalog-unit"}

    def test_transport_opened_once(self, make_worker: MakeWorker) -> None:
        """One transport is opened for many batches."""
        transport = MemoryTransport()
        worker = make_worker(transport=transport, batch_max_records=2)
        for item in numbered(10):
            worker.put(item)
        assert worker.flush(5)
        assert transport.opened == 1

    def test_no_thread_until_first_record(self, make_worker: MakeWorker) -> None:
        """A worker nobody logs to starts no thread and opens no transport."""
        transport = MemoryTransport()
        worker = make_worker(transport=transport)
        assert (worker.stats().worker_alive, transport.opened, transport.threads) == (False, 0, set())

    def test_stats_after_delivery(self, make_worker: MakeWorker) -> None:
        """After delivery, stats show every record seen, enqueued and delivered, nothing pending."""
        worker = make_worker()
        for item in numbered(5):
            worker.put(item)
        assert worker.flush(5)
        stats = worker.stats()
        assert (stats.seen, stats.enqueued, stats.delivered, stats.pending, stats.dropped) == (5, 5, 5, 0, {})

    def test_stats_connected_and_timestamped(self, make_worker: MakeWorker) -> None:
        """After a delivery, stats say connected, healthy and when the last delivery happened."""
        worker = make_worker()
        worker.put(message())
        assert worker.flush(5)
        stats = worker.stats()
        assert (stats.connected, stats.healthy, stats.last_delivery_at is not None) == (True, True, True)


class TestOverflow:
    def test_drop_newest_rejects_new_records(self, make_worker: MakeWorker, gated: Gated) -> None:
        """drop_newest: with the queue full, new records are refused (put returns False)."""
        transport = gated()
        worker = make_worker(transport=transport, queue_max_records=3, overflow="drop_newest")
        stuck_with(worker, transport)
        accepted = [worker.put(item) for item in numbered(5)]
        assert accepted == [True, True, True, False, False]

    def test_drop_newest_counts_queue_full(self, make_worker: MakeWorker, gated: Gated) -> None:
        """drop_newest: each refused record is counted in dropped['queue_full']."""
        transport = gated()
        worker = make_worker(transport=transport, queue_max_records=3, overflow="drop_newest")
        stuck_with(worker, transport)
        for item in numbered(5):
            worker.put(item)
        assert worker.stats().dropped == {"queue_full": 2}

    def test_queue_full_is_reported_once_per_interval(self, make_worker: MakeWorker, gated: Gated) -> None:
        """Overflow drops are reported (rate-limited) and set last_error, not only counted."""
        transport = gated()
        said: list[str] = []
        worker = make_worker(transport=transport, queue_max_records=3, overflow="drop_newest",
                             on_error=said.append, error_interval=60)
        stuck_with(worker, transport)
        logging_thread = threading.current_thread().name
        said_on: list[str] = []
        worker._reporter._sink = lambda line: (said.append(line), said_on.append(threading.current_thread().name))
        for item in numbered(10):
            worker.put(item)
        assert (worker.stats().last_error or "").startswith("queue_full:")  # at once
        assert said == []  # the line itself is written by the worker, not on the logging call
        transport.gate.set()
        assert wait_until(lambda: any(": queue_full: " in text for text in said))
        full = [text for text in said if ": queue_full: " in text]
        assert len(full) == 1 and "queue_max_records=3" in full[0]
        assert logging_thread not in said_on

    def test_drop_newest_delivers_oldest(self, make_worker: MakeWorker, gated: Gated) -> None:
        """drop_newest: the records already queued are the ones delivered."""
        transport = gated()
        worker = make_worker(transport=transport, queue_max_records=3, overflow="drop_newest")
        stuck_with(worker, transport)
        items = numbered(5)
        for item in items:
            worker.put(item)
        transport.gate.set()
        assert worker.flush(5)
        assert transport.messages[1:] == items[:3]

    def test_drop_oldest_evicts_oldest(self, make_worker: MakeWorker, gated: Gated) -> None:
        """drop_oldest: the oldest queued records make room and the newest are delivered."""
        transport = gated()
        worker = make_worker(transport=transport, queue_max_records=3, overflow="drop_oldest")
        stuck_with(worker, transport)
        items = numbered(5)
        accepted = [worker.put(item) for item in items]
        transport.gate.set()
        assert worker.flush(5)
        assert (accepted, transport.messages[1:]) == ([True] * 5, items[2:])

    def test_drop_oldest_counts_queue_full(self, make_worker: MakeWorker, gated: Gated) -> None:
        """drop_oldest: each evicted record is counted in dropped['queue_full'] and the invariant holds."""
        transport = gated()
        worker = make_worker(transport=transport, queue_max_records=3, overflow="drop_oldest")
        stuck_with(worker, transport)
        for item in numbered(5):
            worker.put(item)
        stats = worker.stats()
        assert (stats.dropped, stats.queue_depth) == ({"queue_full": 2}, 3)
        assert_invariant(stats)

    def test_drop_oldest_flush_completes(self, make_worker: MakeWorker, gated: Gated) -> None:
        """drop_oldest: flush() still completes (evicted records count as settled)."""
        transport = gated()
        worker = make_worker(transport=transport, queue_max_records=2, overflow="drop_oldest")
        stuck_with(worker, transport)
        for item in numbered(6):
            worker.put(item)
        transport.gate.set()
        assert worker.flush(5)

    def test_block_gives_up_after_block_timeout(self, make_worker: MakeWorker, gated: Gated) -> None:
        """block: with a stuck transport, put waits block_timeout for room, then returns False.

        Promise checked: the wait is at least block_timeout and ends within block_timeout plus seconds; the
        transport stays stuck until teardown, so only the timeout can end the wait.
        """
        transport = gated()
        worker = make_worker(transport=transport, queue_max_records=2, overflow="block", block_timeout=0.3)
        stuck_with(worker, transport)
        worker.put(message())
        worker.put(message())
        started = time.monotonic()
        accepted = finishes_within(0.3 + 10, lambda: worker.put(message()))
        assert accepted is False
        assert time.monotonic() - started >= 0.3 * 0.9  # a lower bound only grows under load

    def test_block_timeout_counts_queue_full(self, make_worker: MakeWorker, gated: Gated) -> None:
        """block: a record that waited block_timeout in vain is counted in dropped['queue_full']."""
        transport = gated()
        worker = make_worker(transport=transport, queue_max_records=1, overflow="block", block_timeout=0.05)
        stuck_with(worker, transport)
        worker.put(message())
        worker.put(message())
        worker.put(message())
        assert worker.stats().dropped == {"queue_full": 2}

    def test_block_succeeds_when_room_appears(self, make_worker: MakeWorker, gated: Gated) -> None:
        """block: put waits for the worker to take records, then queues (no drop)."""
        transport = gated()
        worker = make_worker(transport=transport, queue_max_records=1, overflow="block", block_timeout=60)
        stuck_with(worker, transport)
        worker.put(message())
        threading.Timer(0.2, transport.gate.set).start()
        accepted = worker.put(message())
        assert (accepted, worker.stats().dropped) == (True, {})

    def test_block_with_zero_timeout_drops_at_once(self, make_worker: MakeWorker, gated: Gated) -> None:
        """block with block_timeout=0 behaves like drop_newest."""
        transport = gated()
        worker = make_worker(transport=transport, queue_max_records=1, overflow="block", block_timeout=0)
        stuck_with(worker, transport)
        assert [worker.put(message()), worker.put(message())] == [True, False]

    def test_block_released_by_close(self, make_worker: MakeWorker, gated: Gated) -> None:
        """block: a put waiting for room returns False as soon as the worker is closed."""
        transport = gated()
        worker = make_worker(transport=transport, queue_max_records=1, overflow="block", block_timeout=60)
        stuck_with(worker, transport)
        worker.put(message())
        threading.Timer(0.2, worker.begin_close, args=(0.1,)).start()
        # only close can end this wait early: block_timeout (60 s) is twice the deadline given here
        assert finishes_within(30, lambda: worker.put(message())) is False

    def test_queue_byte_bound(self, make_worker: MakeWorker, gated: Gated) -> None:
        """queue_max_bytes: records beyond the byte bound are dropped as queue_full."""
        transport = gated()
        worker = make_worker(transport=transport, max_message_bytes=1024, queue_max_bytes=QB,
                             queue_max_records=1000)
        stuck_with(worker, transport)
        accepted = [worker.put(message(b"x" * 1000)) for _ in range(3)]
        assert accepted == [True, True, False]

    def test_queue_bytes_reported(self, make_worker: MakeWorker, gated: Gated) -> None:
        """stats().queue_bytes is the bytes queued, never above queue_max_bytes."""
        transport = gated()
        worker = make_worker(transport=transport, max_message_bytes=1024, queue_max_bytes=QB)
        stuck_with(worker, transport)
        for _ in range(3):
            worker.put(message(b"x" * 1000))
        stats = worker.stats()
        assert (stats.queue_bytes, stats.queue_depth, stats.dropped) == (2 * (1000 + RECORD_OVERHEAD), 2,
                                                                         {"queue_full": 1})

    def test_key_bytes_count_toward_bound(self, make_worker: MakeWorker, gated: Gated) -> None:
        """The key's bytes count toward queue_max_bytes."""
        transport = gated()
        worker = make_worker(transport=transport, max_message_bytes=1024, queue_max_bytes=QB)
        stuck_with(worker, transport)
        accepted = [worker.put(message(b"x" * 1000, key=b"k" * 100)) for _ in range(2)]
        assert accepted == [True, False]

    def test_drop_oldest_frees_enough_bytes(self, make_worker: MakeWorker, gated: Gated) -> None:
        """drop_oldest: a large record evicts as many small ones as needed to fit the byte bound."""
        transport = gated()
        worker = make_worker(transport=transport, max_message_bytes=1024, queue_max_bytes=QB,
                             overflow="drop_oldest")
        stuck_with(worker, transport)
        for _ in range(3):
            worker.put(message(b"s" * (1000 - RECORD_OVERHEAD)))  # 1000 bytes each with bookkeeping: two fit
        assert worker.put(message(b"L" * 1000))
        stats = worker.stats()
        assert (stats.queue_bytes, stats.dropped) == (1000 + 1000 + RECORD_OVERHEAD, {"queue_full": 2})

    def test_bytes_released_after_delivery(self, make_worker: MakeWorker) -> None:
        """Once delivered, records no longer count toward queue_bytes."""
        worker = make_worker(max_message_bytes=1024, queue_max_bytes=QB)
        for _ in range(10):
            worker.put(message(b"x" * 1000))
            assert worker.flush(5)
        assert (worker.stats().queue_bytes, worker.stats().delivered) == (0, 10)


class TestRetries:
    def test_retriable_then_delivered(self, make_worker: MakeWorker) -> None:
        """Retriable errors on the first 3 sends are retried and the record is then delivered."""
        transport = MemoryTransport(outcome=fail_first(3))
        worker = make_worker(transport=transport, retry_backoff=0.01, retry_backoff_max=0.05)
        worker.put(message())
        assert worker.flush(5)
        stats = worker.stats()
        assert (len(transport.messages), stats.delivered, stats.dropped) == (1, 1, {})

    def test_retries_counted(self, make_worker: MakeWorker) -> None:
        """Each retry is counted in stats().retried and each failed attempt in failed."""
        worker = make_worker(transport=MemoryTransport(outcome=fail_first(3)), retry_backoff=0.01,
                             retry_backoff_max=0.05)
        worker.put(message())
        assert worker.flush(5)
        assert (worker.stats().retried, worker.stats().failed) == (3, 3)

    def test_retries_back_off(self, make_worker: MakeWorker) -> None:
        """Retry n waits at least half of retry_backoff * 2**n before sending again."""
        times: list[float] = []
        worker = make_worker(transport=MemoryTransport(outcome=fail_first(3, times=times)), retry_backoff=0.04,
                             retry_backoff_max=1.0)
        worker.put(message())
        assert worker.flush(5)
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        assert len(gaps) == 3
        assert all(gap >= 0.04 * 2**n / 2 * 0.95 for n, gap in enumerate(gaps)), gaps

    def test_non_retriable_dropped_with_reason(self, make_worker: MakeWorker) -> None:
        """A non-retriable error drops the record under its reason."""
        transport = MemoryTransport(outcome=fail_first(1, "message_too_large", retriable=False))
        worker = make_worker(transport=transport)
        worker.put(message())
        assert worker.flush(5)
        assert worker.stats().dropped == {"message_too_large": 1}

    def test_non_retriable_not_retried(self, make_worker: MakeWorker) -> None:
        """A non-retriable error is not sent again."""
        transport = MemoryTransport(outcome=fail_first(1, "auth_failed", retriable=False))
        worker = make_worker(transport=transport)
        worker.put(message())
        assert worker.flush(5)
        assert (transport.send_calls, worker.stats().retried) == (1, 0)

    def test_non_retriable_reported(self, make_worker: MakeWorker) -> None:
        """A non-retriable error is reported to on_error with its reason."""
        errors: list[str] = []
        worker = make_worker(transport=MemoryTransport(outcome=fail_first(1, "auth_failed", retriable=False)),
                             on_error=errors.append)
        worker.put(message())
        assert worker.flush(5)
        assert len(errors) == 1
        assert "auth_failed" in errors[0]

    def test_partial_batch_failure_redelivers_only_failed(self, make_worker: MakeWorker, gated: Gated) -> None:
        """When some records of a batch fail retriably, only those are sent again; all end up delivered once."""
        failed_once: set[bytes] = set()

        def outcome(item: Message) -> BaseException | None:
            if item.value.endswith(b"1}") and item.value not in failed_once:
                failed_once.add(item.value)
                return DeliveryError("timeout", "t", retriable=True)
            return None

        transport = gated(outcome=outcome)
        worker = make_worker(transport=transport, retry_backoff=0.01, retry_backoff_max=0.02)
        stuck_with(worker, transport)
        items = numbered(20)
        for item in items:
            worker.put(item)
        transport.gate.set()
        assert worker.flush(5)
        assert sorted(m.value for m in transport.messages[1:]) == sorted(m.value for m in items)

    def test_delivery_timeout_drops(self, make_worker: MakeWorker) -> None:
        """A record still failing retriably after delivery_timeout is dropped as 'delivery_timeout'."""
        worker = make_worker(transport=MemoryTransport(outcome=fail_first(10**9)), delivery_timeout=0.2,
                             retry_backoff=0.01, retry_backoff_max=0.05)
        worker.put(message())
        assert worker.flush(5)
        assert worker.stats().dropped == {"delivery_timeout": 1}

    def test_delivery_timeout_not_early(self, make_worker: MakeWorker) -> None:
        """The delivery_timeout drop does not happen before delivery_timeout has passed."""
        worker = make_worker(transport=MemoryTransport(outcome=fail_first(10**9)), delivery_timeout=0.3,
                             retry_backoff=0.01, retry_backoff_max=0.05)
        started = time.monotonic()
        worker.put(message())
        assert worker.flush(5)
        assert time.monotonic() - started >= 0.3

    def test_plain_exception_outcome_retried(self, make_worker: MakeWorker) -> None:
        """A plain exception as an outcome is treated as a retriable transport error."""
        calls = [0]

        def outcome(_: Message) -> BaseException | None:
            calls[0] += 1
            return ValueError("odd") if calls[0] == 1 else None

        worker = make_worker(transport=MemoryTransport(outcome=outcome), retry_backoff=0.01)
        worker.put(message())
        assert worker.flush(5)
        assert (worker.stats().delivered, worker.stats().retried) == (1, 1)

    def test_send_raising_does_not_kill_worker(self, make_worker: MakeWorker) -> None:
        """A transport whose send() raises a plain exception leaves the worker alive and retrying."""
        transport = RaisingSendTransport(2, RuntimeError("boom"))
        worker = make_worker(transport=transport, retry_backoff=0.01)
        worker.put(message())
        assert worker.flush(5)
        assert (worker.stats().worker_alive, worker.stats().delivered) == (True, 1)

    def test_send_raising_reported_as_transport_error(self, make_worker: MakeWorker) -> None:
        """An exception from send() is reported as transport_error naming the exception."""
        errors: list[str] = []
        worker = make_worker(transport=RaisingSendTransport(1, RuntimeError("boom")), retry_backoff=0.01,
                             on_error=errors.append)
        worker.put(message())
        assert worker.flush(5)
        assert any("transport_error" in e and "RuntimeError: boom" in e for e in errors), errors

    def test_wrong_outcome_count_retried(self, make_worker: MakeWorker) -> None:
        """A transport returning the wrong number of outcomes is retried, not trusted."""
        transport = ShortResultTransport()
        worker = make_worker(transport=transport, retry_backoff=0.01)
        worker.put(message())
        assert worker.flush(5)
        assert (len(transport.messages), worker.stats().retried) == (1, 1)

    def test_open_failures_then_success(self, make_worker: MakeWorker) -> None:
        """open() failing twice is retried; the record is delivered after the third open."""
        transport = MemoryTransport(fail_open=2)
        worker = make_worker(transport=transport, retry_backoff=0.01, retry_backoff_max=0.05)
        worker.put(message())
        assert worker.flush(5)
        assert (transport.opened, len(transport.messages), worker.stats().dropped) == (1, 1, {})

    def test_open_failure_recorded_as_last_error(self, make_worker: MakeWorker) -> None:
        """An open() failure shows up in stats().last_error with its reason."""
        worker = make_worker(transport=MemoryTransport(fail_open=1), retry_backoff=0.01)
        worker.put(message())
        assert worker.flush(5)
        assert (worker.stats().last_error or "").startswith("broker_unavailable:")

    def test_open_failure_not_connected(self, make_worker: MakeWorker) -> None:
        """While open() keeps failing, stats say not connected and not healthy."""
        worker = make_worker(transport=MemoryTransport(fail_open=10**9), retry_backoff=0.05)
        worker.put(message())
        assert wait_until(lambda: worker.stats().failed >= 1)
        stats = worker.stats()
        assert (stats.connected, stats.healthy) == (False, False)

    def test_open_raising_plain_exception_retried(self, make_worker: MakeWorker) -> None:
        """A factory/open raising a plain exception is retried like a retriable error."""
        calls = [0]
        transport = MemoryTransport()

        def factory(settings: Any) -> MemoryTransport:
            calls[0] += 1
            if calls[0] == 1:
                raise OSError("connection refused")
            return transport

        worker = make_worker(transport=factory, retry_backoff=0.01)
        worker.put(message())
        assert worker.flush(5)
        assert (calls[0], len(transport.messages)) == (2, 1)

    def test_retries_during_close_still_back_off(self, make_worker: MakeWorker) -> None:
        """While close() drains a failing transport, retries keep backing off instead of spinning."""
        transport = MemoryTransport(outcome=fail_first(10**9))
        worker = make_worker(transport=transport, retry_backoff=0.2, retry_backoff_max=0.2)
        worker.put(message())
        assert wait_until(lambda: transport.send_calls >= 1)
        worker.close(0.3)
        assert transport.send_calls <= 10


class TestFlush:
    def test_true_when_done(self, make_worker: MakeWorker) -> None:
        """flush() returns True once everything queued before it is delivered."""
        transport = MemoryTransport()
        worker = make_worker(transport=transport)
        for item in numbered(30):
            worker.put(item)
        assert (worker.flush(5), len(transport.messages)) == (True, 30)

    def test_true_when_nothing_logged(self, make_worker: MakeWorker) -> None:
        """flush() with nothing logged returns True."""
        assert make_worker().flush(0) is True

    def test_false_when_stuck(self, make_worker: MakeWorker, gated: Gated) -> None:
        """flush(timeout) returns False when the transport is stuck."""
        transport = gated()
        worker = make_worker(transport=transport)
        stuck_with(worker, transport)
        assert worker.flush(0.2) is False

    def test_stuck_flush_bounded(self, make_worker: MakeWorker, gated: Gated) -> None:
        """flush(0.3) on a stuck transport waits its timeout, then returns False.

        Promise checked: flush(timeout) waits at least timeout and returns within timeout plus seconds.
        """
        transport = gated()
        worker = make_worker(transport=transport)
        stuck_with(worker, transport)
        started = time.monotonic()
        assert finishes_within(0.3 + 10, lambda: worker.flush(0.3)) is False
        assert time.monotonic() - started >= 0.3 * 0.9  # a lower bound only grows under load

    def test_default_timeout_is_flush_timeout(self, make_worker: MakeWorker, gated: Gated) -> None:
        """flush() without a timeout gives up after flush_timeout (0.2 s here), not the 5 s default.

        Promise checked: it returns within flush_timeout plus 3 s, still less than the default.
        """
        transport = gated()
        worker = make_worker(transport=transport, flush_timeout=0.2)
        stuck_with(worker, transport)
        assert finishes_within(0.2 + 3, worker.flush) is False

    def test_cuts_linger_short(self, make_worker: MakeWorker) -> None:
        """flush() does not wait out a long linger: records go out within the flush timeout."""
        transport = MemoryTransport()
        worker = make_worker(transport=transport, linger=10)
        worker.put(message())
        assert wait_until(lambda: worker.stats().worker_alive)
        assert wait_until(lambda: not worker._wake.is_set())  # the worker took the wake-up: it lingers now
        assert worker.flush(3) is True

    def test_dropped_records_count_as_settled(self, make_worker: MakeWorker) -> None:
        """flush() returns True when the records were dropped (not delivered): they are settled."""
        worker = make_worker(transport=MemoryTransport(outcome=fail_first(10**9, retriable=False)))
        for item in numbered(3):
            worker.put(item)
        assert worker.flush(5) is True


class TestClose:
    def test_bounded_with_stuck_transport(self, make_worker: MakeWorker, gated: Gated) -> None:
        """close(timeout) returns while the transport is stuck, reporting the record as left.

        Promise checked: close(timeout) returns within timeout plus seconds; the transport never returns.
        """
        transport = gated()
        worker = make_worker(transport=transport)
        stuck_with(worker, transport)
        report = finishes_within(0.3 + 5, lambda: worker.close(0.3))
        assert report.left == 1

    def test_report_left_counts_undelivered(self, make_worker: MakeWorker, gated: Gated) -> None:
        """close_report.left counts the in-flight record and the queued ones; timed_out is True."""
        transport = gated()
        worker = make_worker(transport=transport)
        stuck_with(worker, transport)
        for item in numbered(4):
            worker.put(item)
        report = worker.close(0.2)
        assert (report.left, report.timed_out, report.delivered) == (5, True, 0)

    def test_queued_records_dropped_as_shutdown(self, make_worker: MakeWorker, gated: Gated) -> None:
        """Records still queued at the close deadline are counted as dropped 'shutdown'; the invariant holds."""
        transport = gated()
        worker = make_worker(transport=transport)
        stuck_with(worker, transport)
        for item in numbered(4):
            worker.put(item)
        worker.close(0.2)
        stats = worker.stats()
        assert (stats.dropped, stats.in_flight) == ({"shutdown": 4}, 1)
        assert_invariant(stats)

    def test_sets_close_report(self, make_worker: MakeWorker) -> None:
        """close() stores its report on the worker."""
        worker = make_worker()
        report = worker.close(1)
        assert worker.close_report is report

    def test_twice_returns_same_report(self, make_worker: MakeWorker) -> None:
        """Closing twice is harmless and returns the first report."""
        worker = make_worker()
        worker.put(message())
        first = worker.close(1)
        assert worker.close(1) is first

    def test_drains_lingering_records(self, make_worker: MakeWorker) -> None:
        """close() delivers records still waiting out a long linger."""
        transport = MemoryTransport()
        worker = make_worker(transport=transport, linger=10)
        for item in numbered(5):
            worker.put(item)
        report = worker.close(3)
        assert (report.delivered, report.left, len(transport.messages)) == (5, 0, 5)

    def test_clean_close_report(self, make_worker: MakeWorker) -> None:
        """A clean close reports left=0 and timed_out False."""
        worker = make_worker()
        worker.put(message())
        assert worker.flush(5)
        report = worker.close(1)
        assert (report.delivered, report.left, report.timed_out) == (1, 0, False)

    def test_closes_transport(self, make_worker: MakeWorker) -> None:
        """close() closes the transport exactly once."""
        transport = MemoryTransport()
        worker = make_worker(transport=transport)
        worker.put(message())
        worker.close(2)
        assert wait_until(lambda: transport.closed == 1)
        assert transport.closed == 1

    def test_unused_worker_closes_without_opening(self, make_worker: MakeWorker) -> None:
        """Closing a worker that never got a record opens nothing and leaves nothing."""
        transport = MemoryTransport()
        worker = make_worker(transport=transport)
        report = worker.close(1)
        assert (report.left, transport.opened) == (0, 0)

    def test_put_after_close_dropped(self, make_worker: MakeWorker) -> None:
        """put() after close() returns False and counts the record as dropped 'closed'."""
        worker = make_worker()
        worker.close(1)
        accepted = worker.put(message())
        assert (accepted, worker.stats().dropped, worker.stats().seen) == (False, {"closed": 1}, 1)

    def test_stats_say_closed(self, make_worker: MakeWorker) -> None:
        """After close(), stats().closed is True and healthy is False."""
        worker = make_worker()
        worker.close(1)
        assert (worker.stats().closed, worker.stats().healthy) == (True, False)

    def test_bounded_while_open_blocks(self, make_worker: MakeWorker,
                                       stuck_open: Callable[..., StuckOpenTransport]) -> None:
        """close(0.2) returns while the transport's open() never does, reporting the record as left.

        Promise checked: close(timeout) returns within timeout plus seconds, even with open() stuck.
        """
        transport = stuck_open()
        worker = make_worker(transport=transport)
        worker.put(message())
        assert transport.entered.wait(10)
        report = finishes_within(0.2 + 5, lambda: worker.close(0.2))
        assert report.left == 1

    def test_bounded_while_backing_off(self, make_worker: MakeWorker) -> None:
        """close() does not wait out a long retry backoff (60 s): it returns within its timeout plus seconds."""
        worker = make_worker(transport=MemoryTransport(outcome=fail_first(10**9)), retry_backoff=60.0,
                             retry_backoff_max=60.0)
        worker.put(message())
        assert wait_until(lambda: worker.stats().retried >= 1)
        report = finishes_within(0.2 + 5, lambda: worker.close(0.2))
        assert report.left == 1

    def test_shutdown_reported(self, make_worker: MakeWorker, gated: Gated) -> None:
        """A close that leaves records reports it to on_error with the count."""
        errors: list[str] = []
        transport = gated()
        worker = make_worker(transport=transport, on_error=errors.append)
        stuck_with(worker, transport)
        worker.put(message())
        worker.close(0.1)
        assert any(e.startswith("kafkalog[unit]: shutdown: closed with 2 record(s) undelivered") for e in errors)


class TestStatsInvariant:
    def test_holds_while_stuck(self, make_worker: MakeWorker, gated: Gated) -> None:
        """seen == delivered + dropped_total + pending while records are in flight, queued and dropped."""
        transport = gated()
        worker = make_worker(transport=transport, queue_max_records=3)
        stuck_with(worker, transport)
        for item in numbered(6):
            worker.put(item)
        assert_invariant(worker.stats())

    def test_holds_after_mixed_outcomes(self, make_worker: MakeWorker) -> None:
        """After flush, the invariant holds with deliveries, retries and several drop reasons."""
        calls = [0]

        def outcome(_: Message) -> BaseException | None:
            calls[0] += 1
            if calls[0] % 3 == 0:
                return DeliveryError("auth_failed", "no", retriable=False)
            if calls[0] % 3 == 1:
                return DeliveryError("timeout", "slow", retriable=True)
            return None

        worker = make_worker(transport=MemoryTransport(outcome=outcome), retry_backoff=0.001,
                             retry_backoff_max=0.002)
        for item in numbered(30):
            worker.put(item)
        worker.count_drop("too_large")
        assert worker.flush(5)
        stats = worker.stats()
        assert stats.pending == 0
        assert_invariant(stats)


class TestErrorReporter:
    def test_first_error_passed_on(self) -> None:
        """The first error of a kind reaches the sink, prefixed with the name and kind."""
        said: list[str] = []
        ErrorReporter("w", said.append, 60, lambda t: t).report("timeout", "broker slow")
        assert said == ["kafkalog[w]: timeout: broker slow"]

    def test_same_kind_within_interval_said_once(self) -> None:
        """Two errors of the same kind within error_interval produce one message."""
        said: list[str] = []
        reporter = ErrorReporter("w", said.append, 60, lambda t: t)
        reporter.report("timeout", "one")
        reporter.report("timeout", "two")
        assert said == ["kafkalog[w]: timeout: one"]

    def test_different_kinds_both_said(self) -> None:
        """Errors of different kinds are each said."""
        said: list[str] = []
        reporter = ErrorReporter("w", said.append, 60, lambda t: t)
        reporter.report("timeout", "one")
        reporter.report("auth_failed", "two")
        assert len(said) == 2

    def test_held_back_count_after_interval(self) -> None:
        """After the interval, the next message says how many were held back."""
        said: list[str] = []
        reporter = ErrorReporter("w", said.append, 60, lambda t: t)
        for text in ("a", "b", "c"):
            reporter.report("timeout", text)
        said_at, held = reporter._last["timeout"]
        reporter._last["timeout"] = (said_at - 61, held)  # the interval has passed (no sleeping on the clock)
        reporter.report("timeout", "d")
        assert said[-1] == "kafkalog[w]: timeout: d (2 more like this held back)"

    def test_last_error_updated_even_when_held_back(self) -> None:
        """last_error is the latest error even when its message was held back."""
        reporter = ErrorReporter("w", lambda m: None, 60, lambda t: t)
        reporter.report("timeout", "one")
        reporter.report("timeout", "two")
        assert reporter.last_error == "timeout: two"

    def test_scrubbed(self) -> None:
        """Messages pass through the scrub function before being said or stored."""
        said: list[str] = []
        reporter = ErrorReporter("w", said.append, 0, lambda t: t.replace(SECRET, "***"))
        reporter.report("auth_failed", f"bad password {SECRET}")
        assert (said[0], reporter.last_error) == ("kafkalog[w]: auth_failed: bad password ***",
                                                  "auth_failed: bad password ***")

    def test_raising_sink_swallowed(self) -> None:
        """A sink that raises does not propagate its error."""
        def sink(_: str) -> None:
            raise RuntimeError("sink broke")

        ErrorReporter("w", sink, 0, lambda t: t).report("k", "m")

    def test_default_sink_is_stderr(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Without on_error, messages go to stderr."""
        ErrorReporter("w", None, 0, lambda t: t).report("k", "m")
        assert capsys.readouterr().err == "kafkalog[w]: k: m\n"

    def test_worker_rate_limits(self, make_worker: MakeWorker) -> None:
        """Through the worker: two failing batches of one kind within error_interval give one message."""
        errors: list[str] = []
        worker = make_worker(transport=MemoryTransport(outcome=fail_first(10**9, "auth_failed", retriable=False)),
                             on_error=errors.append, error_interval=60)
        worker.put(message())
        assert worker.flush(5)
        worker.put(message())
        assert worker.flush(5)
        assert len([e for e in errors if "auth_failed" in e]) == 1

    def test_worker_errors_never_contain_secret(self, make_worker: MakeWorker) -> None:
        """A client error quoting the password reaches on_error and last_error with the password masked."""
        errors: list[str] = []

        def outcome(_: Message) -> BaseException | None:
            return DeliveryError("auth_failed", f"SASL PLAIN failed for alice:{SECRET}", retriable=False)

        worker = make_worker(transport=MemoryTransport(outcome=outcome), on_error=errors.append,
                             producer_config={"sasl_plain_password": SECRET})
        worker.put(message())
        assert worker.flush(5)
        worker.close(1)
        texts = [*errors, worker.stats().last_error or ""]
        assert not any(SECRET in text for text in texts)
        assert "alice:***" in errors[0]

    def test_on_error_raising_does_not_stop_worker(self, make_worker: MakeWorker) -> None:
        """An on_error callback that raises does not stop the worker from delivering."""
        def on_error(_: str) -> None:
            raise RuntimeError("callback broke")

        transport = MemoryTransport(outcome=fail_first(1))
        worker = make_worker(transport=transport, on_error=on_error, retry_backoff=0.01)
        worker.put(message())
        assert worker.flush(5)
        assert len(transport.messages) == 1


def _read_all(fd: int, timeout: float) -> bytes:
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture(scope="class")
def forked() -> Any:
    """Log in a parent, fork, log in the child and the parent; the child's own view comes back over a pipe."""
    if not hasattr(os, "fork"):
        pytest.skip("needs os.fork")
    transport = MemoryTransport()
    handler = KafkaHandler("127.0.0.1:9", "logs", transport=transport, linger=0, on_error=lambda m: None,
                           handle_sigterm=False)
    logger = logging.Logger("kafkalog_unit.fork", logging.DEBUG)
    logger.addHandler(handler)
    logger.info("parent before")
    assert handler.flush(5)
    opened_before = transport.opened
    read_fd, write_fd = os.pipe()
    with warnings.catch_warnings(record=True) as fork_warnings:
        warnings.simplefilter("always")
        pid = os.fork()
    if pid == 0:  # the child: report over the pipe and leave without running pytest's teardown
        code = 0
        try:
            os.close(read_fd)
            fresh = handler.stats()
            for i in range(3):
                logger.info("child %d", i)
            flushed = handler.flush(5)
            stats = handler.stats()
            msgs = [json.loads(v)["msg"] for v in transport.values()]
            report = {"fresh": [fresh.seen, fresh.delivered, fresh.enqueued, fresh.worker_alive],
                      "flushed": flushed, "seen": stats.seen, "delivered": stats.delivered,
                      "stats_pid_is_child": stats.pid == os.getpid(), "child_msgs": [m for m in msgs if "child" in m],
                      "opened": transport.opened, "record_pids": [json.loads(v)["pid"] for v in transport.values()],
                      "child_pid": os.getpid()}
            os.write(write_fd, json.dumps(report).encode())
        except BaseException as exc:
            os.write(write_fd, json.dumps({"error": repr(exc)}).encode())
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    try:
        raw = _read_all(read_fd, 15)
    finally:
        os.close(read_fd)
        _, status = os.waitpid(pid, 0)
    logger.info("parent after")
    parent_flushed = handler.flush(5)
    parent = {"flushed": parent_flushed, "msgs": [json.loads(v)["msg"] for v in transport.values()],
              "stats": handler.stats(), "opened_before": opened_before, "opened": transport.opened,
              "status": status, "fork_warnings": [str(w.message) for w in fork_warnings]}
    handler.close(1)
    return json.loads(raw or b'{"error": "no report"}'), parent


class TestFork:
    def test_child_reports(self, forked: Any) -> None:
        """The child ran without error and exited 0."""
        child, parent = forked
        assert ("error" not in child, parent["status"]) == (True, 0), child

    def test_python_312_warns_about_the_fork(self, forked: Any) -> None:
        """3.12+ warns (DeprecationWarning) about any fork while other threads run, here the handler's worker;
        3.10 and 3.11 do not. The fork works all the same (docs/operations.md, Fork)."""
        _, parent = forked
        warned = any("is multi-threaded, use of fork() may lead to deadlocks" in w for w in parent["fork_warnings"])
        assert warned == (sys.version_info >= (3, 12)), parent["fork_warnings"]

    def test_child_stats_start_at_zero(self, forked: Any) -> None:
        """In the child, stats start at zero with no worker thread yet."""
        child, _ = forked
        assert child["fresh"] == [0, 0, 0, False]

    def test_child_delivers_with_fresh_worker(self, forked: Any) -> None:
        """The child's records are delivered by its own worker: flush True, 3 seen and delivered."""
        child, _ = forked
        assert (child["flushed"], child["seen"], child["delivered"]) == (True, 3, 3)

    def test_child_records_reach_childs_transport(self, forked: Any) -> None:
        """The child's own transport copy holds its three records, in order."""
        child, _ = forked
        assert child["child_msgs"] == ["child 0", "child 1", "child 2"]

    def test_child_records_carry_child_pid(self, forked: Any) -> None:
        """The child's records carry the child's pid, and stats report the child's pid."""
        child, _ = forked
        assert (child["record_pids"][-3:], child["stats_pid_is_child"]) == ([child["child_pid"]] * 3, True)

    def test_child_opens_its_own_transport(self, forked: Any) -> None:
        """The child opens the transport again instead of reusing the parent's connection."""
        child, parent = forked
        assert child["opened"] == parent["opened_before"] + 1

    def test_parent_keeps_working(self, forked: Any) -> None:
        """The parent still delivers after the fork, and none of the child's records show up there."""
        _, parent = forked
        assert (parent["flushed"], parent["msgs"]) == (True, ["parent before", "parent after"])

    def test_parent_stats_unaffected(self, forked: Any) -> None:
        """The parent's stats count only its own two records."""
        _, parent = forked
        assert (parent["stats"].seen, parent["stats"].delivered, parent["opened"]) == (2, 2, 1)


_PRELUDE = """
import atexit, logging, os, signal, sys, time
from kafkalog import KafkaHandler
from kafkalog.transports import MemoryTransport
"""


def run_script(body: str, timeout: float = 60) -> tuple[int, str, float]:
    """Run ``body`` (after a common prelude) in a fresh interpreter: exit status, stdout and the time.monotonic()
    at which it ended (CLOCK_MONOTONIC is one clock for all processes on the machine)."""
    import subprocess
    import sys
    import textwrap

    result = subprocess.run([sys.executable, "-c", _PRELUDE + textwrap.dedent(body)], capture_output=True,
                            text=True, timeout=timeout, check=False)
    return result.returncode, result.stdout, time.monotonic()


class TestProcessLifecycle:
    def test_exit_delivers_queued_records(self) -> None:
        """Records still lingering when the interpreter exits (no close()) are delivered by the exit hook."""
        code, out, _ = run_script("""
            t = MemoryTransport()
            atexit.register(lambda: print("delivered", len(t.messages), flush=True))
            h = KafkaHandler("127.0.0.1:9", "logs", transport=t, linger=5, on_error=lambda m: None)
            log = logging.Logger("app"); log.addHandler(h)
            for i in range(3):
                log.warning("x %d", i)
        """)
        assert (code, out.split()) == (0, ["delivered", "3"])

    def test_exit_bounded_with_stuck_transport(self) -> None:
        """With a stuck transport (a 30 s send), the interpreter exits within close_timeout (0.5 s) plus seconds.

        Promise checked: exit within close_timeout. Measured from the script's last line to the process's end,
        so interpreter start-up on a busy machine does not count.
        """
        code, out, ended = run_script("""
            t = MemoryTransport(delay=30)
            h = KafkaHandler("127.0.0.1:9", "logs", transport=t, linger=0, close_timeout=0.5,
                             on_error=lambda m: None)
            log = logging.Logger("app"); log.addHandler(h)
            logging.getLogger().addHandler(h)  # so logging.shutdown() flushes and closes it too
            log.warning("stuck")
            wait_until = time.monotonic() + 30
            while t.send_calls == 0 and time.monotonic() < wait_until:
                time.sleep(0.01)
            print("exiting", t.send_calls, time.monotonic(), flush=True)
        """)
        assert (code, out.split()[:2]) == (0, ["exiting", "1"])
        assert ended - float(out.split()[2]) < 0.5 + 5.0, out

    def test_sigterm_drains_and_exits_143(self) -> None:
        """SIGTERM with no other handler drains the queue through the exit hook and exits with status 143."""
        code, out, _ = run_script("""
            t = MemoryTransport()
            atexit.register(lambda: print("delivered", len(t.messages), flush=True))
            h = KafkaHandler("127.0.0.1:9", "logs", transport=t, linger=5, on_error=lambda m: None)
            log = logging.Logger("app"); log.addHandler(h)
            for i in range(3):
                log.warning("x %d", i)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(10)
            print("not reached", flush=True)
        """)
        assert (code, out.split()) == (143, ["delivered", "3"])

    def test_sigterm_handler_of_application_still_decides(self) -> None:
        """An application's own SIGTERM handler is chained, not replaced: it still runs and decides."""
        code, out, _ = run_script("""
            def mine(signum, frame):
                print("mine", signum, flush=True)
            signal.signal(signal.SIGTERM, mine)
            h = KafkaHandler("127.0.0.1:9", "logs", transport=MemoryTransport(), on_error=lambda m: None)
            signal.raise_signal(signal.SIGTERM)
            print("still running", flush=True)
            h.close(1)
        """)
        assert (code, out.split("\n")[:2]) == (0, ["mine 15", "still running"])

    def test_handle_sigterm_false_keeps_default(self) -> None:
        """handle_sigterm=False leaves SIGTERM's default disposition in place."""
        code, out, _ = run_script("""
            h = KafkaHandler("127.0.0.1:9", "logs", transport=MemoryTransport(), handle_sigterm=False,
                             on_error=lambda m: None)
            print(signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, flush=True)
            h.close(1)
        """)
        assert (code, out.strip()) == (0, "True")
