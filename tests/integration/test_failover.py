"""Leader failover on a 3-node cluster: an idempotent, acks=all handler loses and duplicates nothing.

The partition leader is SIGKILLed a third of the way through a steady stream of records. With replication 3
and ``min.insync.replicas=2`` the two survivors elect a new leader and keep accepting ``acks=all`` writes;
kafka-python's idempotent producer retries the batches the dead leader never answered with their original
sequence numbers, so the new leader can discard any copy it already has. Every record carries a sequence
number in ``extra``; reading the topic back must show each exactly once.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass

import pytest
from kafka_util import check_sequence, read_records

from kafkalog import KafkaHandler
from kafkalog.testing import LocalKafkaCluster

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RECORDS = 20_000
DURATION = 8.0  # seconds of steady logging
KILL_AT = RECORDS // 3
BURST = 50  # records per paced step: 400 steps of 20 ms


@dataclass
class Sample:
    at: float
    delivered: int
    pending: int
    seen: int


class DeliveryMonitor:
    """Samples ``handler.stats()`` every 20 ms to find the longest stretch without a delivery."""

    def __init__(self, handler: KafkaHandler) -> None:
        self._handler = handler
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="delivery-monitor", daemon=True)

    def __enter__(self) -> DeliveryMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            stats = self._handler.stats()
            self.samples.append(Sample(time.monotonic(), stats.delivered, stats.pending, stats.seen))

    def longest_stall(self, after: float) -> tuple[float, float]:
        """(start, seconds) of the longest time after ``after`` that records were pending but none delivered."""
        best = (after, 0.0)
        stalled_since: float | None = None
        last_delivered = -1
        for sample in self.samples:
            if sample.delivered != last_delivered or sample.pending == 0:
                if stalled_since is not None and sample.at - stalled_since > best[1]:
                    best = (stalled_since, sample.at - stalled_since)
                stalled_since = None
                last_delivered = sample.delivered
            elif stalled_since is None and sample.at >= after:
                stalled_since = sample.at
        return best

    def logged_during(self, start: float, seconds: float) -> int:
        """How many records the application logged between ``start`` and ``start + seconds``."""
        seen = [s.seen for s in self.samples if start <= s.at <= start + seconds]
        return max(seen) - min(seen) if seen else 0


def test_leader_killed_mid_stream_loses_and_duplicates_nothing(kafka_cluster: LocalKafkaCluster) -> None:
    """Leader SIGKILLed mid-stream: every record read back exactly once, and logging went on during the failover."""
    cluster = kafka_cluster
    topic = f"failover-{uuid.uuid4().hex[:8]}"
    cluster.create_topic(topic, partitions=1, replication=3, config={"min.insync.replicas": "2"})
    leader = cluster.leader_of(topic)
    reports: list[str] = []
    handler = KafkaHandler(
        cluster.bootstrap,
        topic,
        producer_config={"acks": "all", "enable_idempotence": True},
        on_error=reports.append,
        delivery_timeout=120,
    )
    log = logging.getLogger(f"failover.{topic}")
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False

    killed_at = 0.0
    slowest_call = 0.0
    try:
        with DeliveryMonitor(handler) as monitor:
            started = time.monotonic()
            for seq in range(RECORDS):
                if seq % BURST == 0:
                    pause = started + DURATION * seq / RECORDS - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
                if seq == KILL_AT:
                    cluster.kill(leader)
                    killed_at = time.monotonic()
                before = time.perf_counter()
                log.info("failover record %d", seq, extra={"seq": seq})
                slowest_call = max(slowest_call, time.perf_counter() - before)
            logged_in = time.monotonic() - started
            flushed = handler.flush(90)
            flushed_in = time.monotonic() - started - logged_in
            stats = handler.stats()
        stall_start, stall = monitor.longest_stall(after=killed_at)
        logged_in_stall = monitor.logged_during(stall_start, stall)
    finally:
        handler.close(10)
    new_leader = cluster.leader_of(topic)

    records = read_records(cluster.bootstrap, topic, RECORDS, timeout=90)
    check = check_sequence((r.json()["fields"]["seq"] for r in records), RECORDS)
    summary = (
        f"sent={stats.seen} delivered={stats.delivered} dropped={dict(stats.dropped)} pending={stats.pending} "
        f"retried={stats.retried} | read back: {check.summary()} | leader {leader} -> {new_leader}, "
        f"killed {killed_at - started:.2f}s in, longest delivery gap {stall:.2f}s "
        f"(from {stall_start - killed_at:+.2f}s after the kill, {logged_in_stall} logged in it) | "
        f"logging took {logged_in:.1f}s, "
        f"flush {flushed_in:.1f}s, slowest log call {slowest_call * 1000:.1f}ms | reports: {reports}"
    )
    print(summary)

    assert new_leader not in (leader, -1), summary
    assert flushed, summary
    assert stats.seen == RECORDS and stats.delivered == RECORDS and stats.dropped == {}, summary
    assert check.lost == () and check.duplicate_count == 0, summary
    assert check.received == RECORDS, summary
    # the app never waited on the failover: while no record could be delivered (the new leader takes seconds to
    # be elected), log calls kept returning. An outcome, not a speed: call costs are measured in bench/.
    assert stall > 0 and logged_in_stall > 0, summary
