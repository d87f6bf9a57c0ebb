"""Output schemas (``schema="ecs"``, ``"otlp"``): the option, the mappings, and the size limit for each."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Callable
from typing import Any

import pytest
from schema_checks import (
    attributes,
    compare_with_ecs_logging,
    ecs_logging_doc,
    flatten,
    parse_otlp,
    single_log_record,
)

from kafkalog import ConfigError, KafkaHandler, KafkaJsonFormatter, KafkaSink
from kafkalog._encode import dumps
from kafkalog.schemas import mapper_for, to_ecs, to_otlp
from kafkalog.schemas.otlp import severity_number, unix_nanos
from kafkalog.transports import MemoryTransport

ecs_logging = pytest.importorskip("ecs_logging")
pytest.importorskip("opentelemetry.proto")

MakeHandler = Callable[..., KafkaHandler]
MakeLogger = Callable[..., logging.Logger]
STATIC = {"service": "billing", "env": "test"}
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
SPAN_ID = "b7ad6b7169203331"


class ListHandler(logging.Handler):
    """Keeps what its formatter writes for each record."""

    def __init__(self, formatter: logging.Formatter) -> None:
        super().__init__()
        self.setFormatter(formatter)
        self.docs: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        assert self.formatter is not None
        self.docs.append(ecs_logging_doc(self.formatter, record))


def _shipped(handler: KafkaHandler) -> list[bytes]:
    assert handler.flush(5)
    transport = handler.config.transport
    assert isinstance(transport, MemoryTransport)
    return transport.values()


def _event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "info", "action": "pay", "time": "2026-11-22T10:15:02.123456+00:00", "msg": "user alice paid",
        "fields": {"amount": 12.5}, "funcName": "checkout", "logger": "billing.api", "host": "web-3", "pid": 4711,
        "thread": "MainThread", "file": "/srv/app/billing/api.py", "line": 42, "service": "billing"}
    event.update(overrides)
    return event


def _log_sample_records(log: logging.Logger) -> int:
    """Logs the records both ECS formatters see; returns how many."""
    log.info("user %s paid %.2f", "alice", 12.5, extra={"action": "pay", "amount": 12.5, "tags": ["a", "b"],
                                                        "http": {"request": {"method": "POST"}}, "url.path": "/pay"})
    log.warning("naïve café ☕ 日本語", extra={"user": {"id": 7, "name": "ünï"}, "nothing": None})
    log.debug("where am I", stack_info=True)
    try:
        try:
            {}["card"]
        except KeyError as exc:
            raise RuntimeError("charge failed for order 7") from exc
    except RuntimeError:
        log.exception("charge failed", extra={"order": "A-17"})
    try:
        json.loads("{")
    except json.JSONDecodeError:
        log.error("bad json", exc_info=True)
    return 5


class TestSchemaOption:
    def test_default_is_kafkalog(self, make_handler: MakeHandler) -> None:
        """Without ``schema=`` the option is "kafkalog" and no mapping runs."""
        handler = make_handler()
        assert handler.config.schema == "kafkalog"
        assert handler._intake.messages.to_schema is None

    @pytest.mark.parametrize("bad", ["ECS", "json", "", None, 3])
    def test_unknown_schema_names_option_and_choices(self, bad: Any) -> None:
        """A bad value raises ConfigError naming ``schema`` and the allowed values."""
        with pytest.raises(ConfigError, match=r"schema: .* is not one of \['kafkalog', 'ecs', 'otlp', 'otlp_proto'\]"):
            KafkaHandler("127.0.0.1:9", "logs", transport=MemoryTransport(), schema=bad, handle_sigterm=False)

    def test_explicit_default_ships_the_same_bytes(self, make_handler: MakeHandler, make_logger: MakeLogger) -> None:
        """``schema="kafkalog"`` ships byte for byte what a handler without the option ships (but for the ids:
        each handler makes its own)."""
        plain, explicit = make_handler(static_fields=STATIC), make_handler(static_fields=STATIC, schema="kafkalog")
        _log_sample_records(make_logger(plain, explicit))
        no_id = re.compile(rb',"id":"[^"]+"')
        assert [no_id.sub(b"", v) for v in _shipped(plain)] == [no_id.sub(b"", v) for v in _shipped(explicit)]

    def test_routing_sees_the_contract_keys(self, make_handler: MakeHandler, make_logger: MakeLogger) -> None:
        """Topic templates and key paths read the event's own keys, whatever the schema."""
        handler = make_handler(topic="logs-{type}", key="fields.user", schema="otlp")
        make_logger(handler).warning("x", extra={"user": "alice"})
        assert handler.flush(5)
        transport = handler.config.transport
        assert isinstance(transport, MemoryTransport)
        [message] = transport.messages
        assert (message.topic, message.key) == ("logs-warning", b"alice")


