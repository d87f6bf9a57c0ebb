"""Broker outages against a real broker: down at start, killed mid-stream and restarted, paused (slow)."""

from __future__ import annotations

import logging
import os
import signal
from collections import Counter

import pytest
from kafka_util import check_sequence, read_records
from support import finishes_within, isolated_logger, wait_until

from kafkalog import KafkaHandler
from kafkalog.testing import LocalKafka

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# How long a batch of log calls may take before the test gives up on it. Not a speed check (the cost of a call
# with the broker down or frozen is measured in bench/): calls that waited for the dead broker would each wait
# for a client timeout (kafka-python's max_block_ms is 60 s), so they would never all finish in this time.
CALLS_DEADLINE = 60.0


def _log_calls(log: logging.Logger, start: int, count: int) -> None:
    """Log ``count`` records numbered from ``start``, failing the test if they have not all returned in time."""

    def calls() -> None:
        for seq in range(start, start + count):
            log.info("order %d", seq, extra={"seq": seq})

    finishes_within(CALLS_DEADLINE, calls)


def _assert_accounted(handler: KafkaHandler) -> None:
    s = handler.stats()
    assert s.seen == s.delivered + s.dropped_total + s.pending, s


class TestOutages:
    def test_broker_down_at_start_then_up(self, private_kafka: LocalKafka) -> None:
        """Records logged while the broker is down are all delivered once it comes up, in order."""
        private_kafka.kill()
        handler = KafkaHandler(private_kafka.bootstrap, "outage-start", delivery_timeout=120)
        log = isolated_logger("outage.start", handler)
        _log_calls(log, 0, 2_000)  # all return with no broker at all
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
        """SIGKILL mid-stream: log calls keep returning, health turns false; after restart every record arrives."""
        topic = "outage-kill"
        private_kafka.create_topic(topic)
        handler = KafkaHandler(private_kafka.bootstrap, topic, delivery_timeout=120)
        log = isolated_logger("outage.kill", handler)
        _log_calls(log, 0, 3_000)
        assert handler.flush(30)
        private_kafka.kill()
        assert handler.stats().healthy
        _log_calls(log, 3_000, 3_000)
        wait_until(lambda: handler.stats().last_error is not None, 60,
                   "the worker never reported an error sending to the dead broker")
        _log_calls(log, 6_000, 1_000)  # while the worker retries against the dead broker
        wait_until(lambda: not handler.stats().healthy, 60,
                   "a dead broker with records pending must read as unhealthy")
        private_kafka.restart()
        _log_calls(log, 7_000, 3_000)
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
        assert duplicates <= stats.retried

    def test_queue_bound_holds_during_outage(self, private_kafka: LocalKafka) -> None:
        """Without a spool, records within the queue bound arrive after recovery; the rest are counted."""
        topic = "outage-bound"
        private_kafka.create_topic(topic)
        handler = KafkaHandler(private_kafka.bootstrap, topic, queue_max_records=1_000, batch_max_records=100)
        log = isolated_logger("outage.bound", handler)
        log.info("warm-up", extra={"seq": -1})
        assert handler.flush(30)
        private_kafka.kill()
        _log_calls(log, 0, 5_000)
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
        seqs = [r.json()["fields"]["seq"] for r in records]
        # drop_newest keeps the oldest: the warm-up, then 0, 1, ... each once, up to what was delivered
        check = check_sequence([seq for seq in seqs if seq >= 0], stats.delivered - 1)
        assert seqs.count(-1) == 1 and check.each_once, check.summary()

    def test_paused_broker_does_not_slow_the_app(self, private_kafka: LocalKafka) -> None:
        """A frozen broker (SIGSTOP): log calls and a bounded flush return; every record arrives after SIGCONT."""
        topic = "outage-slow"
        private_kafka.create_topic(topic)
        handler = KafkaHandler(private_kafka.bootstrap, topic)
        log = isolated_logger("outage.slow", handler)
        _log_calls(log, 0, 2_000)
        assert handler.flush(30)
        assert private_kafka.pid is not None
        os.kill(private_kafka.pid, signal.SIGSTOP)
        try:
            _log_calls(log, 2_000, 2_000)
            # promise checked: flush(timeout) returns within its timeout (plus seconds) when the broker never
            # answers, and says False because records are still pending
            assert finishes_within(1.0 + 5, lambda: handler.flush(1.0)) is False
        finally:
            os.kill(private_kafka.pid, signal.SIGCONT)
        assert handler.flush(90), handler.stats()
        stats = handler.stats()
        handler.close()
        assert stats.dropped == {}
        records = read_records(private_kafka.bootstrap, topic, 4_000, timeout=60)
        assert {r.json()["fields"]["seq"] for r in records} == set(range(4_000))
