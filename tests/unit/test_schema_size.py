"""The size limit (``max_message_bytes``, ``oversize``) for the ``ecs`` and ``otlp`` schemas: oversize records
are cut to fit after mapping, or dropped and counted; none is ever shipped over the limit."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from schema_checks import attributes, flatten, parse_otlp, single_log_record

from kafkalog import KafkaHandler
from kafkalog._encode import TRUNCATION_MARKER
from kafkalog.transports import MemoryTransport

pytest.importorskip("opentelemetry.proto")

MakeHandler = Callable[..., KafkaHandler]
MakeLogger = Callable[..., logging.Logger]
MARKER_TAIL = TRUNCATION_MARKER.split("{n}")[1]


def _shipped(handler: KafkaHandler) -> list[bytes]:
    assert handler.flush(5)
    transport = handler.config.transport
    assert isinstance(transport, MemoryTransport)
    return transport.values()


def _texts(schema: str, value: bytes) -> tuple[str, dict[str, Any]]:
    """(the message text, the record's other values, flattened) for a shipped record of ``schema``."""
    if schema == "ecs":
        flat = flatten(json.loads(value))
        return flat.pop("message"), flat
    _, _, record = single_log_record(parse_otlp(value))
    attrs = attributes(record.attributes)
    return record.body.string_value, attrs


def _truncated_flag(schema: str, rest: dict[str, Any]) -> bool:
    return bool(rest.get("kafkalog.truncated"))


@pytest.mark.parametrize("schema", ["ecs", "otlp"])
class TestSizeLimit:
    def test_long_message_is_cut_under_the_limit(self, make_handler: MakeHandler, make_logger: MakeLogger,
                                                 schema: str) -> None:
        """A message over max_message_bytes is cut (marker at the end), flagged, counted, shipped within the limit."""
        handler = make_handler(schema=schema, max_message_bytes=2048)
        make_logger(handler).warning("x" * 5000)
        [value] = _shipped(handler)
        assert len(value) <= 2048
        message, rest = _texts(schema, value)
        assert message.startswith("xxx") and message.endswith(MARKER_TAIL)
        assert _truncated_flag(schema, rest)
        assert handler.stats().truncated == 1

    def test_long_stack_is_cut_under_the_limit(self, make_handler: MakeHandler, make_logger: MakeLogger,
                                               schema: str) -> None:
        """A huge exception message and stack are cut so the mapped record fits."""
        handler = make_handler(schema=schema, max_message_bytes=4096)
        try:
            raise ValueError("v" * 20_000)
        except ValueError:
            make_logger(handler).exception("failed")
        [value] = _shipped(handler)
        assert len(value) <= 4096
        _, rest = _texts(schema, value)
        stack = rest["error.stack_trace"] if schema == "ecs" else rest["exception.stacktrace"]
        assert stack.startswith("Traceback") and stack.endswith(MARKER_TAIL)
        assert handler.stats().truncated == 1

    def test_big_fields_are_replaced(self, make_handler: MakeHandler, make_logger: MakeLogger, schema: str) -> None:
        """Fields too big to fit are replaced by the ``_truncated`` note, as in the default schema."""
        handler = make_handler(schema=schema, max_message_bytes=2048)
        make_logger(handler).info("many", extra={f"k{i}": "v" * 50 for i in range(100)})
        [value] = _shipped(handler)
        assert len(value) <= 2048
        message, rest = _texts(schema, value)
        assert message == "many"
        assert "bytes of fields dropped" in rest["_truncated"]
        assert not any(key.startswith("k") and key[1:].isdigit() for key in rest)

    def test_drop_policy_drops_and_counts(self, make_handler: MakeHandler, make_logger: MakeLogger,
                                          schema: str) -> None:
        """With ``oversize="drop"`` an oversize mapped record is dropped as too_large, nothing shipped."""
        handler = make_handler(schema=schema, max_message_bytes=2048, oversize="drop")
        make_logger(handler).warning("x" * 5000)
        assert _shipped(handler) == []
        assert handler.stats().dropped == {"too_large": 1}

    def test_record_that_cannot_fit_is_dropped_and_counted(self, make_handler: MakeHandler,
                                                           make_logger: MakeLogger, schema: str) -> None:
        """A record whose uncuttable parts (here the logger name) exceed the limit is dropped as too_large."""
        handler = make_handler(schema=schema, max_message_bytes=1024)
        make_logger(handler, name="n" * 2000).warning("x" * 5000)
        assert _shipped(handler) == []
        assert handler.stats().dropped == {"too_large": 1}

    def test_no_size_ever_ships_over_the_limit(self, make_handler: MakeHandler, make_logger: MakeLogger,
                                               schema: str) -> None:
        """Across message, stack and field sizes (many small fields too, which OTLP wraps at a cost), every record
        is cut to fit and shipped within the limit: none of these needs dropping."""
        limit = 1500
        handler = make_handler(schema=schema, max_message_bytes=limit)
        log = make_logger(handler)
        logged = 0
        for size in (0, 100, 900, 1400, 1600, 3000, 20_000):
            for n_fields in (0, 5, 40):
                extra = {f"f{i}": "é" * (size // 50 + 1) for i in range(n_fields)}
                log.info("m" * size + '"\n\\', extra=extra)
                try:
                    raise KeyError("k" * size)
                except KeyError:
                    log.exception("é" * size, extra=extra)
                logged += 2
        values = _shipped(handler)
        stats = handler.stats()
        assert all(len(value) <= limit for value in values)
        for value in values:
            _texts(schema, value)  # parses
        assert stats.dropped == {}
        assert stats.delivered == len(values) == logged
