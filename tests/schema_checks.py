"""Checks shared by the unit and integration tests of the output schemas (``schema="ecs"`` and ``"otlp"``).

ECS records are compared field by field with what ``ecs-logging-python``'s ``StdlibFormatter`` writes for the same
``LogRecord``; OTLP records are parsed with the official generated classes (``opentelemetry-proto``).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
from typing import Any

ECS_ONLY_THEIRS = frozenset({"log.original", "process.name", "process.thread.id"})
"""ecs-logging fields kafkalog's ECS records leave out (docs/schemas.md says why)."""
ECS_ONLY_OURS = frozenset({"host.hostname", "event.id"})
"""Fields kafkalog adds that ecs-logging does not write."""


def flatten(doc: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves of a nested JSON object by dotted path: ``{"log": {"level": "x"}}`` and ``{"log.level": "x"}`` alike
    give ``{"log.level": "x"}`` (how Elasticsearch reads both)."""
    if not isinstance(doc, dict) or not doc:
        return {prefix: doc}
    flat: dict[str, Any] = {}
    for key, value in doc.items():
        path = f"{prefix}.{key}" if prefix else key
        for sub, leaf in flatten(value, path).items():
            assert sub not in flat, f"{sub} appears twice"
            flat[sub] = leaf
    return flat


def _instant(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def compare_with_ecs_logging(ours: dict[str, Any], theirs: dict[str, Any], default_action: str = "log") -> None:
    """Assert that our ECS document says what ecs-logging's does, field by field, but for the documented
    differences: microsecond ``@timestamp``; ``error.type`` qualified by its module; the full traceback in
    ``error.stack_trace``; ``action`` as ``event.action``; ``null`` extras kept; the fields in ECS_ONLY_*."""
    o, t = flatten(ours), flatten(theirs)
    ours_time, their_time = o.pop("@timestamp"), t.pop("@timestamp")
    assert ours_time.endswith("Z") and len(ours_time.split(".")[1]) == len("123456Z"), ours_time
    assert abs(_instant(ours_time) - _instant(their_time)) < dt.timedelta(milliseconds=1)
    for key in ECS_ONLY_THEIRS:
        t.pop(key, None)
    for key in ECS_ONLY_OURS:
        assert o.pop(key) is not None
    their_action = t.pop("action", None)
    assert o.pop("event.action") == (their_action if their_action is not None else default_action)
    if "error.type" in t:
        assert o.pop("error.type").rsplit(".", 1)[-1] == t.pop("error.type")
    if "error.stack_trace" in t:
        assert t.pop("error.stack_trace") in o.pop("error.stack_trace")
    for key in [k for k, v in o.items() if v is None and k not in t]:
        del o[key]  # ecs-logging drops extras whose value is None; kafkalog keeps them
    assert o == t


def ecs_logging_doc(formatter: logging.Formatter, record: logging.LogRecord) -> dict[str, Any]:
    """What ``ecs_logging.StdlibFormatter`` writes for ``record``, decoded."""
    decoded: dict[str, Any] = json.loads(formatter.format(record))
    return decoded


def _ids_to_base64(request: dict[str, Any]) -> dict[str, Any]:
    """OTLP/JSON writes trace and span ids as hex; protobuf's JSON parser expects base64 for bytes fields, so the
    ids are re-encoded before parsing (the Collector's own OTLP/JSON reader takes the hex as it is)."""
    for resource_logs in request.get("resourceLogs", []):
        for scope_logs in resource_logs.get("scopeLogs", []):
            for log_record in scope_logs.get("logRecords", []):
                for key in ("traceId", "spanId"):
                    if key in log_record:
                        hex_id = log_record[key]
                        assert hex_id == hex_id.lower() and len(hex_id) in (16, 32), hex_id
                        log_record[key] = base64.b64encode(bytes.fromhex(hex_id)).decode()
    return request


def parse_otlp(value: bytes) -> Any:
    """One Kafka message value as an ``ExportLogsServiceRequest`` (fails on unknown fields or wrong types)."""
    from google.protobuf import json_format
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    return json_format.Parse(json.dumps(_ids_to_base64(json.loads(value))), ExportLogsServiceRequest())


def any_value(value: Any) -> Any:
    """A protobuf ``AnyValue`` as a Python value (kvlist -> dict, array -> list, unset -> None)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    return getattr(value, kind)


def attributes(key_values: Any) -> dict[str, Any]:
    """A repeated ``KeyValue`` as a dict; fails when a key repeats (OTLP requires unique keys)."""
    result: dict[str, Any] = {}
    for kv in key_values:
        assert kv.key not in result, f"attribute {kv.key} repeats"
        result[kv.key] = any_value(kv.value)
    return result


def single_log_record(request: Any) -> tuple[dict[str, Any], str, Any]:
    """(resource attributes, scope name, the log record) of a request holding exactly one record."""
    [resource_logs] = request.resource_logs
    [scope_logs] = resource_logs.scope_logs
    [log_record] = scope_logs.log_records
    return attributes(resource_logs.resource.attributes), scope_logs.scope.name, log_record
