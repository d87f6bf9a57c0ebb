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
    try:
        context = get_span().get_span_context()
        if not context.is_valid:
            return None
        return f"{context.trace_id:032x}", f"{context.span_id:016x}"
    except Exception:  # a broken tracer must not cost the record
        return None
