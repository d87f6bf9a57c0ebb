"""The active OpenTelemetry span's ids and trace flags, for ``trace_id``/``span_id``/``trace_flags`` on each record.

OpenTelemetry is never imported here: an application that traces has imported ``opentelemetry.trace`` itself, so
the module is looked up in ``sys.modules`` (one dict lookup per record when it is absent). Runs on the caller's
thread, where the span is current, and never raises.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

_MODULE = "opentelemetry.trace"
_get_current_span: Callable[[], Any] | None = None
_last: tuple[Any, tuple[str, str, int] | None] = (None, None)
"""The last span context seen and its ids as text (one tuple, so threads swap it whole)."""


def current_ids() -> tuple[str, str, int] | None:
    """``(trace_id, span_id, trace_flags)`` inside a valid span, else ``None``: the ids as 32 and 16 lowercase hex
    digits, the W3C trace flags as an int (bit 0, ``1``: sampled), which OTLP carries as the record's ``flags``."""
    global _get_current_span
    get_span = _get_current_span
    if get_span is None:
        module = sys.modules.get(_MODULE)
        if module is None:
            return None
        get_span = getattr(module, "get_current_span", None)
        if get_span is None:  # still being imported by another thread
            return None
        _get_current_span = get_span
    global _last
    try:
        context = get_span().get_span_context()
        last_context, last_ids = _last
        if context is last_context:  # records of one span share its context object: format its ids once
            return last_ids
        ids = (f"{context.trace_id:032x}", f"{context.span_id:016x}", int(context.trace_flags) & 0xFF) \
            if context.is_valid else None
        _last = (context, ids)
        return ids
    except Exception:  # a broken tracer must not cost the record
        return None
