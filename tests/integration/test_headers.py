"""Kafka record headers (the ``headers`` option) read back from the broker: both transports, and a spool replay."""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka_util import read_records
from support import isolated_logger, python_script, unused_port

from kafkalog import KafkaHandler

pytestmark = pytest.mark.integration

HEADERS = {"service": "{service}", "trace": "{trace_id}", "user": "{fields.user}", "source": "kafkalog"}


def _log_two(handler: KafkaHandler) -> None:
    log = isolated_logger("headers", handler)
    log.info("with user", extra={"user": "alice", "trace_id": "not top-level"})
    log.info("without user")
    assert handler.flush(30), handler.stats()
    handler.close()


def _check_two(records: list) -> None:
    with_user, without = records
    assert dict(with_user.headers) == {"source": b"kafkalog", "service": b"billing", "user": b"alice"}
    assert dict(without.headers) == {"source": b"kafkalog", "service": b"billing"}  # no user: header left out
    assert with_user.json()["msg"] == "with user"


class TestHeaders:
    @pytest.mark.parametrize("transport", ["kafka-python", "confluent"])
    def test_headers_arrive(self, kafka_bootstrap: str, topic: str, transport: str) -> None:
        """Fixed and templated headers arrive on each record; a template with no value leaves its header out."""
        if transport == "confluent":
            pytest.importorskip("confluent_kafka")
        handler = KafkaHandler(kafka_bootstrap, topic, transport=transport, static_fields={"service": "billing"},
                               headers=HEADERS)
        _log_two(handler)
        _check_two(read_records(kafka_bootstrap, topic, 2))

    def test_records_without_the_option_have_no_headers(self, kafka_bootstrap: str, topic: str) -> None:
        """No headers option: records carry no headers at all."""
        handler = KafkaHandler(kafka_bootstrap, topic)
        _log_two(handler)
        assert [r.headers for r in read_records(kafka_bootstrap, topic, 2)] == [(), ()]

    @pytest.mark.slow
    def test_headers_survive_a_spool_replay(self, kafka_bootstrap: str, topic: str, tmp_path: Path) -> None:
        """Records spooled by a process that could not reach the broker keep their headers when the next
        process replays them."""
        spool = tmp_path / "spool"
        proc = python_script(f"""
            import logging, time
            from kafkalog import KafkaHandler
            handler = KafkaHandler("127.0.0.1:{unused_port()}", "{topic}", spool_dir="{spool}", close_timeout=0.5,
                                   static_fields={{"service": "billing"}}, headers={HEADERS!r})
            log = logging.getLogger("spooled")
            log.addHandler(handler)
            log.setLevel(logging.INFO)
            log.info("with user", extra={{"user": "alice"}})
            log.info("without user")
            while handler.stats().spool_pending < 2:
                time.sleep(0.05)
        """)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "2 kept in" in err, err
        replayer = KafkaHandler(kafka_bootstrap, topic, spool_dir=str(spool), handle_sigterm=False)
        try:
            records = read_records(kafka_bootstrap, topic, 2, timeout=60)
        finally:
            replayer.close()
        assert replayer.stats().replayed == 2
        _check_two(records)