class TestEcs:
    def test_same_fields_as_ecs_logging(self, make_handler: MakeHandler, make_logger: MakeLogger) -> None:
        """Each record has every field ecs-logging's StdlibFormatter writes, with the same value (but for the
        documented differences)."""
        handler = make_handler(schema="ecs", static_fields=STATIC)
        reference = ListHandler(ecs_logging.StdlibFormatter(extra={"service.name": "billing", "env": "test"}))
        count = _log_sample_records(make_logger(handler, reference))
        ours = [json.loads(value) for value in _shipped(handler)]
        assert len(ours) == len(reference.docs) == count
        for mine, theirs in zip(ours, reference.docs, strict=True):
            compare_with_ecs_logging(mine, theirs)

    def test_first_keys_as_ecs_logging_orders_them(self) -> None:
        """``@timestamp``, ``log.level``, ``message`` lead, as dotted keys; ``ecs.version`` stays dotted."""
        doc = to_ecs(_event())
        assert list(doc)[:4] == ["@timestamp", "log.level", "message", "ecs.version"]
        assert doc["@timestamp"] == "2026-11-22T10:15:02.123456Z"

    def test_every_contract_key_has_its_ecs_field(self) -> None:
        """Each contract key lands on its ECS field."""
        event = _event(exception={"type": "KeyError", "message": "'card'", "stack": "Traceback ...\nKeyError"},
                       trace_id=TRACE_ID, span_id=SPAN_ID, truncated=True)
        flat = flatten(to_ecs(event))
        assert flat == {
            "@timestamp": "2026-11-22T10:15:02.123456Z", "log.level": "info", "message": "user alice paid",
            "ecs.version": "1.6.0", "log.logger": "billing.api", "log.origin.file.name": "api.py",
            "log.origin.file.line": 42, "log.origin.function": "checkout", "process.pid": 4711,
            "process.thread.name": "MainThread", "host.hostname": "web-3", "event.action": "pay",
            "error.type": "KeyError", "error.message": "'card'", "error.stack_trace": "Traceback ...\nKeyError",
            "trace.id": TRACE_ID, "span.id": SPAN_ID, "kafkalog.truncated": True, "service.name": "billing",
            "amount": 12.5}

    def test_fields_that_clash_with_ecs_fields_are_kept_aside(self) -> None:
        """A field that would overwrite an ECS field goes to ``kafkalog.fields`` (ecs-logging raises there)."""
        event = _event(fields={"log": "x", "process": {"pid": 1, "title": "t"}, "message": "m", "host.hostname": "h",
                               "log.level": "l", "ecs": {"version": "v", "extra": 1}, "@timestamp": "t"})
        doc = to_ecs(event)
        assert doc["kafkalog"]["fields"] == {"log": "x", "process.pid": 1, "message": "m", "host.hostname": "h",
                                             "log.level": "l", "ecs.version": "v", "@timestamp": "t"}
        assert (doc["log.level"], doc["ecs.version"], doc["ecs"]) == ("info", "1.6.0", {"extra": 1})
        flatten(doc)  # no field appears twice
        assert doc["process"] == {"pid": 4711, "thread": {"name": "MainThread"}, "title": "t"}
        assert doc["message"] == "user alice paid"

    def test_application_dicts_are_not_modified(self) -> None:
        """Merging dotted and nested fields copies the application's dicts."""
        http: dict[str, Any] = {"request": {"method": "GET"}}
        to_ecs(_event(fields={"http": http, "http.request.bytes": 10}))
        assert http == {"request": {"method": "GET"}}

    def test_cyclic_and_deep_fields_do_not_raise(self) -> None:
        """A dict that contains itself is mapped (and encodes) like any other."""
        cycle: dict[str, Any] = {"name": "loop"}
        cycle["self"] = cycle
        doc = to_ecs(_event(fields={"cycle": cycle}))
        assert doc["cycle"]["name"] == "loop"
        assert json.loads(dumps(doc))["cycle"]["name"] == "loop"

    def test_cyclic_fields_are_shipped(self, make_handler: MakeHandler, make_logger: MakeLogger) -> None:
        """A cyclic extra reaches the topic with ``<cycle>`` where it repeats, as in the default schema."""
        handler = make_handler(schema="ecs")
        cycle: dict[str, Any] = {"name": "loop"}
        cycle["self"] = cycle
        make_logger(handler).info("c", extra={"cycle": cycle})
        [value] = _shipped(handler)
        assert "<cycle>" in value.decode() or "<max depth>" in value.decode()
        assert handler.stats().dropped == {}

    def test_loguru_record(self, make_sink: Callable[..., KafkaSink], loguru_logger: Any) -> None:
        """A loguru record maps the same way: bound values at the top level, ``success`` as its level."""
        sink = make_sink(schema="ecs", static_fields={"service": "checkout"})
        loguru_logger.add(sink, format="{message}")
        loguru_logger.bind(action="pay", request_id="r-1").success("paid {amount}", amount=12.5)
        assert sink.drain(5)
        transport = sink.config.transport
        assert isinstance(transport, MemoryTransport)
        flat = flatten(json.loads(transport.values()[0]))
        assert flat["log.level"] == "success"
        assert flat["message"] == "paid 12.5"
        assert (flat["event.action"], flat["request_id"], flat["amount"]) == ("pay", "r-1", 12.5)
        assert flat["service.name"] == "checkout"
        assert flat["log.origin.file.name"] == os.path.basename(__file__)
        assert flat["process.thread.name"] == threading.current_thread().name


