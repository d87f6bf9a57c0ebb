"""``schema="otlp_proto"``: the hand-written protobuf writer gives the message opentelemetry-proto reads, equal
field by field to the OTLP/JSON one (values of every JSON type, exceptions, trace ids and flags, non-ASCII, and
the odd values the JSON mapping turns into strings or empty values)."""

from __future__ import annotations

import datetime
import decimal
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
    "span_id": "b7ad6b7169203331", "trace_flags": 1,
    "exception": {"type": "ValueError", "message": "bad ü", "stack": "Traceback...\nValueError: bad ü"},
    "service": "billing",
}


ODD = {**EVENT, "fields": {**EVENT["fields"], "huge": 2**70, "nan": float("nan"), "date": datetime.date(2026, 1, 2),
                            "dec": decimal.Decimal("1.5"), "code.filepath": "clash", "tuple": (1, None), "set": {3},
                            7: "int key", "nested": {1.5: [{"x": {}}]}},
       "extra_top": [1, {"a": None}], "truncated": True, "env": "prod"}
CASES = {
    "every type": EVENT,
    "odd values": ODD,
    "unsampled": {**EVENT, "trace_flags": 0},
    "not otlp ids": {**EVENT, "trace_id": "zz", "span_id": 5, "trace_flags": "x"},
    "no message, logger or known level": {**EVENT, "msg": None, "logger": None, "type": "custom"},
    "fields not a mapping, bad time": {**EVENT, "fields": "text", "time": "yesterday"},
    "empty message, numbered level, offset time": {**EVENT, "msg": "", "type": "level 25",
                                                   "time": "2026-12-02T10:00:00+01:00"},
    "nearly empty": {"msg": "x"},
    "static host.name": {**EVENT, "host.name": "h2", "host": None, "service": None},
}


@pytest.mark.parametrize("name", list(CASES))
def test_protobuf_equals_the_json_request(name: str) -> None:
    """The protobuf written straight from the event decodes to the message its OTLP/JSON request describes."""
    event = CASES[name]
    for static in ((), ("service", "env"), ("service", "env", "host.name")):
        request = to_otlp(event, set(static))
        ours = logs_service.ExportLogsServiceRequest.FromString(to_protobuf(event, set(static)))
        assert ours == parse_otlp(json.dumps(request).encode()), static
        assert mapper_for("otlp_proto", static).encode(event) == to_protobuf(event, set(static))  # type: ignore


def test_attributes_written_once_and_reused_keep_their_own_values() -> None:
    """Call-site attributes (file, line, function, thread, pid, action) are written once and reused: a record
    with other values (or a value equal to a reused one but of another type, True and 1) gets its own."""
    for line, thread, pid in [(3, "a", 1), (4, "a", 1), (3, "b", True), (True, "a", 1), (3, "a", 1.0)]:
        event = {**EVENT, "line": line, "thread": thread, "pid": pid}
        ours = logs_service.ExportLogsServiceRequest.FromString(to_protobuf(event))
        assert ours == parse_otlp(json.dumps(to_otlp(event)).encode()), (line, thread, pid)


def test_a_lone_surrogate_costs_nothing_but_itself() -> None:
    """Text that is not valid Unicode (a lone surrogate) is written with the surrogate escaped, never raised."""
    data = to_protobuf({**EVENT, "msg": "a\ud800b", "fields": {"k\udc00": "v\ud800"}})
    record = logs_service.ExportLogsServiceRequest.FromString(data).resource_logs[0].scope_logs[0].log_records[0]
    assert record.body.string_value == "a\\ud800b"
    assert {kv.key: kv.value.string_value for kv in record.attributes}["k\\udc00"] == "v\\ud800"


def test_ids_flags_times_and_uid() -> None:
    ours = logs_service.ExportLogsServiceRequest.FromString(to_protobuf(EVENT, {"service"}))
    record = ours.resource_logs[0].scope_logs[0].log_records[0]
    assert record.observed_time_unix_nano == record.time_unix_nano > 0
    assert record.trace_id.hex() == EVENT["trace_id"] and record.span_id.hex() == EVENT["span_id"]
    assert record.flags == 1
    assert {kv.key: kv.value.string_value for kv in record.attributes}["log.record.uid"] == EVENT["id"]
    unsampled = logs_service.ExportLogsServiceRequest.FromString(to_protobuf({**EVENT, "trace_flags": 0}))
    assert unsampled.resource_logs[0].scope_logs[0].log_records[0].flags == 0


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
