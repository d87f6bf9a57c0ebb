"""OTLP/JSON ``ExportLogsServiceRequest`` (as :func:`~.otlp.to_otlp` builds it) -> its protobuf bytes.

The Collector's ``kafkareceiver`` reads ``encoding: otlp_proto`` by default. A small writer for the few messages of
this request does it without ``opentelemetry-proto`` and ``protobuf`` at run time (field numbers from
``opentelemetry/proto/logs/v1/logs.proto`` and ``common/v1/common.proto``). Never raises for what ``to_otlp`` gives.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Collection
from typing import Any

from ..typing import Event
from .otlp import to_otlp

_pack_double = struct.Struct("<d").pack
_pack_fixed64 = struct.Struct("<Q").pack
_pack_fixed32 = struct.Struct("<I").pack
_TAGS = [bytes((field << 3 | 2,)) for field in range(16)]  # length-delimited fields 0..15: one byte


_SMALL = [bytes((i,)) for i in range(0x80)]
_TWO = [bytes((i & 0x7F | 0x80, i >> 7)) for i in range(0x80, 0x4000)]


def _varint(value: int) -> bytes:
    if 0 <= value < 0x80:
        return _SMALL[value]
    if 0x80 <= value < 0x4000:
        return _TWO[value - 0x80]
    if value < 0:
        value += 1 << 64  # int64 as protobuf writes it: ten bytes
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _len(field: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return _TAGS[field] + _varint(len(payload)) + payload


def _text(field: int, text: str) -> bytes:
    return _len(field, text.encode("utf-8", "backslashreplace"))


def any_value(value: dict[str, Any]) -> bytes:
    """An OTLP/JSON ``AnyValue`` (``{"stringValue": ...}``...) as protobuf; ``{}`` (the empty value) as no bytes."""
    if "stringValue" in value:
        return _text(1, value["stringValue"])
    if "intValue" in value:
        return b"\x18" + _varint(int(value["intValue"]))
    if "doubleValue" in value:
        return b"\x21" + _pack_double(value["doubleValue"])
    if "boolValue" in value:
        return b"\x10\x01" if value["boolValue"] else b"\x10\x00"
    if "arrayValue" in value:
        return _len(5, b"".join(_len(1, any_value(v)) for v in value["arrayValue"]["values"]))
    if "kvlistValue" in value:
        return _len(6, b"".join(_len(1, _key_value(kv)) for kv in value["kvlistValue"]["values"]))
    return b""


def _key_value(kv: dict[str, Any]) -> bytes:
    value = kv["value"]
    text = value.get("stringValue")
    if type(text) is str:  # most attributes: a string, inline
        raw = text.encode("utf-8", "backslashreplace")
        inner = b"\x0a" + _varint(len(raw)) + raw
        return _text(1, kv["key"]) + b"\x12" + _varint(len(inner)) + inner
    return _text(1, kv["key"]) + _len(2, any_value(value))


def _attributes(field: int, attributes: list[dict[str, Any]]) -> bytes:
    return b"".join(_len(field, _key_value(kv)) for kv in attributes)


def _log_record(record: dict[str, Any]) -> bytes:
    out = []
    if "timeUnixNano" in record:
        out.append(b"\x09" + _pack_fixed64(int(record["timeUnixNano"])))
    if record.get("severityNumber"):
        out.append(b"\x10" + _varint(record["severityNumber"]))
    if "severityText" in record:
        out.append(_text(3, record["severityText"]))
    if record.get("body"):
        out.append(_len(5, any_value(record["body"])))
    out.append(_attributes(6, record.get("attributes", [])))
    if record.get("flags"):
        out.append(b"\x45" + _pack_fixed32(record["flags"]))
    if "traceId" in record:
        out.append(_len(9, bytes.fromhex(record["traceId"])))
    if "spanId" in record:
        out.append(_len(10, bytes.fromhex(record["spanId"])))
    if "observedTimeUnixNano" in record:
        out.append(b"\x59" + _pack_fixed64(int(record["observedTimeUnixNano"])))
    return b"".join(out)


def to_protobuf(request: dict[str, Any]) -> bytes:
    """The protobuf bytes of an OTLP/JSON ``ExportLogsServiceRequest``."""
    out = []
    for resource_logs in request["resourceLogs"]:
        scopes = []
        for scope_logs in resource_logs["scopeLogs"]:
            scope = scope_logs.get("scope") or {}
            records = b"".join(_len(2, _log_record(r)) for r in scope_logs["logRecords"])
            scopes.append(_len(2, (_len(1, _text(1, scope["name"])) if "name" in scope else b"") + records))
        resource = _len(1, _attributes(1, resource_logs["resource"]["attributes"]))
        out.append(_len(1, resource + b"".join(scopes)))
    return b"".join(out)


class ProtoMapper:
    """The ``otlp_proto`` schema's mapper: the OTLP mapping, with :attr:`serialize` turning it into protobuf
    (read by :func:`~kafkalog.schemas.encode_mapped` in place of JSON)."""

    __slots__ = ("static_keys",)

    serialize: Callable[[dict[str, Any]], bytes] = staticmethod(to_protobuf)

    def __init__(self, static_keys: Collection[str]) -> None:
        self.static_keys = frozenset(static_keys)

    def __call__(self, event: Event) -> dict[str, Any]:
        return to_otlp(event, self.static_keys)
