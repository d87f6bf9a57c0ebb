"""The disk spool against the real broker: outages, exit with records pending, SIGKILL, shared directories."""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from kafka_util import read_records
from support import isolated_logger, python_script, unused_port, wait_until

from kafkalog import KafkaHandler
from kafkalog.testing import LocalKafka

pytestmark = [pytest.mark.integration, pytest.mark.slow]








LOG_DOWN = """
    import logging, sys, time
    from kafkalog import KafkaHandler
    handler = KafkaHandler("127.0.0.1:{port}", "{topic}", spool_dir="{spool}", close_timeout=1.0)
    log = logging.getLogger("writer")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    for i in range({count}):
        log.info("seq %d", i, extra={{"seq": i, "writer": "{writer}"}})
    while handler.stats().spool_pending < {count}:
        time.sleep(0.05)
    print("READY", handler.stats().spooled, flush=True)
    {after}
"""


def _wait_replayed(handler: KafkaHandler, count: int, timeout: float = 60) -> None:
    """flush() covers this process's records; replays of earlier processes' records are watched in stats()."""
    deadline = time.monotonic() + timeout
    while handler.stats().replayed < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert handler.flush(timeout), handler.stats()


def _seqs(records: list, writer: str | None = None) -> list[int]:
    return [r.json()["fields"]["seq"] for r in records
            if writer is None or r.json()["fields"].get("writer") == writer]


class TestSpoolAcrossProcesses:
    def test_records_left_at_exit_are_delivered_by_the_next_start(self, kafka_bootstrap: str, topic: str,
                                                                  tmp_path: Path) -> None:
        """Broker unreachable at exit: records stay on disk; the next process delivers them first, in order."""
        spool = tmp_path / "spool"
        proc = python_script(LOG_DOWN.format(port=unused_port(), topic=topic, spool=spool, count=3_000, writer="a",
                                       after="sys.exit(0)"))
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "READY 3000" in out
        assert "3000 kept in" in err, err
        handler = KafkaHandler(kafka_bootstrap, topic, spool_dir=str(spool), handle_sigterm=False)
        log = isolated_logger("next", handler)
        log.info("new", extra={"seq": 3_000, "writer": "b"})
        assert handler.flush(60), handler.stats()
        stats = handler.stats()
        handler.close()
        assert (stats.delivered, stats.replayed, stats.dropped, stats.spool_pending) == (3_001, 3_000, {}, 0)
        records = read_records(kafka_bootstrap, topic, 3_001, timeout=60)
        assert _seqs(records) == list(range(3_001))

    def test_sigkill_after_spooling_loses_nothing(self, kafka_bootstrap: str, topic: str, tmp_path: Path) -> None:
        """SIGKILL once records are on disk: the next start delivers every one of them."""
        spool = tmp_path / "spool"
        proc = python_script(LOG_DOWN.format(port=unused_port(), topic=topic, spool=spool, count=5_000, writer="a",
                                       after="time.sleep(60)"))
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("READY 5000")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        handler = KafkaHandler(kafka_bootstrap, topic, spool_dir=str(spool), handle_sigterm=False)
        _wait_replayed(handler, 5_000)
        stats = handler.stats()
        handler.close()
        assert (stats.replayed, stats.dropped) == (5_000, {})
        assert _seqs(read_records(kafka_bootstrap, topic, 5_000, timeout=60)) == list(range(5_000))

    def test_two_processes_share_one_spool(self, kafka_bootstrap: str, topic: str, tmp_path: Path) -> None:
        """Two writers on one directory while the broker is unreachable; a third process delivers both, in order."""
        spool = tmp_path / "spool"
        procs = [python_script(LOG_DOWN.format(port=unused_port(), topic=topic, spool=spool, count=2_000, writer=w,
                                         after="sys.exit(0)")) for w in ("a", "b")]
        for proc in procs:
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
        handler = KafkaHandler(kafka_bootstrap, topic, spool_dir=str(spool), handle_sigterm=False)
        _wait_replayed(handler, 4_000)
        stats = handler.stats()
        handler.close()
        assert (stats.replayed, stats.dropped) == (4_000, {})
        records = read_records(kafka_bootstrap, topic, 4_000, timeout=60)
        assert _seqs(records, "a") == list(range(2_000))
        assert _seqs(records, "b") == list(range(2_000))


