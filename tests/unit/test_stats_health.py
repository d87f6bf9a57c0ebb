"""stats().healthy, the readiness rule of docs/operations.md, with every timestamp chosen by the test.

Stats snapshots are built directly (or taken from a handler and shifted with ``dataclasses.replace``), so the
10 s windows are crossed without sleeping: "seconds ago" values sit far from the window's edge on either side.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from kafkalog import KafkaHandler, Stats
from kafkalog.transports import MemoryTransport

from .conftest import GatedTransport

WINDOW = 10.0  # docs/operations.md: unhealthy for 10 s after a drop; pending with no delivery for 10 s is a stall
WELL_INSIDE = 1.0  # seconds ago: inside the window, by 9 s
WELL_OUTSIDE = 60.0  # seconds ago: outside the window, by 50 s


def snapshot(**changes: Any) -> Stats:
    """An idle, open, connected worker's stats with nothing pending and nothing dropped; ``changes`` on top."""
    base = Stats(seen=0, enqueued=0, delivered=0, failed=0, retried=0, truncated=0, dropped={}, queue_depth=0,
                 queue_bytes=0, in_flight=0, last_error=None, last_error_at=None, last_delivery_at=None,
                 connected=True, worker_alive=True, closed=False, pid=1)
    return dataclasses.replace(base, **changes)


def ago(seconds: float) -> float:
    return time.time() - seconds


class TestIdle:
    def test_idle_open_worker_is_healthy(self) -> None:
        """Nothing pending, nothing dropped, open: healthy."""
        assert snapshot().healthy is True

    def test_closed_is_unhealthy(self) -> None:
        """A closed handler is never healthy, even with nothing pending."""
        assert snapshot(closed=True).healthy is False


class TestRecentDrop:
    def test_drop_within_window_is_unhealthy(self) -> None:
        """A record dropped 1 s ago makes it unhealthy, though nothing is pending."""
        assert snapshot(dropped={"queue_full": 1}, last_drop_at=ago(WELL_INSIDE)).healthy is False

    def test_drop_older_than_window_is_healthy_again(self) -> None:
        """A drop 60 s ago no longer counts: healthy again (the drop stays in the counters)."""
        assert snapshot(dropped={"queue_full": 1}, last_drop_at=ago(WELL_OUTSIDE)).healthy is True

    def test_recent_drop_beats_recent_delivery(self) -> None:
        """A delivery right after a drop does not hide the drop while it is within the window."""
        stats = snapshot(dropped={"too_large": 1}, last_drop_at=ago(WELL_INSIDE), delivered=5,
                         last_delivery_at=ago(0))
        assert stats.healthy is False

    def test_drop_through_a_handler_turns_health_false(self, make_handler: Callable[..., KafkaHandler],
                                                       make_logger: Callable[..., Any],
                                                       gated: Callable[..., GatedTransport]) -> None:
        """A real queue_full drop shows at once in stats().healthy; the same snapshot 60 s later is healthy."""
        transport = gated()
        handler = make_handler(transport=transport, queue_max_records=1)
        logger = make_logger(handler)
        logger.info("in flight")
        assert transport.entered.wait(5)
        logger.info("queued")
        logger.info("dropped")
        stats = handler.stats()
        assert stats.dropped == {"queue_full": 1} and stats.last_drop_at is not None
        assert stats.healthy is False
        transport.gate.set()
        assert handler.flush(5)
        later = dataclasses.replace(handler.stats(), last_drop_at=stats.last_drop_at - WELL_OUTSIDE)
        assert (later.pending, later.healthy) == (0, True)


class TestStall:
    def test_pending_with_recent_delivery_is_healthy(self) -> None:
        """Records pending, the last delivery 1 s ago: healthy (merely busy)."""
        stats = snapshot(queue_depth=10, last_delivery_at=ago(WELL_INSIDE), pending_since=ago(WELL_OUTSIDE))
        assert stats.healthy is True

    def test_pending_recently_started_is_healthy(self) -> None:
        """Records waiting for 1 s with no delivery ever: healthy (not a stall yet)."""
        assert snapshot(in_flight=3, pending_since=ago(WELL_INSIDE)).healthy is True

    def test_pending_without_delivery_for_the_window_is_unhealthy(self) -> None:
        """Records pending, no delivery for 60 s and no error at all: a stall, unhealthy."""
        stats = snapshot(queue_depth=10, last_delivery_at=ago(WELL_OUTSIDE), pending_since=ago(WELL_OUTSIDE))
        assert stats.healthy is False

    def test_pending_waiting_for_the_window_never_delivered_is_unhealthy(self) -> None:
        """Records waiting 60 s, none ever delivered: a stall, unhealthy."""
        assert snapshot(in_flight=1, pending_since=ago(WELL_OUTSIDE)).healthy is False

    def test_spool_pending_counts_as_pending(self) -> None:
        """Records waiting on disk count as pending for the stall rule."""
        stats = snapshot(spool_pending=100, last_delivery_at=ago(WELL_OUTSIDE), pending_since=ago(WELL_OUTSIDE))
        assert stats.healthy is False


class TestFailingNow:
    def test_disconnected_with_error_after_progress_is_unhealthy_at_once(self) -> None:
        """Pending, not connected, and an error since the last progress: unhealthy without waiting for a stall."""
        stats = snapshot(queue_depth=5, connected=False, pending_since=ago(2.0), last_error="broker_unavailable",
                         last_error_at=ago(WELL_INSIDE))
        assert stats.healthy is False

    def test_error_before_the_last_delivery_is_forgotten(self) -> None:
        """Pending and not connected, but delivered since the last error: healthy (it recovered)."""
        stats = snapshot(queue_depth=5, connected=False, pending_since=ago(3.0), last_error="broker_unavailable",
                         last_error_at=ago(2.0), last_delivery_at=ago(WELL_INSIDE))
        assert stats.healthy is True

    def test_connected_with_error_is_healthy_until_stall(self) -> None:
        """An error while connected (e.g. one record refused) with recent progress does not flip health."""
        stats = snapshot(queue_depth=5, connected=True, pending_since=ago(2.0), last_error="broker_error",
                         last_error_at=ago(WELL_INSIDE))
        assert stats.healthy is True

    def test_error_with_nothing_pending_is_healthy(self) -> None:
        """A past error with nothing pending and no drop: healthy."""
        assert snapshot(connected=False, last_error="timeout", last_error_at=ago(WELL_INSIDE)).healthy is True


def test_memory_transport_handler_starts_healthy(make_handler: Callable[..., KafkaHandler]) -> None:
    """A fresh handler, nothing logged yet, reads as healthy."""
    assert make_handler(transport=MemoryTransport()).stats().healthy is True
