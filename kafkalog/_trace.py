"""The active OpenTelemetry span's ids, for ``trace_id``/``span_id`` on each record.

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
_last: tuple[Any, tuple[str, str] | None] = (None, None)
"""The last span context seen and its ids as text (one tuple, so threads swap it whole)."""


def current_ids() -> tuple[str, str] | None:
    """``(trace_id, span_id)`` as 32 and 16 lowercase hex digits inside a valid span, else ``None``."""
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
        ids = (f"{context.trace_id:032x}", f"{context.span_id:016x}") if context.is_valid else None
        _last = (context, ids)
        return ids
    except Exception:  # a broken tracer must not cost the record
        return None
