"""What a stored value says, whatever wrote it: a kafkalog record, an ECS document, a one-record OTLP/JSON
message, other JSON, or not JSON at all. Filters and the pretty format read this view, never the raw shapes."""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .levels import level_number, otlp_level

KAFKALOG, ECS, OTLP, JSON, RAW = "kafkalog", "ecs", "otlp", "json", "raw"
"""Kinds of value. ``json`` (another JSON shape) and ``raw`` (not a JSON object) are not log records."""


def _json_loads() -> Callable[[bytes], Any]:
    try:
        import orjson
    except ImportError:
        return json.loads
    loads: Callable[[bytes], Any] = orjson.loads
    return loads


loads = _json_loads()


@dataclass(slots=True)
class View:
    """One value as a log record. For ``json`` and ``raw`` only ``kind``, ``record`` and ``text`` are set."""

    kind: str
    record: Any = None
    text: str = ""
    time: str | None = None
    level: str | None = None
    levelno: int | None = None
    logger: str | None = None
    msg: str | None = None
    action: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    exception: dict[str, str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_log(self) -> bool:
        return self.kind in (KAFKALOG, ECS, OTLP)

    def lookup(self, key: str) -> tuple[bool, Any]:
        """The value at a dotted ``key``: in the stored object first, then in the record's fields (so
        ``user`` finds ``fields.user``), then in its other keys (OTLP resource attributes)."""
        for source in (self.record if self.kind != OTLP else None, self.fields, self.extra):
            if isinstance(source, Mapping):
                found, value = _path(source, key)
                if found:
                    return True, value
        return False, None


def _path(obj: Mapping[str, Any], key: str) -> tuple[bool, Any]:
    """Follow a dotted key, taking a dotted name literally where one exists (ECS writes ``"log.level"``)."""
    if key in obj:
        return True, obj[key]
    head, dot, rest = key.partition(".")
    while dot:
        if head in obj and isinstance(obj[head], Mapping):
            found, value = _path(obj[head], rest)
            if found:
                return True, value
        more, dot, rest = rest.partition(".")
        head = f"{head}.{more}"
    return False, None


def decode_text(value: bytes | None) -> str:
    return "" if value is None else value.decode("utf-8", "backslashreplace")


def json_object(value: bytes | None) -> dict[str, Any] | None:
    """The value as a JSON object, or None when it is not one (the check ``ndjson`` needs, without a view)."""
    if not value:
        return None
    try:
        record = loads(value)
    except (ValueError, TypeError):
        return None
    return record if isinstance(record, dict) else None


def load(value: bytes | None) -> Any:
    """The value's JSON, or None when it has none (no value, or not JSON)."""
    if not value:
        return None
    try:
        return loads(value)
    except (ValueError, TypeError):
        return None


def is_kafkalog(record: dict[str, Any]) -> bool:
    """Whether a JSON object has the keys of a kafkalog record (then it is read as one)."""
    return "msg" in record and "type" in record and "time" in record


def parse(value: bytes | None) -> View:
    """The view of one stored value. Never raises: what cannot be read as a log record is ``json`` or ``raw``."""
    return view_of(value, load(value))


def view_of(value: bytes | None, record: Any) -> View:
    """:func:`parse` of a value whose JSON (``record``: :func:`load`'s answer) has been read already."""
    if not isinstance(record, dict):
        return View(RAW, text=decode_text(value))
    try:
        if is_kafkalog(record):
            return _kafkalog(record)
        if "@timestamp" in record and ("ecs.version" in record or "log.level" in record or "message" in record):
            return _ecs(record)
        if "resourceLogs" in record:
            view = _otlp(record)
            if view is not None:
                return view
    except (TypeError, ValueError, AttributeError, KeyError, IndexError):
        pass  # a shape that only looks like a schema: shown as it is
    return View(JSON, record=record, text=decode_text(value))


def str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) or value is None else str(value)


