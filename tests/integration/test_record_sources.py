"""Records built from less common sources keep what the app put in them, read back from the real broker."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from kafka_util import read_records
from support import isolated_logger

from kafkalog import KafkaHandler, KafkaJsonFormatter

pytestmark = pytest.mark.integration


class RequestRecord(logging.LogRecord):
    """A LogRecord subclass that sets an attribute before LogRecord.__init__ runs (as some frameworks do)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.request_id = "req-7"
        super().__init__(*args, **kwargs)


@pytest.fixture
def record_factory() -> Iterator[None]:
    old = logging.getLogRecordFactory()
    logging.setLogRecordFactory(RequestRecord)
    try:
        yield
    finally:
        logging.setLogRecordFactory(old)


class TestRecordAttributes:
    def test_attribute_set_before_init_is_shipped(self, kafka_bootstrap: str, topic: str,
                                                  record_factory: None) -> None:
        """An attribute a record factory's subclass sets before LogRecord.__init__ lands in fields, with extras."""
        handler = KafkaHandler(kafka_bootstrap, topic, handle_sigterm=False)
        log = isolated_logger("factory", handler)
        log.info("hello", extra={"order": 3})
        assert handler.flush(30), handler.stats()
        handler.close()
        [record] = read_records(kafka_bootstrap, topic, 1)
        assert record.json()["fields"] == {"request_id": "req-7", "order": 3}


class Renaming(KafkaJsonFormatter):
    """A user's formatter subclass: adds a key in the documented hook."""

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        log_data["team"] = "payments"
        return log_data


class TestFormatterSubclass:
    def test_subclass_on_handler_keeps_static_fields_and_host(self, kafka_bootstrap: str, topic: str) -> None:
        """A KafkaJsonFormatter subclass set on the handler keeps the handler's static_fields and hostname."""
        handler = KafkaHandler(kafka_bootstrap, topic, static_fields={"service": "billing"}, hostname="web-3",
                               handle_sigterm=False)
        handler.setFormatter(Renaming())
        log = isolated_logger("formatter-subclass", handler)
        log.info("paid")
        assert handler.flush(30), handler.stats()
        handler.close()
        [record] = read_records(kafka_bootstrap, topic, 1)
        event = record.json()
        assert (event["service"], event["host"], event["team"], event["msg"]) == ("billing", "web-3", "payments",
                                                                                  "paid")