class TestSpoolOutage:
    def test_broker_killed_mid_stream_with_spool_loses_nothing(self, private_kafka: LocalKafka,
                                                               tmp_path: Path) -> None:
        """SIGKILL of the broker mid-stream and a restart, with a queue half the stream: nothing lost or dropped."""
        topic = "spool-kill"
        private_kafka.create_topic(topic)
        handler = KafkaHandler(private_kafka.bootstrap, topic, spool_dir=str(tmp_path / "spool"),
                               queue_max_records=10_000, handle_sigterm=False)
        log = isolated_logger("spool.kill", handler)
        for seq in range(20_000):
            if seq == 5_000:
                private_kafka.kill()
            if seq == 15_000:
                private_kafka.restart()
            log.info("seq %d", seq, extra={"seq": seq})
        assert handler.flush(120), handler.stats()
        stats = handler.stats()
        handler.close()
        assert stats.dropped == {}
        assert stats.seen == stats.spooled == 20_000
        assert stats.delivered >= 20_000
        counts = Counter(_seqs(read_records(private_kafka.bootstrap, topic, 20_000, timeout=90)))
        assert set(counts) == set(range(20_000))
        print(f"spool kill/restart: sent=20000 delivered={stats.delivered} "
              f"duplicates={sum(counts.values()) - 20_000} retried={stats.retried}")

    def test_full_queue_spills_to_disk_instead_of_dropping(self, tmp_path: Path) -> None:
        """Broker down, 100,000 records into a 10,000-record queue: all end up on disk, none dropped."""
        handler = KafkaHandler(f"127.0.0.1:{unused_port()}", "nowhere", spool_dir=str(tmp_path / "spool"),
                               queue_max_records=10_000, handle_sigterm=False, close_timeout=1)
        log = isolated_logger("spill", handler)
        for seq in range(100_000):  # how fast is bench/'s business (spool write throughput)
            log.info("seq %d", seq, extra={"seq": seq})
        wait_until(lambda: handler.stats().spool_pending >= 100_000, 60, f"not all on disk: {handler.stats()}")
        stats = handler.stats()
        handler.close(1)
        report = handler.close_report
        assert report is not None
        assert stats.dropped == {}, stats
        assert (stats.spooled, stats.spool_pending) == (100_000, 100_000)
        assert report.spooled == 100_000


class TestSpoolCorruption:
    def test_torn_tail_is_skipped_counted_and_the_rest_delivered(self, kafka_bootstrap: str, topic: str,
                                                                 tmp_path: Path) -> None:
        """A segment cut mid-record (a crash while writing): the records before the tear arrive, the torn one
        is counted as spool_corrupt, nothing raises."""
        spool = tmp_path / "spool"
        proc = python_script(LOG_DOWN.format(port=unused_port(), topic=topic, spool=spool, count=100, writer="a",
                                             after="sys.exit(0)"))
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        [segment] = sorted(spool.glob("*.seg"))
        data = segment.read_bytes()
        segment.write_bytes(data[:-10])  # tear the last record
        handler = KafkaHandler(kafka_bootstrap, topic, spool_dir=str(spool), handle_sigterm=False)
        _wait_replayed(handler, 99)
        deadline = time.monotonic() + 10
        while handler.stats().dropped.get("spool_corrupt", 0) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        stats = handler.stats()
        handler.close()
        assert (stats.replayed, stats.dropped) == (99, {"spool_corrupt": 1})
        assert _seqs(read_records(kafka_bootstrap, topic, 99)) == list(range(99))