def _exception(obj: Any, type_key: str, message_key: str, stack_key: str) -> dict[str, str] | None:
    if not isinstance(obj, Mapping):
        return None
    return {"type": str(obj.get(type_key) or ""), "message": str(obj.get(message_key) or ""),
            "stack": str(obj.get(stack_key) or "")}


def _kafkalog(record: dict[str, Any]) -> View:
    level = str_or_none(record.get("type"))
    fields = record.get("fields")
    return View(KAFKALOG, record=record, time=str_or_none(record.get("time")), level=level,
                levelno=level_number(level), logger=str_or_none(record.get("logger")),
                msg=str_or_none(record.get("msg")), action=str_or_none(record.get("action")),
                fields=fields if isinstance(fields, dict) else {},
                exception=_exception(record.get("exception"), "type", "message", "stack"))


_ECS_OWN = frozenset({"@timestamp", "log.level", "message", "ecs.version", "log", "process", "host", "event",
                      "error", "trace", "span", "service"})


def _ecs(record: dict[str, Any]) -> View:
    _, level = _path(record, "log.level")
    _, logger = _path(record, "log.logger")
    _, action = _path(record, "event.action")
    fields = {k: v for k, v in record.items() if k not in _ECS_OWN}
    return View(ECS, record=record, time=str_or_none(record.get("@timestamp")), level=str_or_none(level),
                levelno=level_number(level if isinstance(level, str) else None), logger=str_or_none(logger),
                msg=str_or_none(record.get("message")), action=str_or_none(action), fields=fields,
                exception=_exception(record.get("error"), "type", "message", "stack_trace"))


def any_value(value: Mapping[str, Any]) -> Any:
    """An OTLP/JSON ``AnyValue`` as a plain value."""
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in value:
            return value[key]
    if "intValue" in value:
        return int(value["intValue"])
    if "arrayValue" in value:
        return [any_value(v) for v in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        return attributes(value["kvlistValue"].get("values", []))
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def attributes(items: list[Mapping[str, Any]]) -> dict[str, Any]:
    return {str(item["key"]): any_value(item.get("value", {})) for item in items}


_OTLP_OWN = ("code.filepath", "code.lineno", "code.function", "thread.name", "process.pid", "action",
             "exception.type", "exception.message", "exception.stacktrace", "log.record.uid")


def _otlp(message: dict[str, Any]) -> View | None:
    resources = message["resourceLogs"]
    if len(resources) != 1 or len(resources[0].get("scopeLogs", [])) != 1:
        return None  # several records in one message: shown as it is (kafkalog writes one per message)
    scope_logs = resources[0]["scopeLogs"][0]
    records = scope_logs.get("logRecords", [])
    if len(records) != 1:
        return None
    log_record = records[0]
    attrs = attributes(log_record.get("attributes", []))
    number = int(log_record.get("severityNumber", 0))
    text = log_record.get("severityText")
    level: str | None
    levelno: int | None
    if number:
        level, levelno = otlp_level(number)
    else:
        level, levelno = (text.lower() if isinstance(text, str) else None), level_number(text)
    nanos = int(log_record.get("timeUnixNano") or log_record.get("observedTimeUnixNano") or 0)
    when = _dt.datetime.fromtimestamp(nanos / 1e9, _dt.timezone.utc).isoformat() if nanos else None
    body = log_record.get("body", {})
    msg = any_value(body) if isinstance(body, Mapping) else None
    exception = None
    if any(k.startswith("exception.") for k in attrs):
        exception = {"type": str(attrs.get("exception.type", "")), "message": str(attrs.get("exception.message", "")),
                     "stack": str(attrs.get("exception.stacktrace", ""))}
    fields = {k: v for k, v in attrs.items() if k not in _OTLP_OWN}
    return View(OTLP, record=message, time=when, level=level, levelno=levelno,
                logger=str_or_none(scope_logs.get("scope", {}).get("name")),
                msg=msg if isinstance(msg, str) else json.dumps(msg), action=str_or_none(attrs.get("action")),
                fields=fields, exception=exception,
                extra=attributes(resources[0].get("resource", {}).get("attributes", [])))
