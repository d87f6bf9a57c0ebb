"""The output schemas against the real broker: records logged through a KafkaHandler and a KafkaSink with
``schema="ecs"`` and ``"otlp"``, read back from Kafka and checked with the same parsers as the unit tests."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from typing import Any

import pytest
from kafka_util import read_records
from loguru import logger
from schema_checks import (
    attributes,
    compare_with_ecs_logging,
    ecs_logging_doc,
    flatten,
    parse_otlp,
    single_log_record,
)

from kafkalog import KafkaHandler, KafkaSink

pytestmark = pytest.mark.integration
ecs_logging = pytest.importorskip("ecs_logging")
pytest.importorskip("opentelemetry.proto")

STATIC = {"service": "billing", "env": "test"}
LIMIT = 4096


class EcsReference(logging.Handler):
    """What ecs-logging's StdlibFormatter writes for each record the logger also hands the KafkaHandler."""

    def __init__(self) -> None:
        super().__init__()
        self.formatter_ = ecs_logging.StdlibFormatter(extra={"service.name": "billing", "env": "test"})
        self.docs: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.docs.append(ecs_logging_doc(self.formatter_, record))


def _logger(name: str, *handlers: logging.Handler) -> logging.Logger:
    log = logging.getLogger(name)
    log.handlers[:] = list(handlers)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    return log


def _log_records(log: logging.Logger) -> int:
    """A plain record with fields, one over the size limit, and one with a chained exception; returns how many."""
    log.info("user %s paid %.2f", "alice", 12.5, extra={"action": "pay", "amount": 12.5, "tags": ["a", "b"],
                                                        "http": {"request": {"method": "POST"}}})
    log.warning("big " + "x" * (2 * LIMIT), extra={"order": "A-17"})
    try:
        try:
            {}["card"]
        except KeyError as exc:
            raise RuntimeError("payment failed for order 7") from exc
    except RuntimeError:
        log.exception("charge failed")
    return 3


def _handler(bootstrap: str, topic: str, schema: str, errors: list[str]) -> KafkaHandler:
    return KafkaHandler(bootstrap, topic, schema=schema, static_fields=STATIC, max_message_bytes=LIMIT,
                        on_error=errors.append)


@pytest.fixture
def sink_ids() -> Any:
    ids: list[int] = []
    yield ids
    for sink_id in ids:
        try:
            logger.remove(sink_id)
        except ValueError:
            pass


class TestEcsThroughKafka:
    def test_handler_records_match_ecs_logging(self, kafka_bootstrap: str, topic: str) -> None:
        """Each record read back equals ecs-logging's document for the same LogRecord, field by field."""
        errors: list[str] = []
        handler = _handler(kafka_bootstrap, topic, "ecs", errors)
        reference = EcsReference()
        count = _log_records(_logger("billing.ecs", handler, reference))
        assert handler.flush(30)
        stats = handler.stats()
        handler.close()
        assert (stats.delivered, stats.truncated, stats.dropped, errors) == (count, 1, {}, [])
        records = read_records(kafka_bootstrap, topic, count)
        assert len(records) == count
        docs = [record.json() for record in records]
        assert all(len(record.value) <= LIMIT for record in records)
        [big] = [doc for doc in docs if doc["message"].startswith("big ")]
        assert big["kafkalog"]["truncated"] is True and big["message"].endswith(" bytes]")
        for ours, theirs in zip(docs, reference.docs, strict=True):
            if ours is big:
                continue  # ecs-logging does not cut: its message is the whole text
            compare_with_ecs_logging(ours, theirs)

    def test_sink_records(self, kafka_bootstrap: str, topic: str, sink_ids: list[int]) -> None:
        """A loguru record arrives with its ECS fields."""
        sink = KafkaSink(bootstrap_servers=kafka_bootstrap, topic=topic, schema="ecs", static_fields=STATIC)
        sink_ids.append(logger.add(sink, format="{message}", level="DEBUG"))

        def checkout() -> int:
            logger.bind(action="pay", request_id="r-1").info("user {} paid {amount}", "alice", amount=12.5)
            return checkout.__code__.co_firstlineno + 1

        line = checkout()
        assert sink.drain(30)
        logger.remove(sink_ids.pop())
        [record] = read_records(kafka_bootstrap, topic, 1)
        flat = flatten(record.json())
        assert flat.pop("@timestamp").endswith("Z")
        assert isinstance(flat.pop("event.id"), str)
        assert flat == {
            "log.level": "info", "message": "user alice paid 12.5", "ecs.version": "1.6.0", "log.logger": __name__,
            "log.origin.file.name": os.path.basename(__file__), "log.origin.file.line": line,
            "log.origin.function": "checkout", "process.pid": os.getpid(),
            "process.thread.name": threading.current_thread().name, "host.hostname": socket.gethostname(),
            "event.action": "pay", "service.name": "billing", "env": "test", "request_id": "r-1", "amount": 12.5}


