"""Event dict -> one OTLP/JSON ``ExportLogsServiceRequest`` holding one log record.

What the OpenTelemetry Collector's ``kafkareceiver`` reads with ``encoding: otlp_json``, so a topic of kafkalog
records can feed any OTLP backend without a custom parser. The OTLP/JSON rules followed here: field names in
lowerCamelCase, 64-bit integers as decimal strings (``timeUnixNano``, ``intValue``), enums as numbers, and
``traceId``/``spanId`` as lowercase hex (not protobuf's usual base64). Pure and never raises.
"""

from __future__ import annotations

import calendar
import datetime as _dt
import math
from collections.abc import Collection, Mapping
from typing import Any

from .._encode import _key_str, to_jsonable
from .._records import RESERVED_KEYS
from ..typing import Event

UNKNOWN_SERVICE = "unknown_service"
"""``service.name`` when no ``service`` static field is set, as the OpenTelemetry SDKs do."""

CONFLICT_PREFIX = "kafkalog.fields."
"""Prefix for a field whose name is already one of the record's own attributes (attribute keys must be unique)."""

_SEVERITY = {"trace": 1, "debug": 5, "info": 9, "success": 12, "warning": 13, "warn": 13, "error": 17,
             "critical": 21, "fatal": 21}
_HANDLED = RESERVED_KEYS | {"service"}  # the record contract's keys (one list, in _records.py), and static service
_HEX = frozenset("0123456789abcdef")
_INT64 = (-(2**63), 2**63 - 1)
_MAX_DEPTH = 32
_seconds_cache: tuple[str, int] = ("", 0)
_resource_cache: tuple[dict[str, Any], dict[str, Any]] = ({}, {})


def severity_number(level: str) -> int:
    """The OTel severity number for a level name, as the OpenTelemetry Python SDK maps stdlib level numbers.

    ``debug`` 5, ``info`` 9, ``warning`` 13, ``error`` 17, ``critical`` 21; loguru's ``success`` (25) 12 and
    ``trace`` 1; an unnamed ``level N`` by the SDK's table; any other custom name 0 (unspecified).
    """
    known = _SEVERITY.get(level)
    if known is not None:
        return known
    if level.startswith("level ") and level[6:].isdigit():
        return std_to_otel(int(level[6:]))
    return 0


def std_to_otel(levelno: int) -> int:
    """The SDK's ``std_to_otel``: 10 -> 5, 11 -> 6, 12 -> 7, 13..19 -> 8, 20 -> 9 ... 50 -> 21, above 53 -> 24."""
    if levelno < 10:
        return 0
    if levelno > 53:
        return 24
    return 5 + 4 * (levelno // 10 - 1) + min(levelno % 10, 3)


def unix_nanos(value: object) -> int | None:
    """Nanoseconds since the epoch for the record's ISO 8601 ``time``, or ``None`` when it is not one.

    The seconds part is cached (one record per second or more share it): parsing it costs more than the rest.
    """
    global _seconds_cache
    if not isinstance(value, str):
        return None
    if len(value) == 32 and value[19] == "." and value.endswith("+00:00") and value[20:26].isdigit():
        prefix = value[:19]
        cached_prefix, seconds = _seconds_cache
        if prefix != cached_prefix:
            try:
                seconds = calendar.timegm((int(value[0:4]), int(value[5:7]), int(value[8:10]), int(value[11:13]),
                                           int(value[14:16]), int(value[17:19]), 0, 0, 0))
            except ValueError:
                return None
            _seconds_cache = (prefix, seconds)
        return seconds * 1_000_000_000 + int(value[20:26]) * 1000
    try:
        parsed = _dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_dt.timezone.utc)
    delta = parsed - _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def any_value(value: Any, _depth: int = 0, _seen: frozenset[int] = frozenset()) -> dict[str, Any]:
    """An OTLP ``AnyValue`` in JSON: string, bool, int (as a string), double, array or key/value list.

    ``None`` and non-finite floats give the empty value; integers beyond 64 bits a string of their digits; other
    objects the same stable text as the default schema's ``fields`` (see docs/record-format.md).
    """
    kind = type(value)  # exact types first: the ABC checks below cost more than the rest of a plain value
    if kind is str:
        return {"stringValue": value}
    if kind is int:
        return {"intValue": str(value)} if _INT64[0] <= value <= _INT64[1] else {"stringValue": str(value)}
    if kind is float:
        return {"doubleValue": value} if math.isfinite(value) else {}
    if value is None:
        return {}
    if isinstance(value, str):
        return {"stringValue": str(value)}
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        number = int(value)
        return {"intValue": str(number)} if _INT64[0] <= number <= _INT64[1] else {"stringValue": str(number)}
    if isinstance(value, float):
        return {"doubleValue": float(value)} if math.isfinite(value) else {}
    if _depth >= _MAX_DEPTH:
        return {"stringValue": "<max depth>"}
    if id(value) in _seen:
        return {"stringValue": "<cycle>"}
    if kind is dict or isinstance(value, Mapping):
        seen = _seen | {id(value)}
        return {"kvlistValue": {"values": [
            {"key": k if isinstance(k, str) else _key_str(k), "value": any_value(v, _depth + 1, seen)}
            for k, v in value.items()]}}
    if kind is list or isinstance(value, (list, tuple)):
        seen = _seen | {id(value)}
        return {"arrayValue": {"values": [any_value(v, _depth + 1, seen) for v in value]}}
    return any_value(to_jsonable(value), _depth + 1, _seen)


