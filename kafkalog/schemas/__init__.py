"""Output schemas: the ``schema=`` option. ``"kafkalog"`` ships the event dict as it is (the record contract);
``"ecs"`` and ``"otlp"`` map it, right before encoding, to what Elasticsearch or the OpenTelemetry Collector reads.

Mapping happens after routing (topic templates and ``key`` paths see the contract's keys whatever the schema) and
is skipped entirely for the default schema, so its records cost nothing extra.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Collection, Mapping
from typing import Any

from .._encode import Encoded, dumps, encode_event
from ..typing import Event
from ._otlp_proto import ProtoMapper
from .ecs import to_ecs
from .otlp import to_otlp

Mapper = Callable[[Event], dict[str, Any]]
"""An event dict -> the document of a schema (pure, never raises)."""

__all__ = ["Mapper", "encode_mapped", "mapper_for", "serialized", "to_ecs", "to_otlp"]


def mapper_for(schema: str, static_keys: Collection[str] = ()) -> Mapper | None:
    """The mapper for ``schema``, or ``None`` for the default (nothing to map). ``static_keys`` are the names of
    the ``static_fields`` option (OTLP makes them resource attributes)."""
    if schema == "ecs":
        return to_ecs
    if schema == "otlp":
        return functools.partial(to_otlp, static_keys=frozenset(static_keys))
    if schema == "otlp_proto":
        return ProtoMapper(static_keys)
    if schema == "kafkalog":
        return None
    raise ValueError(f"unknown schema {schema!r}")


def serialized(event: Event, mapper: Mapper) -> bytes:
    """``mapper(event)`` in its schema's encoding (JSON, or protobuf for ``otlp_proto``), not cut."""
    encode = getattr(mapper, "encode", None)  # otlp_proto: written straight from the event
    return dumps(mapper(event)) if encode is None else encode(event)


def _encoder(mapper: Mapper) -> Callable[[Event], bytes]:
    encode: Callable[[Event], bytes] | None = getattr(mapper, "encode", None)
    return encode if encode is not None else lambda event: dumps(mapper(event))


def encode_mapped(event: Event, mapper: Mapper, limit: int) -> Encoded:
    """Encode ``mapper(event)`` within ``limit`` bytes, cutting the *event* the way the default schema is cut.

    The event's texts (``msg``, the exception's stack and message) and then its ``fields`` are cut by
    :func:`~kafkalog._encode.encode_event` against a smaller budget (the limit less what mapping adds, lowered
    until the result fits), and the cut event is mapped again: the mapped record carries the same truncation
    markers and its own "truncated" flag. Mapping can make many small fields cost more than the event's own
    cut allows for (an OTLP attribute wraps each one): then the fields are replaced by the same ``_truncated``
    note as in the default schema, and the texts cut again. A record that still cannot fit gives ``data=None``
    (the caller counts it as dropped). Only oversize records come here, so decoding the cut event back from JSON
    costs nothing on the common path.
    """
    data = serialized(event, mapper)
    if len(data) <= limit:
        return Encoded(data, False)
    fitted = _cut_to_fit(event, mapper, limit)
    fields = event.get("fields")
    if fitted is None and isinstance(fields, Mapping) and fields:
        note = f"{len(dumps(fields))} bytes of fields dropped: record over {limit} bytes"
        fitted = _cut_to_fit({**event, "fields": {"_truncated": note}, "truncated": True}, mapper, limit)
    return Encoded(fitted, True)


def _cut_to_fit(event: Event, mapper: Mapper, limit: int) -> bytes | None:
    to_bytes = _encoder(mapper)  # otlp_proto: protobuf, not JSON
    data = to_bytes(event)
    if len(data) <= limit and event.get("truncated"):
        return data
    # what mapping adds besides the fields (whose cost grows with their number, and which the cut may drop):
    # the first budget; each try that still comes out too long lowers it by the excess
    bare = {**event, "fields": {}} if "fields" in event else event
    budget = limit - max(0, len(to_bytes(bare)) - len(dumps(bare)))
    for _ in range(6):
        if budget <= 0:
            return None
        cut = encode_event(event, budget)
        if cut.data is None:
            return None
        data = to_bytes(json.loads(cut.data))
        if len(data) <= limit:
            return data
        budget -= len(data) - limit + 16
    return None
