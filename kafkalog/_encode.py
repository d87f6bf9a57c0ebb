"""Event dict -> JSON bytes. Never raises: odd values become stable strings, oversize records are cut down.

orjson is used when installed (``kafkalog[fast]``), the stdlib ``json`` otherwise; both give the same output for
the values a log record carries.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import json
import math
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import PurePath
from typing import Any
from uuid import UUID

from .typing import Event

TRUNCATION_MARKER = "...[truncated {n} bytes]"
_MAX_DEPTH = 64
_MAX_REPR = 64 * 1024
_INT64 = (-(2**63), 2**64 - 1)


def to_jsonable(obj: Any) -> Any:
    """The stable form of a value JSON has no type for (called only for such values)."""
    if isinstance(obj, (_dt.datetime, _dt.date, _dt.time)):
        return obj.isoformat()
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return bytes(obj).decode("utf-8", "backslashreplace")
    if isinstance(obj, (Decimal, UUID, PurePath)):
        return str(obj)
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, Mapping):
        return {str(k): v for k, v in obj.items()}
    if isinstance(obj, (set, frozenset)):
        return _safe_repr(obj)
    if isinstance(obj, BaseException):
        return f"{type(obj).__name__}: {_safe_str(obj)}"
    return _safe_repr(obj)


def _safe_repr(obj: Any) -> str:
    try:
        text = repr(obj)
    except Exception as exc:  # a broken __repr__ must not lose the record
        return f"<unrepresentable {type(obj).__qualname__}: {type(exc).__name__}>"
    return text if len(text) <= _MAX_REPR else text[:_MAX_REPR] + f"...[truncated {len(text) - _MAX_REPR} characters]"


def _safe_str(obj: Any) -> str:
    try:
        return str(obj)
    except Exception:
        return _safe_repr(obj)


def _clean_str(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates (e.g. undecodable file names) stay visible as \udcXX
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def sanitize(obj: Any, _depth: int = 0, _seen: frozenset[int] = frozenset()) -> Any:
    """A deep copy of ``obj`` that any JSON encoder accepts: cycles, depth, surrogates, NaN and big ints handled."""
    if obj is None or isinstance(obj, bool):
        return obj
    if isinstance(obj, str):
        return _clean_str(str(obj))
    if isinstance(obj, int):
        return int(obj) if _INT64[0] <= obj <= _INT64[1] else str(obj)
    if isinstance(obj, float):
        return float(obj) if math.isfinite(obj) else None
    if _depth >= _MAX_DEPTH:
        return "<max depth>"
    if id(obj) in _seen:
        return "<cycle>"
    seen = _seen | {id(obj)}
    if isinstance(obj, dict):
        return {_clean_str(k if isinstance(k, str) else _key_str(k)): sanitize(v, _depth + 1, seen)
                for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [sanitize(v, _depth + 1, seen) for v in obj]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _clean_str(_safe_repr(obj))
    return sanitize(to_jsonable(obj), _depth + 1, seen)


def _key_str(key: Any) -> str:
    if isinstance(key, float) and not math.isfinite(key):
        return "null"  # as orjson writes it
    jsonable = to_jsonable(key) if not isinstance(key, (int, float, bool)) and key is not None else key
    return jsonable if isinstance(jsonable, str) else json.dumps(jsonable)


def _build_dumps() -> Callable[[Any], bytes]:
    try:
        import orjson
    except ImportError:
        orjson = None  # type: ignore[assignment]
    if orjson is not None:
        options = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
        dumps_fast = orjson.dumps

        def dumps_orjson(obj: Any) -> bytes:
            result: bytes = dumps_fast(obj, default=_orjson_default, option=options)
            # orjson's bytes keep ~1 KiB of spare capacity; a queued record lives long: keep an exact copy
            return bytes(memoryview(result))

        return dumps_orjson
    encoder = json.JSONEncoder(default=_json_default, ensure_ascii=False, allow_nan=False,
                               separators=(",", ":"), check_circular=True)

    def dumps_json(obj: Any) -> bytes:
        return encoder.encode(obj).encode("utf-8")

    return dumps_json


def _orjson_default(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _safe_repr(obj)
    return to_jsonable(obj)


def _json_default(obj: Any) -> Any:
    return _orjson_default(obj)


_dumps = _build_dumps()
BACKEND = "orjson" if _dumps.__name__ == "dumps_orjson" else "json"


def _build_dumps_text() -> Callable[[str], bytes]:
    try:
        import orjson
    except ImportError:
        orjson = None  # type: ignore[assignment]
    if orjson is not None:
        return orjson.dumps
    encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
    return lambda text: encoder.encode(text).encode("utf-8")


dumps_text = _build_dumps_text()
"""The JSON of a str, as :func:`dumps` writes it inside an object; raises on a lone surrogate (dumps would not)."""


def dumps(obj: Any) -> bytes:
    """JSON bytes for ``obj``; never raises."""
    try:
        return _dumps(obj)
    except Exception:
        return _dumps(sanitize(obj))


class Encoded:
    """Outcome of :func:`encode_event`: the bytes (or ``None`` when the record cannot fit) and whether it was cut."""

    __slots__ = ("data", "truncated")

    def __init__(self, data: bytes | None, truncated: bool) -> None:
        self.data = data
        self.truncated = truncated


def encode_event(event: Event, limit: int) -> Encoded:
    """Encode ``event`` within ``limit`` bytes, cutting the longest of ``msg`` and the exception's stack and message
    first, then replacing ``fields`` if they are what is too big.

    A cut record gets ``"truncated": true`` so consumers can tell; a record that still cannot fit gives
    ``data=None`` and is counted as dropped by the caller.
    """
    data = dumps(event)
    if len(data) <= limit:
        return Encoded(data, False)
    cut = dict(event)
    cut["truncated"] = True
    if isinstance(cut.get("exception"), dict):
        cut["exception"] = dict(cut["exception"])
    # texts no longer than the marker are left alone: cutting them would not make the record smaller
    texts = [(parent, key, _clean_str(value).encode("utf-8")) for parent, key, value in _cuttable(cut)
             if len(value) > _MARKER_ROOM]
    for parent, key, _ in texts:
        parent[key] = ""
    rest = len(dumps(cut))
    if rest > limit - len(texts) * _MARKER_ROOM and cut.get("fields"):
        # the fields alone leave no room: they go first, so msg and the stack keep what fits
        _drop_fields(cut, limit)
        rest = len(dumps(cut))
    room = limit - rest - len(texts) * _MARKER_ROOM
    for _ in range(4):  # escaping can make the JSON longer than the raw text: shrink the room and try again
        for (parent, key, raw), share in zip(texts, _fair_shares([len(raw) for _, _, raw in texts], room),
                                             strict=True):
            parent[key] = _shortened(raw, share)
        data = dumps(cut)
        if len(data) <= limit:
            return Encoded(data, True)
        room -= len(data) - limit + 16
    if len(data) > limit and cut.get("fields") and "_truncated" not in cut["fields"]:
        _drop_fields(cut, limit)
        data = dumps(cut)
    return Encoded(data if len(data) <= limit else None, True)


def _drop_fields(event: Event, limit: int) -> None:
    fields_size = len(dumps(event["fields"]))
    event["fields"] = {"_truncated": f"{fields_size} bytes of fields dropped: record over {limit} bytes"}


_MARKER_ROOM = len(TRUNCATION_MARKER) + 12


def _fair_shares(sizes: list[int], room: int) -> list[int]:
    """Split ``room`` bytes among texts of ``sizes``: short texts keep all they have, long ones share the rest."""
    shares = [0] * len(sizes)
    left = max(0, room)
    pending = sorted(range(len(sizes)), key=lambda i: sizes[i])
    while pending:
        fair = left // len(pending)
        index = pending.pop(0)
        shares[index] = min(sizes[index], fair)
        left -= shares[index]
    return shares


def _cuttable(event: Event) -> list[tuple[dict[str, Any], str, str]]:
    found = []
    if isinstance(event.get("msg"), str):
        found.append((event, "msg", event["msg"]))
    exception = event.get("exception")
    if isinstance(exception, dict):
        for key in ("stack", "message"):
            if isinstance(exception.get(key), str):
                found.append((exception, key, exception[key]))
    return found


def _shortened(raw: bytes, keep: int) -> str:
    """The first ``keep`` bytes of ``raw`` (whole characters only), with the truncation marker if anything went."""
    if keep >= len(raw):
        return raw.decode("utf-8")
    head = raw[:max(0, keep)].decode("utf-8", "ignore")
    return head + TRUNCATION_MARKER.format(n=len(raw) - len(head.encode("utf-8")))