def _kv(key: str, value: Any) -> dict[str, Any]:
    return {"key": key, "value": any_value(value)}


def _is_hex_id(value: object, length: int) -> bool:
    return isinstance(value, str) and len(value) == length and _HEX.issuperset(value) and value != "0" * length


def to_otlp(event: Event, static_keys: Collection[str] = ()) -> dict[str, Any]:
    """The ``ExportLogsServiceRequest`` for one kafkalog event (see docs/schemas.md for every field).

    ``static_keys`` are the names of the ``static_fields``: they describe the process, so they become resource
    attributes; any other top-level key becomes a log record attribute.
    """
    service = event.get("service")
    resource = {"service.name": service if service is not None else UNKNOWN_SERVICE}
    if event.get("host") is not None:
        resource["host.name"] = event["host"]
    own = {"code.filepath": event.get("file"), "code.lineno": event.get("line"),
           "code.function": event.get("funcName"), "thread.name": event.get("thread"),
           "process.pid": event.get("pid"), "action": event.get("action"), "log.record.uid": event.get("id")}
    exception = event.get("exception")
    if exception is not None and isinstance(exception, Mapping):
        own["exception.type"] = exception.get("type") or None
        own["exception.message"] = exception.get("message") or None
        own["exception.stacktrace"] = exception.get("stack") or None
    if event.get("truncated"):
        own["kafkalog.truncated"] = True
    record: dict[str, Any] = {}
    trace_id, span_id = event.get("trace_id"), event.get("span_id")
    if _is_hex_id(trace_id, 32):
        record["traceId"] = trace_id
    elif trace_id is not None:
        own["trace_id"] = trace_id  # not an OTLP trace id: kept as an attribute, the record stays parseable
    if _is_hex_id(span_id, 16):
        record["spanId"] = span_id
    elif span_id is not None:
        own["span_id"] = span_id
    flags = event.get("trace_flags")
    if type(flags) is int and 0 <= flags <= 0xFF:
        if flags:  # W3C trace flags (1: sampled) in the low 8 bits; 0 is left out, as OTLP/JSON does
            record["flags"] = flags
    elif flags is not None:
        own["trace_flags"] = flags
    for key, value in event.items():
        if key not in _HANDLED:
            if key in static_keys:
                resource[key] = value  # a static "host.name" or "service.name" says it best
            else:
                own.setdefault(key, value)
    # strings inline: a call per attribute would cost more than building the attribute
    attributes = [{"key": key, "value": {"stringValue": value} if type(value) is str else any_value(value)}
                  for key, value in own.items() if value is not None]

    fields = event.get("fields")
    if type(fields) is dict or isinstance(fields, Mapping):
        for key, value in fields.items():
            name = key if type(key) is str else _key_str(key)
            attributes.append({"key": CONFLICT_PREFIX + name if name in own else name,
                               "value": {"stringValue": value} if type(value) is str else any_value(value)})
    elif fields is not None:
        attributes.append(_kv(CONFLICT_PREFIX.rstrip("."), fields))

    nanos = unix_nanos(event.get("time"))
    if nanos is not None:
        # observed: when kafkalog saw the record, which is when it was made (on the thread that logged it)
        record["timeUnixNano"] = record["observedTimeUnixNano"] = str(nanos)
    level = event.get("type")
    if isinstance(level, str):
        number = severity_number(level)
        if number:
            record["severityNumber"] = number
        record["severityText"] = level.upper()
    record["body"] = any_value(event.get("msg"))
    record["attributes"] = attributes
    logger = event.get("logger")
    scope = {"name": logger} if isinstance(logger, str) else {}
    return {"resourceLogs": [{"resource": _resource(resource),
                              "scopeLogs": [{"scope": scope, "logRecords": [record]}]}]}


def _resource(values: dict[str, Any]) -> dict[str, Any]:
    """The resource for these attribute values: the one built last time when they are the same (they come from
    the handler's constants, so they nearly always are). Only read after this, by the encoder."""
    global _resource_cache
    cached_values, cached = _resource_cache
    if values == cached_values:
        return cached
    built = {"attributes": [_kv(key, value) for key, value in values.items()]}
    _resource_cache = (values, built)
    return built
