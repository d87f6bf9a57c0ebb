"""Broker outages against a real broker: down at start, killed mid-stream and restarted, paused (slow)."""

from __future__ import annotations

import logging
import os
import signal
import statistics
import threading
import time
from collections import Counter

import pytest
from kafka_util import read_records
from support import isolated_logger

from kafkalog import KafkaHandler
from kafkalog.testing import LocalKafka

pytestmark = [pytest.mark.integration, pytest.mark.slow]




def _timed_calls(log: logging.Logger, start: int, count: int) -> list[float]:
    costs = []
    for seq in range(start, start + count):
        t0 = time.perf_counter()
        log.info("order %d", seq, extra={"seq": seq})
        costs.append(time.perf_counter() - t0)
    return costs


def _assert_accounted(handler: KafkaHandler) -> None:
    s = handler.stats()
    assert s.seen == s.delivered + s.dropped_total + s.pending, s


class TestOutages:
    def test_broker_down_at_start_then_up(self, private_kafka: LocalKafka) -> None:
        """Records logged while the broker is down are all delivered once it comes up, in order."""
        private_kafka.kill()
        handler = KafkaHandler(private_kafka.bootstrap, "outage-start", delivery_timeout=120)
        log = isolated_logger("outage.start", handler)
        costs = _timed_calls(log, 0, 2_000)
        assert sum(costs) < 1.0
        assert handler.stats().delivered == 0
        private_kafka.restart()
        assert handler.flush(90), handler.stats()
        _assert_accounted(handler)
        stats = handler.stats()
        handler.close()
        assert (stats.delivered, stats.dropped) == (2_000, {})
        records = read_records(private_kafka.bootstrap, "outage-start", 2_000, timeout=60)
        assert [r.json()["fields"]["seq"] for r in records] == list(range(2_000))

    def test_broker_killed_mid_stream_and_restarted(self, private_kafka: LocalKafka) -> None:
        """SIGKILL mid-stream: the app's cost per call stays flat; after restart every record arrives."""
        topic = "outage-kill"
        private_kafka.create_topic(topic)
        handler = KafkaHandler(private_kafka.bootstrap, topic, delivery_timeout=120)
        log = isolated_logger("outage.kill", handler)
        up = _timed_calls(log, 0, 3_000)
        assert handler.flush(30)
        private_kafka.kill()
        assert handler.stats().healthy
        down = _timed_calls(log, 3_000, 3_000)
        time.sleep(2)  # the worker is now retrying against a dead broker
        down += _timed_calls(log, 6_000, 1_000)
        deadline = time.monotonic() + 15
        while handler.stats().healthy and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not handler.stats().healthy, "a dead broker with records pending must read as unhealthy"
        private_kafka.restart()
        after = _timed_calls(log, 7_000, 3_000)
        assert handler.flush(120), handler.stats()
        _assert_accounted(handler)
        stats = handler.stats()
        handler.close()
        assert stats.healthy
        assert stats.dropped == {}
        assert stats.delivered == 10_000
        records = read_records(private_kafka.bootstrap, topic, 10_000, timeout=60)
        seqs = Counter(r.json()["fields"]["seq"] for r in records)
        assert set(seqs) == set(range(10_000))  # nothing lost (retries after a timeout may duplicate)
        duplicates = sum(n - 1 for n in seqs.values())
        print(f"kill/restart: sent=10000 delivered={stats.delivered} retried={stats.retried} "
              f"duplicates={duplicates} median_up={statistics.median(up) * 1e6:.1f}us "
              f"median_down={statistics.median(down) * 1e6:.1f}us max_down={max(down) * 1e3:.2f}ms")
        assert duplicates <= stats.retried
        # app-thread cost: the median while the broker is down is no worse than twice the median while up
        assert statistics.median(down) < 2 * statistics.median(up) + 20e-6, (statistics.median(up),
                                                                              statistics.median(down))
        assert max(down) < 0.05
        assert sum(after) < 3.0

    def test_queue_bound_holds_during_outage(self, private_kafka: LocalKafka) -> None:
        """Without a spool, records within the queue bound arrive after recovery; the rest are counted."""
        topic = "outage-bound"
        private_kafka.create_topic(topic)
        handler = KafkaHandler(private_kafka.bootstrap, topic, queue_max_records=1_000, batch_max_records=100)
        log = isolated_logger("outage.bound", handler)
        log.info("warm-up", extra={"seq": -1})
        assert handler.flush(30)
        private_kafka.kill()
        time.sleep(0.5)
        _timed_calls(log, 0, 5_000)
        stats = handler.stats()
        assert stats.queue_depth <= 1_000
        private_kafka.restart()
        assert handler.flush(90), handler.stats()
        stats = handler.stats()
        handler.close()
        assert stats.dropped.keys() == {"queue_full"}
        assert stats.delivered + stats.dropped["queue_full"] == 5_001
        assert 1_000 <= stats.delivered <= 1_101 + 1  # the queue plus the batch in flight, plus the warm-up
        assert stats.seen == stats.delivered + stats.dropped_total + stats.pending
        records = read_records(private_kafka.bootstrap, topic, stats.delivered, timeout=60)
        assert len(records) == stats.delivered

    def test_paused_broker_does_not_slow_the_app(self, private_kafka: LocalKafka) -> None:
        """A frozen broker (SIGSTOP): log calls stay as cheap as with it running; records arrive after SIGCONT."""
        topic = "outage-slow"
        private_kafka.create_topic(topic)
        handler = KafkaHandler(private_kafka.bootstrap, topic)
        log = isolated_logger("outage.slow", handler)
        up = _timed_calls(log, 0, 2_000)
        assert handler.flush(30)
        assert private_kafka.pid is not None
        os.kill(private_kafka.pid, signal.SIGSTOP)
        try:
            paused = _timed_calls(log, 2_000, 2_000)
            flushed = threading.Event()
            # flush is bounded by its timeout even when the broker never answers
            t0 = time.monotonic()
            flushed_in_time = handler.flush(1.0)
            assert time.monotonic() - t0 < 1.5
            assert not flushed_in_time
            flushed.set()
        finally:
            os.kill(private_kafka.pid, signal.SIGCONT)
        assert handler.flush(90), handler.stats()
        stats = handler.stats()
        handler.close()
        assert stats.dropped == {}
        assert statistics.median(paused) < 2 * statistics.median(up) + 20e-6
        records = read_records(private_kafka.bootstrap, topic, 4_000, timeout=60)
        assert {r.json()["fields"]["seq"] for r in records} == set(range(4_000))
