"""The disk spool against the real broker: outages, exit with records pending, SIGKILL, shared directories."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import pytest
from kafka_util import check_sequence, read_records
from support import cpu_burners, isolated_logger, python_script, unused_port, wait_until

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
        check = check_sequence(_seqs(read_records(private_kafka.bootstrap, topic, 20_000, timeout=90)), 20_000)
        # each number read once, or again only for a record the sender had to send again (a retry)
        assert check.lost == () and check.duplicate_count <= stats.retried, check.summary()
        print(f"spool kill/restart: {check.summary()}; delivered={stats.delivered} retried={stats.retried}")

    def test_outage_longer_than_delivery_timeout_drops_nothing(self, private_kafka: LocalKafka,
                                                                tmp_path: Path) -> None:
        """With a spool, an outage three times longer than ``delivery_timeout`` drops nothing: the records wait on
        disk and each arrives once when the broker is back (without the spool's rule they go as delivery_timeout)."""
        topic = "spool-long-outage"
        private_kafka.create_topic(topic)
        private_kafka.kill()
        count, delivery_timeout = 200, 1.0
        handler = KafkaHandler(private_kafka.bootstrap, topic, spool_dir=str(tmp_path / "spool"),
                               delivery_timeout=delivery_timeout, retry_backoff=0.1, retry_backoff_max=0.5,
                               handle_sigterm=False, close_timeout=5)
        log = isolated_logger("spool.long-outage", handler)
        for seq in range(count):
            log.info("seq %d", seq, extra={"seq": seq})
        wait_until(lambda: handler.stats().failed > 0, timeout=60, message="no send attempt failed")
        failing_since = time.monotonic()
        # the outage: past 3 x delivery_timeout, with the sender still retrying (attempts keep failing)
        wait_until(lambda: (time.monotonic() - failing_since > 3 * delivery_timeout and handler.stats().retried > 2)
                   or handler.stats().dropped, timeout=60, message="no longer retrying")
        stats = handler.stats()
        assert (stats.dropped, stats.delivered) == ({}, 0), stats
        private_kafka.restart()
        assert handler.flush(120), handler.stats()
        stats = handler.stats()
        handler.close()
        assert (stats.dropped, stats.spool_pending) == ({}, 0), stats
        check = check_sequence(_seqs(read_records(private_kafka.bootstrap, topic, count, timeout=90)), count)
        assert check.each_once, check.summary()

    def test_broker_killed_again_mid_batch_keeps_the_rest(self, private_kafka: LocalKafka, tmp_path: Path) -> None:
        """A spooled batch partly delivered when the broker is SIGKILLed (as right after a restart): the rest of
        the batch is kept through an outage longer than ``delivery_timeout`` and delivered when the broker is
        back; nothing is dropped as delivery_timeout (it was: the part that got through made the rest look like
        records the broker refuses)."""
        topic, count, delivery_timeout = "spool-killed-again", 6_000, 12.0
        private_kafka.create_topic(topic)
        spool = tmp_path / "spool"
        # another process leaves the records on disk (its broker unreachable): replayed here in one batch
        proc = python_script(LOG_DOWN.format(port=unused_port(), topic=topic, spool=spool, count=count, writer="a",
                                             after="sys.exit(0)"))
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        partition_log = private_kafka.workdir / "data" / f"{topic}-0" / "00000000000000000000.log"
        spooled = sum(path.stat().st_size for path in spool.glob("*.seg"))
        started = time.monotonic()
        # small requests, so that the batch can be caught half way; the client gives up on a record (10 s) well
        # within one attempt of the sender (delivery_timeout + 5 s). librdkafka: kafka-python 3.0.12 was seen
        # not to reconnect to the restarted broker in this test ("No node available for metadata refresh")
        handler = KafkaHandler(private_kafka.bootstrap, topic, spool_dir=str(spool), batch_max_records=count,
                               delivery_timeout=delivery_timeout, retry_backoff=0.1, retry_backoff_max=0.5,
                               handle_sigterm=False, close_timeout=5, transport="confluent",
                               producer_config={"batch.size": 16384, "message.timeout.ms": 10_000})
        # a third of the batch in the broker's log of the partition (read from disk, no client needed): the
        # client has had the answers for most of it, and the rest is still to come
        wait_until(lambda: partition_log.exists() and partition_log.stat().st_size > spooled // 3, 60,
                   "nothing delivered")
        private_kafka.kill()
        # precondition: the batch was cut by the kill (part delivered, the rest failed in the client)
        wait_until(lambda: handler.stats().failed > 0, 90, "the batch got through whole before the kill")
        assert 0 < handler.stats().failed < count, handler.stats()
        # the outage goes on past delivery_timeout after the batch's first attempt, with attempts failing
        retried = handler.stats().retried
        wait_until(lambda: (time.monotonic() - started > delivery_timeout + 2 and handler.stats().retried > retried)
                   or handler.stats().dropped, timeout=90, message="no longer retrying")
        assert handler.stats().dropped == {}, handler.stats()
        private_kafka.restart()
        try:
            wait_until(lambda: handler.stats().replayed >= count or handler.stats().dropped, 120,
                       "the batch was not delivered after the restart")
            stats = handler.stats()
        finally:
            handler.close()
        assert (stats.dropped, stats.spool_pending) == ({}, 0), stats
        check = check_sequence(_seqs(read_records(private_kafka.bootstrap, topic, count, timeout=90)), count)
        assert check.lost == (), check.summary()
        print(f"broker killed mid-batch: {check.summary()}; retried={stats.retried}")

    def test_busy_machine_two_threads_drop_nothing_and_deliver_each_once(self, private_kafka: LocalKafka,
                                                                        tmp_path: Path) -> None:
        """With a spool, a full queue never drops: broker down, two logging threads, both cores kept busy by two
        CPU-bound processes, a 2,000-record queue; every record arrives exactly once after the broker is back."""
        topic = "spool-busy"
        private_kafka.create_topic(topic)
        private_kafka.kill()
        handler = KafkaHandler(private_kafka.bootstrap, topic, spool_dir=str(tmp_path / "spool"),
                               queue_max_records=2_000, handle_sigterm=False, close_timeout=10)
        log = isolated_logger("spool.busy", handler)
        per_thread = 25_000

        def write(name: str) -> None:
            for seq in range(per_thread):
                log.info("seq %d", seq, extra={"seq": seq, "writer": name})

        with cpu_burners(2):
            threads = [threading.Thread(target=write, args=(name,)) for name in ("a", "b")]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        stats = handler.stats()
        assert stats.dropped == {}, stats
        assert stats.spooled == stats.seen == 2 * per_thread
        private_kafka.restart()
        assert handler.flush(180), handler.stats()
        stats = handler.stats()
        handler.close()
        assert (stats.dropped, stats.spool_pending, stats.delivered) == ({}, 0, 2 * per_thread)
        records = read_records(private_kafka.bootstrap, topic, 2 * per_thread, timeout=120)
        for writer in ("a", "b"):
            check = check_sequence(_seqs(records, writer), per_thread)
            assert (check.lost, check.duplicate_count, check.out_of_order) == ((), 0, 0), check.summary()

    def test_close_keeps_every_pending_record_on_disk(self, tmp_path: Path) -> None:
        """Broker unreachable at close: nothing is counted as a shutdown drop, every record stays in the spool."""
        handler = KafkaHandler(f"127.0.0.1:{unused_port()}", "nowhere", spool_dir=str(tmp_path / "spool"),
                               queue_max_records=1_000, handle_sigterm=False, close_timeout=1)
        log = isolated_logger("spill", handler)
        for seq in range(20_000):
            log.info("seq %d", seq, extra={"seq": seq})
        handler.close(1)
        report = handler.close_report
        stats = handler.stats()
        assert report is not None
        assert stats.dropped == {}, stats
        assert (stats.spooled, report.spooled, report.left) == (20_000, 20_000, 0)

    def test_logging_after_close_counts_closed(self, tmp_path: Path) -> None:
        """A record logged after close is counted as ``closed``, not as ``spool_full``."""
        handler = KafkaHandler(f"127.0.0.1:{unused_port()}", "nowhere", spool_dir=str(tmp_path / "spool"),
                               handle_sigterm=False, close_timeout=0)
        log = isolated_logger("late", handler)
        handler.close()
        log.info("too late")
        assert handler.stats().dropped == {"closed": 1}

    def test_spool_full_counts_spool_full(self, kafka_bootstrap: str, tmp_path: Path) -> None:
        """drop_newest at spool_max_bytes: the refused records are counted as ``spool_full``, the rest kept."""
        handler = KafkaHandler(f"127.0.0.1:{unused_port()}", "nowhere", spool_dir=str(tmp_path / "spool"),
                               spool_max_bytes=2_100_000, spool_segment_bytes=1_100_000, max_message_bytes=1_000_000,
                               spool_full_policy="drop_newest", handle_sigterm=False, close_timeout=0)
        log = isolated_logger("full", handler)
        for seq in range(30_000):
            log.info("seq %d %s", seq, "x" * 100, extra={"seq": seq})
        stats = handler.stats()
        handler.close()
        assert stats.dropped.get("spool_full", 0) > 0, stats
        assert set(stats.dropped) == {"spool_full"}, stats
        assert stats.spooled + stats.dropped["spool_full"] == stats.seen == 30_000


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
