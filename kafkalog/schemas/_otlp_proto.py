"""Event dict -> the protobuf bytes of one OTLP ``ExportLogsServiceRequest``, written straight from the event.

The Collector's ``kafkareceiver`` reads ``encoding: otlp_proto`` by default. The message is the one
:func:`~.otlp.to_otlp` describes in OTLP/JSON, field for field (the same attributes in the same order, the same
values): only the encoding differs. Writing it from the event, without building the JSON-shaped dicts first,
halves the cost; a small writer for the few messages of this request does it without ``opentelemetry-proto`` and
``protobuf`` at run time (field numbers from ``opentelemetry/proto/logs/v1/logs.proto`` and
``common/v1/common.proto``). Pure and never raises.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Collection, Mapping
from typing import Any

from .._encode import _key_str, to_jsonable
from ..typing import Event
from .otlp import _HANDLED, CONFLICT_PREFIX, UNKNOWN_SERVICE, _is_hex_id, severity_number, to_otlp, unix_nanos

_pack_double = struct.Struct("<d").pack
_pack_fixed64 = struct.Struct("<Q").pack
_pack_fixed32 = struct.Struct("<I").pack
_INT64 = (-(2**63), 2**63 - 1)
_MAX_DEPTH = 32
_SMALL = [bytes((i,)) for i in range(0x80)]
_TWO = [bytes((i & 0x7F | 0x80, i >> 7)) for i in range(0x80, 0x4000)]
_V = _SMALL + _TWO  # the varint of each number below 0x4000: lengths inside a record nearly always are
_KEYS_MAX = 4096
_keys: dict[str, bytes] = {}
_resource_cache: tuple[dict[str, Any], bytes] = ({}, b"")
_SAME_EACH_TIME = frozenset({"code.filepath", "code.lineno", "code.function", "thread.name", "process.pid", "action"})
"""Attributes whose values repeat from record to record (a call site, a thread, a process): written once each."""
_WRITTEN_MAX = 1024
_written: dict[tuple[str, object], bytes] = {}


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


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "backslashreplace")  # a lone surrogate must not cost the record


def any_value(value: Any, _depth: int = 0, _seen: frozenset[int] = frozenset()) -> bytes:
    """The ``AnyValue`` message of a Python value (without its own tag and length), as
    :func:`~.otlp.any_value` maps it; the empty value gives no bytes."""
    kind = type(value)  # exact types first, as in the JSON mapping
    if kind is str:
        raw = _utf8(value)
        return b"\x0a" + _varint(len(raw)) + raw
    if kind is int:
        return b"\x18" + _varint(value) if _INT64[0] <= value <= _INT64[1] else any_value(str(value))
    if kind is float:
        return b"\x21" + _pack_double(value) if math.isfinite(value) else b""
    if value is None:
        return b""
    if isinstance(value, str):
        return any_value(str(value))
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, int):
        number = int(value)
        return b"\x18" + _varint(number) if _INT64[0] <= number <= _INT64[1] else any_value(str(number))
    if isinstance(value, float):
        double = float(value)
        return b"\x21" + _pack_double(double) if math.isfinite(double) else b""
    if _depth >= _MAX_DEPTH:
        return any_value("<max depth>")
    if id(value) in _seen:
        return any_value("<cycle>")
    if kind is dict or isinstance(value, Mapping):
        seen = _seen | {id(value)}
        items = b"".join(_field(1, _key_value(k if isinstance(k, str) else _key_str(k),
                                              any_value(v, _depth + 1, seen)))
                         for k, v in value.items())
        return b"\x32" + _varint(len(items)) + items  # kvlist_value: KeyValueList.values
    if kind is list or isinstance(value, (list, tuple)):
        seen = _seen | {id(value)}
        items = b"".join(_field(1, any_value(v, _depth + 1, seen)) for v in value)
        return b"\x2a" + _varint(len(items)) + items  # array_value: ArrayValue.values
    return any_value(to_jsonable(value), _depth + 1, _seen)


def _field(field: int, payload: bytes) -> bytes:
    """A length-delimited field 1..15 (wire type 2)."""
    return _SMALL[field << 3 | 2] + _varint(len(payload)) + payload


def _key_value(key: str, value: bytes) -> bytes:
    """A ``KeyValue`` message: the key, and the value (always present, empty for the empty value)."""
    raw = _utf8(key)
    return b"\x0a" + _varint(len(raw)) + raw + b"\x12" + _varint(len(value)) + value


def _key_field(key: str) -> bytes:
    """``KeyValue.key`` as written (tag, length, UTF-8), cached: records repeat the same few keys."""
    written = _keys.get(key)
    if written is None:
        raw = _utf8(key)
        written = b"\x0a" + _varint(len(raw)) + raw
        if len(_keys) < _KEYS_MAX:
            _keys[key] = written
    return written


def _attribute(key: str, value: Any) -> bytes:
    """A ``KeyValue`` as field 6 of ``LogRecord``; a string value is written inline (most attributes)."""
    written_key = _keys.get(key) or _key_field(key)
    if type(value) is str:
        raw = value.encode("utf-8", "backslashreplace")
        size = len(raw)
        head = _V[size] if size < 0x4000 else _varint(size)
        inner = 1 + len(head) + size
        inner_head = _V[inner] if inner < 0x4000 else _varint(inner)
        total = len(written_key) + 1 + len(inner_head) + inner
        return b"".join((b"\x32", _V[total] if total < 0x4000 else _varint(total), written_key, b"\x12", inner_head,
                         b"\x0a", head, raw))
    value_bytes = any_value(value)
    size = len(value_bytes)
    head = _V[size] if size < 0x4000 else _varint(size)
    total = len(written_key) + 1 + len(head) + size
    return b"".join((b"\x32", _V[total] if total < 0x4000 else _varint(total), written_key, b"\x12", head,
                     value_bytes))


def to_protobuf(event: Event, static_keys: Collection[str] = ()) -> bytes:
    """The protobuf ``ExportLogsServiceRequest`` for one event: what :func:`~.otlp.to_otlp` gives, in protobuf."""
    service = event.get("service")
    resource = {"service.name": service if service is not None else UNKNOWN_SERVICE}
    host = event.get("host")
    if host is not None:
        resource["host.name"] = host
    get = event.get
    own = {"code.filepath": get("file"), "code.lineno": get("line"), "code.function": get("funcName"),
           "thread.name": get("thread"), "process.pid": get("pid"), "action": get("action"),
           "log.record.uid": get("id")}
    exception = get("exception")
    if exception is not None and isinstance(exception, Mapping):
        own["exception.type"] = exception.get("type") or None
        own["exception.message"] = exception.get("message") or None
        own["exception.stacktrace"] = exception.get("stack") or None
    if get("truncated"):
        own["kafkalog.truncated"] = True
    ids = b""
    trace_id, span_id = get("trace_id"), get("span_id")
    if isinstance(trace_id, str) and _is_hex_id(trace_id, 32):
        ids = b"\x4a\x10" + bytes.fromhex(trace_id)
    elif trace_id is not None:
        own["trace_id"] = trace_id
    if isinstance(span_id, str) and _is_hex_id(span_id, 16):
        ids += b"\x52\x08" + bytes.fromhex(span_id)
    elif span_id is not None:
        own["span_id"] = span_id
    flags = get("trace_flags")
    if type(flags) is int and 0 <= flags <= 0xFF:
        if flags:
            ids = b"\x45" + _pack_fixed32(flags) + ids  # field 8 comes before trace_id (9) and span_id (10)
    elif flags is not None:
        own["trace_flags"] = flags
    for key, value in event.items():
        if key not in _HANDLED:
            if key in static_keys:
                resource[key] = value
            else:
                own.setdefault(key, value)
    out = []
    for key, value in own.items():
        if value is None:
            continue
        if key in _SAME_EACH_TIME and (type(value) is int or (type(value) is str and len(value) <= 512)):
            written = _written.get((key, value))
            if written is None:
                written = _attribute(key, value)
                if len(_written) >= _WRITTEN_MAX:
                    _written.clear()
                _written[key, value] = written
            out.append(written)
        else:
            out.append(_attribute(key, value))
    fields = get("fields")
    if type(fields) is dict or isinstance(fields, Mapping):
        for key, value in fields.items():
            name = key if type(key) is str else _key_str(key)
            out.append(_attribute(CONFLICT_PREFIX + name if name in own else name, value))
    elif fields is not None:
        out.append(_attribute(CONFLICT_PREFIX.rstrip("."), fields))
    attributes = b"".join(out)

    head = []
    nanos = unix_nanos(get("time"))
    stamp = b"" if nanos is None else _pack_fixed64(nanos & 0xFFFF_FFFF_FFFF_FFFF)
    if stamp:
        head.append(b"\x09" + stamp)
    level = get("type")
    if isinstance(level, str):
        number = severity_number(level)
        if number:
            head.append(b"\x10" + _varint(number))
        head.append(_field(3, _utf8(level.upper())))
    body = any_value(get("msg"))
    head.append(b"\x2a" + _varint(len(body)) + body)  # present even when empty, as in JSON
    record = b"".join(head) + attributes + ids + (b"\x59" + stamp if stamp else b"")
    logger = get("logger")
    scope = _field(1, _field(1, _utf8(logger))) if isinstance(logger, str) else b"\x0a\x00"  # present, as in JSON
    scope_logs = _field(2, scope + _field(2, record))
    return _field(1, _resource(resource) + scope_logs)


def _resource(values: dict[str, Any]) -> bytes:
    """The ``resource`` field for these attribute values: the bytes written last time when they are the same
    (they come from the handler's constants, so they nearly always are)."""
    global _resource_cache
    cached_values, cached = _resource_cache
    if values == cached_values:
        return cached
    built = _field(1, b"".join(_field(1, _key_value(key, any_value(value))) for key, value in values.items()))
    _resource_cache = (values, built)
    return built


class ProtoMapper:
    """The ``otlp_proto`` schema's mapper: called, the OTLP/JSON request (what the message says); its
    :meth:`encode` writes the protobuf bytes straight from the event (read by :func:`~kafkalog.schemas.serialized`
    and :func:`~kafkalog.schemas.encode_mapped` in place of mapping then encoding JSON)."""

    __slots__ = ("static_keys",)

    def __init__(self, static_keys: Collection[str]) -> None:
        self.static_keys = frozenset(static_keys)

    def __call__(self, event: Event) -> dict[str, Any]:
        return to_otlp(event, self.static_keys)

    def encode(self, event: Event) -> bytes:
        return to_protobuf(event, self.static_keys)
