"""trace_id / span_id from the active OpenTelemetry span: present inside spans, absent otherwise, never imported."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from support import ROOT

from kafkalog import ConfigTypeError, KafkaHandler, KafkaLogConfig, _trace
from kafkalog.transports import MemoryTransport

from .conftest import BOOTSTRAP

sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
trace = pytest.importorskip("opentelemetry.trace")


@pytest.fixture
def tracer() -> Any:
    return sdk_trace.TracerProvider().get_tracer("unit")


@pytest.fixture(autouse=True)
def _fresh_lookup() -> Iterator[None]:
    _trace._get_current_span = None
    _trace._last = (None, None)
    yield
    _trace._get_current_span = None
    _trace._last = (None, None)


def _events(make_handler: Callable[..., KafkaHandler], log_calls: Callable[[logging.Logger], None],
            **options: object) -> list[dict]:
    memory = MemoryTransport()
    handler = make_handler(transport=memory, **options)
    log = logging.Logger("trace")
    log.addHandler(handler)
    log_calls(log)
    assert handler.flush(5)
    return [json.loads(v) for v in memory.values()]


class TestCurrentIds:
    def test_ids_of_the_active_span_as_lowercase_hex(self, tracer: Any) -> None:
        """Inside a span: its trace id as 32 and its span id as 16 lowercase hex digits, and its W3C trace flags
        (sampled: bit 0; the SDK also sets bit 1, "random trace id", of W3C Trace Context level 2)."""
        with tracer.start_as_current_span("s") as span:
            ids = _trace.current_ids()
        context = span.get_span_context()
        assert ids == (f"{context.trace_id:032x}", f"{context.span_id:016x}", int(context.trace_flags))
        assert ids[2] & 1 == 1
        assert ids is not None and ids[0] == ids[0].lower() and len(ids[0]) == 32 and len(ids[1]) == 16

    def test_each_span_gets_its_own_ids(self, tracer: Any) -> None:
        """Ids formatted for one span are never handed out for the next one (the last span's ids are cached)."""
        seen = []
        for _ in range(3):
            with tracer.start_as_current_span("s") as span:
                seen.append((_trace.current_ids(), _trace.current_ids(), span.get_span_context()))
            assert _trace.current_ids() is None
        for first, again, context in seen:
            assert first == again == (f"{context.trace_id:032x}", f"{context.span_id:016x}",
                                      int(context.trace_flags))
        assert len({first for first, _, _ in seen}) == 3

    def test_flags_of_an_unsampled_span(self) -> None:
        """A span the sampler dropped is still current, with its ids: trace flags 0 (a sampled one gives 1)."""
        from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

        unsampled = sdk_trace.TracerProvider(sampler=ALWAYS_OFF).get_tracer("unit")
        with unsampled.start_as_current_span("s") as span:
            ids = _trace.current_ids()
        context = span.get_span_context()
        assert ids == (f"{context.trace_id:032x}", f"{context.span_id:016x}", int(context.trace_flags))
        assert ids[2] & 1 == 0

    def test_none_outside_a_span(self) -> None:
        """No active span (the invalid default span): None."""
        assert _trace.current_ids() is None

    def test_none_when_the_tracer_raises(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A get_current_span that raises costs the ids, never the record."""

        def broken() -> object:
            raise RuntimeError("broken tracer")

        monkeypatch.setattr(_trace, "_get_current_span", broken)
        assert _trace.current_ids() is None

    def test_none_when_opentelemetry_was_never_imported(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """opentelemetry.trace absent from sys.modules: None, without importing it."""
        monkeypatch.delitem(sys.modules, "opentelemetry.trace")
        assert _trace.current_ids() is None
        assert "opentelemetry.trace" not in sys.modules


class TestRecords:
    def test_records_in_a_span_carry_ids_others_do_not(self, make_handler: Callable[..., KafkaHandler],
                                                       tracer: Any) -> None:
        """KafkaHandler: top-level trace_id/span_id inside a span, neither key outside."""

        def calls(log: logging.Logger) -> None:
            with tracer.start_as_current_span("s"):
                log.info("in")
            log.info("out")

        inside, outside = _events(make_handler, calls)
        assert len(inside["trace_id"]) == 32 and len(inside["span_id"]) == 16 and inside["trace_flags"] & 1 == 1
        assert "trace_id" not in outside and "span_id" not in outside and "trace_flags" not in outside

    @pytest.mark.parametrize("schema", ["ecs", "otlp"])
    def test_other_schemas_map_the_ids(self, make_handler: Callable[..., KafkaHandler], tracer: Any,
                                       schema: str) -> None:
        """schema="ecs" writes trace.id/span.id (ECS has no field for the flags), schema="otlp" the log record's
        traceId/spanId and flags (sampled bit set)."""

        def calls(log: logging.Logger) -> None:
            with tracer.start_as_current_span("s") as span:
                log.info("in")
                calls.ids = (f"{span.get_span_context().trace_id:032x}",  # type: ignore[attr-defined]
                             f"{span.get_span_context().span_id:016x}")

        (doc,) = _events(make_handler, calls, schema=schema)
        if schema == "ecs":
            assert (doc["trace"]["id"], doc["span"]["id"]) == calls.ids  # type: ignore[attr-defined]
            assert "trace_flags" not in json.dumps(doc)
        else:
            record = doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
            assert (record["traceId"], record["spanId"]) == calls.ids  # type: ignore[attr-defined]
            assert record["flags"] & 1 == 1
            assert "trace_flags" not in json.dumps(doc)  # the record's flags, not an attribute as well

    def test_trace_ids_false_leaves_them_out(self, make_handler: Callable[..., KafkaHandler],
                                            tracer: Any) -> None:
        """trace_ids=False: no ids even inside a span."""

        def calls(log: logging.Logger) -> None:
            with tracer.start_as_current_span("s"):
                log.info("in")

        (event,) = _events(make_handler, calls, trace_ids=False)
        assert "trace_id" not in event

    def test_loguru_records_carry_ids(self, make_sink: Callable[..., object], tracer: Any) -> None:
        """KafkaSink: the same keys inside a span."""
        loguru = pytest.importorskip("loguru")
        memory = MemoryTransport()
        sink = make_sink(transport=memory)
        sink_id = loguru.logger.add(sink, format="{message}")
        try:
            with tracer.start_as_current_span("s") as span:
                loguru.logger.info("in")
        finally:
            loguru.logger.remove(sink_id)
        event = json.loads(memory.values()[0])
        assert event["span_id"] == f"{span.get_span_context().span_id:016x}"

    def test_trace_ids_must_be_a_bool(self) -> None:
        """trace_ids="yes" raises at construction, naming the option."""
        with pytest.raises(ConfigTypeError, match="trace_ids"):
            KafkaLogConfig(bootstrap_servers=BOOTSTRAP, topic="t", trace_ids="yes")  # type: ignore[arg-type]


def test_logging_never_imports_opentelemetry() -> None:
    """In a fresh interpreter, importing kafkalog and logging through it imports no opentelemetry module."""
    script = """
import logging, sys
import kafkalog
from kafkalog.transports import MemoryTransport
handler = kafkalog.KafkaHandler("127.0.0.1:9", "t", transport=MemoryTransport(), handle_sigterm=False)
log = logging.getLogger("x"); log.addHandler(handler); log.warning("hello")
assert handler.flush(5)
print(sorted(m for m in sys.modules if m.startswith(("opentelemetry", "structlog"))))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True,
                         timeout=60).stdout
    assert out.strip() == "[]"
