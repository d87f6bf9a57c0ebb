"""Event dict -> Elastic Common Schema document, shaped as ``ecs-logging-python``'s ``StdlibFormatter`` writes it.

Same shape (``@timestamp``, ``log.level``, ``message`` and ``ecs.version`` as dotted top-level keys, everything else
nested; extras merged at the top level, dotted names expanded) so one Elasticsearch index, Filebeat module or
Kibana view can read records from kafkalog and from ecs-logging alike. The differences are deliberate and listed in
docs/schemas.md. Pure and never raises: it runs on the application's thread for every record.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, TypeGuard

from .._encode import _key_str, sanitize
from .._records import RESERVED_KEYS
from ..typing import Event

ECS_VERSION = "1.6.0"
"""The ``ecs.version`` ecs-logging-python writes; every field used here exists in that version."""

CONFLICTS_KEY = "kafkalog"
"""Top-level object for what has no ECS home: ``kafkalog.fields`` (fields that would overwrite an ECS field) and
``kafkalog.truncated``."""

_HANDLED = RESERVED_KEYS | {"service"}  # the record contract's keys (one list, in _records.py), and static service
_MAX_MERGE_DEPTH = 32
_basename = os.path.basename
_PLAIN = frozenset({str, int, float, bool, type(None), list, tuple})


def is_mapping(value: object) -> TypeGuard[Mapping[Any, Any]]:
    """``isinstance(value, Mapping)``, without the ABC check for the types a field usually holds."""
    kind = type(value)
    return kind is dict or (kind not in _PLAIN and isinstance(value, Mapping))


def ecs_time(value: object) -> object:
    """``2026-11-22T10:15:02.123456+00:00`` -> ``2026-11-22T10:15:02.123456Z`` (the form ECS examples use)."""
    if isinstance(value, str) and value.endswith("+00:00"):
        return value[:-6] + "Z"
    return value


def to_ecs(event: Event) -> dict[str, Any]:
    """The ECS document for one kafkalog event (see docs/schemas.md for every field)."""
    # log.level and ecs.version are built nested, so a field can clash with them like with any other, and are
    # lifted out as dotted keys at the end
    log: dict[str, Any] = {"level": event.get("type")}
    doc: dict[str, Any] = {"@timestamp": ecs_time(event.get("time")), "message": event.get("msg"), "log": log,
                           "ecs": {"version": ECS_VERSION}}
    if event.get("logger") is not None:
        log["logger"] = event["logger"]
    origin: dict[str, Any] = {}
    source_file: dict[str, Any] = {}
    path = event.get("file")
    if isinstance(path, str):
        source_file["name"] = _basename(path)
    if event.get("line") is not None:
        source_file["line"] = event["line"]
    if source_file:
        origin["file"] = source_file
    if event.get("funcName") is not None:
        origin["function"] = event["funcName"]
    if origin:
        log["origin"] = origin
    process: dict[str, Any] = {}
    if event.get("pid") is not None:
        process["pid"] = event["pid"]
    if event.get("thread") is not None:
        process["thread"] = {"name": event["thread"]}
    if process:
        doc["process"] = process
    if event.get("host") is not None:
        doc["host"] = {"hostname": event["host"]}
    if event.get("action") is not None:
        doc["event"] = {"action": event["action"]}
    if event.get("id") is not None:
        doc.setdefault("event", {})["id"] = event["id"]

    fields = event.get("fields")
    extras: Mapping[Any, Any] = fields if is_mapping(fields) else {}
    error = _error(event.get("exception"))
    if "stack_info" in extras and isinstance(extras["stack_info"], str) and "stack_trace" not in error:
        error["stack_trace"] = extras["stack_info"]  # as ecs-logging does with stack_info=True
        extras = {k: v for k, v in extras.items() if k != "stack_info"}
    if error:
        doc["error"] = error
    trace_id, span_id = event.get("trace_id"), event.get("span_id")
    if trace_id is not None:
        doc["trace"] = {"id": trace_id}
    if span_id is not None:
        doc["span"] = {"id": span_id}
    if event.get("truncated"):
        doc[CONFLICTS_KEY] = {"truncated": True}

    conflicts: dict[str, Any] = {}
    service = event.get("service")
    if isinstance(service, str):
        _place(doc, "service.name", service, conflicts, 0)
    elif service is not None:
        _place(doc, "service", service, conflicts, 0)
    # static fields (top-level keys the contract does not name) first, then the record's own fields: as
    # ecs-logging merges its formatter-wide ``extra=`` and then the record's extras
    for key, value in event.items():
        if key not in _HANDLED:
            _place(doc, key, value, conflicts, 0)
    if fields is not None and not is_mapping(fields):
        conflicts["fields"] = fields
    for key, value in extras.items():
        _place(doc, key if isinstance(key, str) else _key_str(key), value, conflicts, 0)
    if conflicts:
        own = doc.get(CONFLICTS_KEY)
        if not isinstance(own, dict):
            own = doc[CONFLICTS_KEY] = {}
        own["fields"] = conflicts
    return _ecs_logging_order(doc)


def _ecs_logging_order(doc: dict[str, Any]) -> dict[str, Any]:
    """``@timestamp``, ``log.level``, ``message``, ``ecs.version`` first, the two dotted, as ecs-logging writes."""
    log, ecs = doc.pop("log"), doc.pop("ecs")
    ordered = {"@timestamp": doc.pop("@timestamp"), "log.level": log.pop("level"), "message": doc.pop("message"),
               "ecs.version": ecs.pop("version")}
    if log:
        ordered["log"] = log
    if ecs:  # only when a field added to it
        ordered["ecs"] = ecs
    ordered.update(doc)
    return ordered


def _error(exception: object) -> dict[str, Any]:
    if not is_mapping(exception):
        return {}
    error: dict[str, Any] = {}
    for ours, ecs in (("type", "type"), ("message", "message"), ("stack", "stack_trace")):
        value = exception.get(ours)
        if value:  # a record with only exc_text has an empty type and message: leave them out
            error[ecs] = value
    return error


def _place(doc: dict[str, Any], key: str, value: Any, conflicts: dict[str, Any], depth: int) -> None:
    """Put ``value`` at the dotted path ``key`` of ``doc``, expanding dotted names and merging nested mappings.

    A value that would overwrite one already there (an ECS field, or an earlier extra) goes to ``conflicts``
    under its own name instead: ecs-logging raises ``TypeError`` there, and a log call must not fail.
    Mappings are copied, never mutated: they belong to the application.
    """
    if "." not in key and not is_mapping(value):  # the common case: a plain value under a plain name
        if key in doc:
            conflicts[key] = value
        else:
            doc[key] = value
        return
    parts = key.split(".")
    node = doc
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            conflicts[key] = value
            return
        node = child
    last = parts[-1]
    if is_mapping(value):
        if depth >= _MAX_MERGE_DEPTH:  # deeper than any sane extra (or a cycle): one cleaned copy, not merged
            value = sanitize(value)
        else:
            existing = node.get(last)
            if existing is None:
                existing = node[last] = {}
            elif not isinstance(existing, dict):
                conflicts[key] = value
                return
            for sub_key, sub_value in value.items():
                sub = sub_key if isinstance(sub_key, str) else _key_str(sub_key)
                _place(existing, sub, sub_value, _Prefixed(conflicts, key), depth + 1)
            return
    if last in node:
        conflicts[key] = value
        return
    node[last] = value


class _Prefixed(dict[str, Any]):
    """A view of the conflicts dict that records nested keys under their full dotted name."""

    __slots__ = ("prefix", "target")

    def __init__(self, target: dict[str, Any], prefix: str) -> None:
        super().__init__()
        self.target = target
        self.prefix = prefix

    def __setitem__(self, key: str, value: Any) -> None:
        self.target[f"{self.prefix}.{key}"] = value
