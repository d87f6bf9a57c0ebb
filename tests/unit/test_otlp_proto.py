"""``schema="otlp_proto"``: the hand-written protobuf writer gives the message opentelemetry-proto reads, equal
field by field to the OTLP/JSON one (values of every JSON type, exceptions, trace ids, non-ASCII)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from schema_checks import parse_otlp

from kafkalog.schemas import encode_mapped, mapper_for, to_otlp
from kafkalog.schemas._otlp_proto import to_protobuf

logs_service = pytest.importorskip("opentelemetry.proto.collector.logs.v1.logs_service_pb2")

EVENT: dict[str, Any] = {
    "type": "error", "action": "pay", "time": "2026-12-02T10:00:00.123456+00:00", "msg": "zahlung ü 支付",
    "fields": {"s": "ß", "i": 7, "neg": -3, "big": 2**63 - 1, "f": 1.5, "t": True, "no": False, "none": None,
               "l": [1, "a", [2.0]], "d": {"k": {"n": -1}}, "empty": {}},
    "funcName": "f", "logger": "app.pay", "host": "web-3", "pid": 42, "thread": "MainThread", "file": "/a.py",
    "line": 3, "id": "abcdefghijklm-1f", "trace_id": "0af7651916cd43dd8448eb211c80319c",
    "span_id": "b7ad6b7169203331",
    "exception": {"type": "ValueError", "message": "bad ü", "stack": "Traceback...\nValueError: bad ü"},
    "service": "billing",
}


def test_protobuf_equals_the_json_request() -> None:
    request = to_otlp(EVENT, {"service"})
    ours = logs_service.ExportLogsServiceRequest.FromString(to_protobuf(request))
    expected = parse_otlp(json.dumps(request).encode())
    assert ours == expected
    record = ours.resource_logs[0].scope_logs[0].log_records[0]
    assert record.observed_time_unix_nano == record.time_unix_nano > 0
    assert record.trace_id.hex() == EVENT["trace_id"] and record.span_id.hex() == EVENT["span_id"]
    assert {kv.key: kv.value.string_value for kv in record.attributes}["log.record.uid"] == EVENT["id"]


def test_the_schema_option_ships_protobuf_and_cuts_oversize_records() -> None:
    mapper = mapper_for("otlp_proto", ["service"])
    assert mapper is not None
    data = encode_mapped(EVENT, mapper, 1_000_000).data
    assert data is not None
    assert logs_service.ExportLogsServiceRequest.FromString(data) == parse_otlp(
        json.dumps(to_otlp(EVENT, {"service"})).encode())
    big = {**EVENT, "msg": "x" * 20_000}
    cut = encode_mapped(big, mapper, 4096)
    assert cut.truncated and cut.data is not None and len(cut.data) <= 4096
    body = logs_service.ExportLogsServiceRequest.FromString(cut.data).resource_logs[0].scope_logs[0] \
        .log_records[0].body.string_value
    assert "[truncated" in body