class TestOtlp:
    def test_every_message_parses_as_export_logs_request(self, make_handler: MakeHandler,
                                                         make_logger: MakeLogger) -> None:
        """Each message is one ExportLogsServiceRequest the generated classes parse, with one log record."""
        handler = make_handler(schema="otlp", static_fields=STATIC)
        count = _log_sample_records(make_logger(handler, name="billing.api"))
        values = _shipped(handler)
        assert len(values) == count
        for value in values:
            resource, scope, _ = single_log_record(parse_otlp(value))
            assert resource["service.name"] == "billing" and resource["env"] == "test"
            assert scope == "billing.api"

    def test_values_of_one_record(self, make_handler: MakeHandler, make_logger: MakeLogger) -> None:
        """Time, severity, body, code/thread/process attributes and typed fields carry the record's values."""
        handler = make_handler(schema="otlp", static_fields=STATIC, hostname="web-3")
        log = make_logger(handler, name="billing.api")

        def checkout() -> int:
            log.warning("user %s paid", "alice", extra={
                "action": "pay", "amount": 12.5, "count": 3, "ok": True, "tags": ["a", 1], "user": {"id": 7},
                "none": None, "big": 2**70})
            return checkout.__code__.co_firstlineno + 1

        line = checkout()
        [value] = _shipped(handler)
        event_time = json.loads(value)["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["timeUnixNano"]
        assert isinstance(event_time, str)  # int64 as a string, per OTLP/JSON
        resource, _, record = single_log_record(parse_otlp(value))
        assert resource == {"service.name": "billing", "host.name": "web-3", "env": "test"}
        assert record.severity_number == 13 and record.severity_text == "WARNING"
        assert record.body.string_value == "user alice paid"
        assert record.time_unix_nano == int(event_time) > 0
        uid = attributes(record.attributes)["log.record.uid"]
        assert re.fullmatch(r"[a-z2-7]{13}-[0-9a-f]+", uid), uid
        assert attributes(record.attributes) == {
            "code.filepath": __file__, "code.lineno": line, "code.function": "checkout",
            "thread.name": threading.current_thread().name, "process.pid": os.getpid(), "action": "pay",
            "amount": 12.5, "count": 3, "ok": True, "tags": ["a", 1], "user": {"id": 7}, "none": None,
            "big": str(2**70), "log.record.uid": uid}
        assert record.trace_id == b"" and record.span_id == b""

    def test_exception_attributes(self, make_handler: MakeHandler, make_logger: MakeLogger) -> None:
        """An exception gives exception.type, exception.message and exception.stacktrace."""
        handler = make_handler(schema="otlp")
        try:
            json.loads("{")
        except json.JSONDecodeError:
            make_logger(handler).exception("bad json")
        _, _, record = single_log_record(parse_otlp(_shipped(handler)[0]))
        attrs = attributes(record.attributes)
        assert attrs["exception.type"] == "json.decoder.JSONDecodeError"
        assert attrs["exception.message"].startswith("Expecting property name")
        assert attrs["exception.stacktrace"].startswith("Traceback (most recent call last):")
        assert record.severity_number == 17

    def test_trace_context_as_hex_ids(self) -> None:
        """Top-level ``trace_id``/``span_id`` become ``traceId``/``spanId`` in hex, read back as the same bytes."""
        value = json.dumps(to_otlp(_event(trace_id=TRACE_ID, span_id=SPAN_ID))).encode()
        assert json.loads(value)["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["traceId"] == TRACE_ID
        _, _, record = single_log_record(parse_otlp(value))
        assert (record.trace_id.hex(), record.span_id.hex()) == (TRACE_ID, SPAN_ID)

    def test_malformed_trace_ids_stay_attributes(self) -> None:
        """Ids that are not lowercase hex of the right length are kept as attributes; the message still parses."""
        value = json.dumps(to_otlp(_event(trace_id="xyz", span_id=SPAN_ID.upper()))).encode()
        _, _, record = single_log_record(parse_otlp(value))
        assert record.trace_id == b"" and record.span_id == b""
        assert attributes(record.attributes)["trace_id"] == "xyz"

    def test_field_named_like_an_attribute_is_prefixed(self) -> None:
        """A field called ``code.lineno`` does not repeat the record's own attribute key."""
        value = json.dumps(to_otlp(_event(fields={"code.lineno": "mine"}))).encode()
        _, _, record = single_log_record(parse_otlp(value))
        attrs = attributes(record.attributes)
        assert (attrs["code.lineno"], attrs["kafkalog.fields.code.lineno"]) == (42, "mine")

    @pytest.mark.parametrize(("level", "number"), [
        ("debug", 5), ("info", 9), ("warning", 13), ("error", 17), ("critical", 21), ("trace", 1),
        ("success", 12), ("level 25", 12), ("level 11", 6), ("level 5", 0), ("level 99", 24), ("notice", 0)])
    def test_severity_numbers(self, level: str, number: int) -> None:
        """Python levels map as the OpenTelemetry SDK maps them (DEBUG 5, INFO 9, WARNING 13, ...)."""
        assert severity_number(level) == number

    def test_unix_nanos_matches_datetime(self) -> None:
        """The cached fast path gives what ``datetime`` gives, and odd times fall back or give None."""
        assert unix_nanos("2026-11-22T10:15:02.123456+00:00") == 1795342502123456000
        assert unix_nanos("2026-11-22T11:15:02.123456+01:00") == 1795342502123456000
        assert unix_nanos("yesterday") is None and unix_nanos(None) is None

    def test_loguru_record(self, make_sink: Callable[..., KafkaSink], loguru_logger: Any) -> None:
        """A loguru record parses too; bound values are attributes; the scope is the module name."""
        sink = make_sink(schema="otlp", static_fields={"service": "checkout"})
        loguru_logger.add(sink, format="{message}", level="TRACE")
        loguru_logger.bind(request_id="r-1").trace("deep {n}", n=1)
        assert sink.drain(5)
        transport = sink.config.transport
        assert isinstance(transport, MemoryTransport)
        resource, scope, record = single_log_record(parse_otlp(transport.values()[0]))
        assert resource["service.name"] == "checkout"
        assert scope == __name__
        assert (record.severity_number, record.severity_text) == (1, "TRACE")
        attrs = attributes(record.attributes)
        assert (attrs["request_id"], attrs["n"]) == ("r-1", 1)

    def test_static_resource_names_replace_the_defaults(self) -> None:
        """A static field named ``host.name`` or ``service.name`` is the resource's, once."""
        mapper = mapper_for("otlp", ["host.name"])
        assert mapper is not None
        value = json.dumps(mapper(_event(**{"host.name": "pod-7"}))).encode()
        resource, _, _ = single_log_record(parse_otlp(value))
        assert resource == {"service.name": "billing", "host.name": "pod-7"}

    def test_formatter_subclass_record_is_mapped(self, make_handler: MakeHandler, make_logger: MakeLogger) -> None:
        """A KafkaJsonFormatter subclass builds the record (its process_log_record first), then the schema maps it."""

        class Tagging(KafkaJsonFormatter):
            def process_log_record(self, log_record: dict[str, Any]) -> dict[str, Any]:
                log_record["fields"]["tagged"] = True
                return log_record

        handler = make_handler(schema="otlp")
        handler.setFormatter(Tagging())
        make_logger(handler).info("hello")
        _, _, record = single_log_record(parse_otlp(_shipped(handler)[0]))
        assert record.body.string_value == "hello"
        assert attributes(record.attributes)["tagged"] is True

    def test_mapper_for_resource_keys(self) -> None:
        """With the static field names given, static fields are resource attributes, not record attributes."""
        mapper = mapper_for("otlp", ["service", "env"])
        assert mapper is not None
        resource, _, record = single_log_record(parse_otlp(json.dumps(mapper(_event(env="prod"))).encode()))
        assert resource["env"] == "prod"
        assert "env" not in attributes(record.attributes)