class TestOtlpThroughKafka:
    def test_handler_records_parse_as_otlp(self, kafka_bootstrap: str, topic: str) -> None:
        """Every record read back parses as an ExportLogsServiceRequest with the record's values."""
        errors: list[str] = []
        handler = _handler(kafka_bootstrap, topic, "otlp", errors)
        count = _log_records(_logger("billing.otlp", handler))
        assert handler.flush(30)
        stats = handler.stats()
        handler.close()
        assert (stats.delivered, stats.truncated, stats.dropped, errors) == (count, 1, {}, [])
        records = read_records(kafka_bootstrap, topic, count)
        assert len(records) == count
        parsed = [single_log_record(parse_otlp(record.value)) for record in records]
        assert all(len(record.value) <= LIMIT for record in records)
        for (resource, scope, log_record), record in zip(parsed, records, strict=True):
            assert resource == {"service.name": "billing", "host.name": socket.gethostname(), "env": "test"}
            assert scope == "billing.otlp"
            assert log_record.time_unix_nano // 1_000_000 == pytest.approx(record.timestamp_ms, abs=1)
            attrs = attributes(log_record.attributes)
            assert attrs["code.filepath"] == __file__ and attrs["process.pid"] == os.getpid()
        (_, _, info), (_, _, big), (_, _, error) = parsed
        assert (info.severity_number, info.severity_text, info.body.string_value) == (9, "INFO",
                                                                                       "user alice paid 12.50")
        assert attributes(info.attributes)["http"] == {"request": {"method": "POST"}}
        assert attributes(info.attributes)["tags"] == ["a", "b"]
        assert big.severity_number == 13 and attributes(big.attributes)["kafkalog.truncated"] is True
        assert big.body.string_value.endswith(" bytes]")
        error_attrs = attributes(error.attributes)
        assert (error.severity_number, error_attrs["exception.type"]) == (17, "RuntimeError")
        assert "KeyError: 'card'" in error_attrs["exception.stacktrace"]

    def test_sink_records_parse_as_otlp(self, kafka_bootstrap: str, topic: str, sink_ids: list[int]) -> None:
        """A loguru record (with an exception) arrives as a parseable OTLP request."""
        sink = KafkaSink(bootstrap_servers=kafka_bootstrap, topic=topic, schema="otlp", static_fields=STATIC)
        sink_ids.append(logger.add(sink, format="{message}", level="DEBUG"))
        try:
            json.loads("{")
        except json.JSONDecodeError:
            logger.bind(request_id="r-1").exception("bad json")
        assert sink.drain(30)
        logger.remove(sink_ids.pop())
        [record] = read_records(kafka_bootstrap, topic, 1)
        resource, scope, log_record = single_log_record(parse_otlp(record.value))
        assert resource["service.name"] == "billing"
        assert scope == __name__
        assert (log_record.severity_number, log_record.body.string_value) == (17, "bad json")
        attrs = attributes(log_record.attributes)
        assert attrs["request_id"] == "r-1"
        assert attrs["exception.type"] == "json.decoder.JSONDecodeError"
