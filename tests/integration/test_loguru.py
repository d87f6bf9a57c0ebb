"""The loguru sink against the real broker."""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
import time

import pytest
from kafka_util import read_records
from loguru import logger

from kafkalog import KafkaSink

pytestmark = pytest.mark.integration


@pytest.fixture
def sink_id_cleanup():
    ids: list[int] = []
    yield ids
    for sink_id in ids:
        try:
            logger.remove(sink_id)
        except ValueError:
            pass


class TestKafkaSink:
    def test_bound_values_and_kwargs_become_fields(self, kafka_bootstrap: str, topic: str,
                                                   sink_id_cleanup: list[int]) -> None:
        """``bind(action=...)`` sets the action; other bound values and call kwargs land in ``fields``."""
        sink = KafkaSink(bootstrap_servers=kafka_bootstrap, topic=topic, static_fields={"service": "billing"})
        sink_id_cleanup.append(logger.add(sink, level="DEBUG"))

        def checkout() -> int:
            logger.bind(action="pay", request_id="r-1").info("user {} paid {amount}", "alice", amount=12.5)
            return checkout.__code__.co_firstlineno + 1

        before = time.time()
        line = checkout()
        after = time.time()
        assert sink.drain(30)
        logger.remove(sink_id_cleanup.pop())
        assert sink.close_report is not None and sink.close_report.left == 0
        event = read_records(kafka_bootstrap, topic, 1)[0].json()
        assert event["type"] == "info"
        assert event["action"] == "pay"
        assert event["msg"] == "user alice paid 12.5"
        assert event["fields"] == {"request_id": "r-1", "amount": 12.5}
        assert event["funcName"] == "checkout"
        assert event["logger"] == __name__
        assert event["host"] == socket.gethostname()
        assert event["pid"] == os.getpid()
        assert event["thread"] == threading.current_thread().name
        assert event["file"] == __file__
        assert event["line"] == line
        assert event["service"] == "billing"
        parsed = dt.datetime.fromisoformat(event["time"])
        assert parsed.utcoffset() == dt.timedelta(0)
        assert before - 1e-3 <= parsed.timestamp() <= after + 1e-3  # the call's time

    def test_exception_arrives(self, kafka_bootstrap: str, topic: str, sink_id_cleanup: list[int]) -> None:
        """``logger.exception`` ships the exception's type, message and stack."""
        sink = KafkaSink(kafka_bootstrap, topic)
        sink_id_cleanup.append(logger.add(sink))
        try:
            raise ValueError("bad amount: -3")
        except ValueError:
            logger.exception("refund failed")
        assert sink.drain(30)
        event = read_records(kafka_bootstrap, topic, 1)[0].json()
        assert event["type"] == "error"
        assert event["action"] == "log"
        assert event["exception"]["type"] == "ValueError"
        assert event["exception"]["message"] == "bad amount: -3"
        assert "raise ValueError" in event["exception"]["stack"]

    def test_unicode_and_odd_values(self, kafka_bootstrap: str, topic: str, sink_id_cleanup: list[int]) -> None:
        """Unicode text and unserializable bound values arrive as stable strings."""
        sink = KafkaSink(kafka_bootstrap, topic)
        sink_id_cleanup.append(logger.add(sink))
        logger.bind(raw=b"\x00\xfe", ids=frozenset({1})).warning("Grüße 👋 {}", "世界")
        assert sink.drain(30)
        event = read_records(kafka_bootstrap, topic, 1)[0].json()
        assert event["msg"] == "Grüße 👋 世界"
        assert event["fields"] == {"raw": "\x00\\xfe", "ids": "frozenset({1})"}
        assert event["type"] == "warning"
