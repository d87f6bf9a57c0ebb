"""stdlib ``LogRecord`` / loguru record -> event dict (the public record contract). Pure functions.

Runs on the application's thread, so it does the least that keeps the record immutable: it formats the message
and the traceback (they refer to live objects) and leaves JSON encoding of odd values to :mod:`._encode`.
"""

from __future__ import annotations

import logging
import sys
import time
import traceback
import warnings
from collections.abc import Mapping
from itertools import islice
from types import FrameType, TracebackType
from typing import Any

from .typing import Event

RESERVED_KEYS = frozenset(
    {"type", "action", "time", "msg", "fields", "funcName", "logger", "host", "pid", "thread", "file", "line",
     "exception", "truncated"}
)
"""Top-level keys of the record contract; ``static_fields`` may not use them."""

_INIT_ATTRS = list(vars(logging.LogRecord("", 0, "", 0, "", (), None)))
_N_INIT_ATTRS = len(_INIT_ATTRS)
_FIRST_INIT_ATTR = _INIT_ATTRS[0]
_LOGRECORD_ATTRS = frozenset(_INIT_ATTRS) | {"message", "asctime", "taskName", "color_message"}
"""Not extras: LogRecord's own attributes, and uvicorn's ``color_message`` (the message again, with ANSI escapes)."""
_WARNINGS_LOGGER = "py.warnings"
_LOWER = {name: name.lower() for name in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")}

_time_cache: tuple[int, str] = (-1, "")


def iso_utc(timestamp: float) -> str:
    """ISO 8601 in UTC with microseconds, e.g. ``2026-11-22T10:15:02.123456+00:00``.

    The date part is cached per second: formatting it with ``datetime`` costs more than the rest of the record.
    """
    global _time_cache
    second = int(timestamp)
    cached_second, prefix = _time_cache
    if second != cached_second:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _time_cache = (second, prefix)
    micros = int((timestamp - second) * 1_000_000)
    return f"{prefix}.{min(micros, 999_999):06d}+00:00"


def exception_info(exc_type: type[BaseException] | None, exc: BaseException | None,
                   tb: TracebackType | None) -> dict[str, str] | None:
    """``{"type", "message", "stack"}`` for an exception, or ``None`` when there is none."""
    if exc_type is None:
        return None
    module = exc_type.__module__
    name = exc_type.__qualname__ if module in ("builtins", "__main__") else f"{module}.{exc_type.__qualname__}"
    try:
        message = str(exc) if exc is not None else ""
    except Exception:
        message = f"<unprintable {exc_type.__qualname__}>"
    try:
        stack = "".join(traceback.format_exception(exc_type, exc, tb))
    except Exception:  # a broken __str__ deep in a chain must not lose the record
        stack = "".join(traceback.format_tb(tb)) if tb is not None else ""
    return {"type": name, "message": message, "stack": stack}


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception as exc:  # e.g. "%d" with a str argument: keep the template and args, say what broke
        try:
            args = repr(record.args)
        except Exception:
            args = "<unrepresentable args>"
        return f"{_safe_text(record.msg)} [message formatting failed: {type(exc).__name__}: {exc}; args={args}]"


def _safe_text(obj: object) -> str:
    try:
        return str(obj)
    except Exception:
        try:
            return repr(obj)
        except Exception:
            return f"<unprintable {type(obj).__qualname__}>"


def _from_warning(event: Event, fields: dict[str, Any]) -> None:
    """A ``logging.captureWarnings`` record names ``warnings.py`` as its origin: use the warning's own file, line
    and category. The warning being shown is a local of the ``warnings`` frames below us (this runs on the thread
    that called ``warnings.warn``); a record built elsewhere is left as it is."""
    frame: FrameType | None = sys._getframe(1)
    for _ in range(_WARNING_FRAME_DEPTH):
        if frame is None:
            return
        in_warnings = frame.f_code.co_filename.endswith(_WARNINGS_FILES)
        shown = frame.f_locals.get("msg") if in_warnings else None
        if isinstance(shown, warnings.WarningMessage):
            event["file"] = shown.filename
            event["line"] = shown.lineno
            event["funcName"] = ""
            event["msg"] = _safe_text(shown.message)
            fields.setdefault("category", getattr(shown.category, "__name__", str(shown.category)))
            return
        frame = frame.f_back


_WARNING_FRAME_DEPTH = 24
_WARNINGS_FILES = ("warnings.py", "_py_warnings.py")  # the module moved in Python 3.14


class RecordBuilder:
    """Builds events with the per-handler constants (host, static fields, default action) bound once."""

    __slots__ = ("default_action", "host", "static_fields")

    def __init__(self, *, host: str, default_action: str, static_fields: Mapping[str, Any]) -> None:
        self.host = host
        self.default_action = default_action
        self.static_fields = dict(static_fields)

    def from_logging(self, record: logging.LogRecord) -> Event:
        """Event for a stdlib record: extras (``extra=``) go to ``fields``, ``action`` is lifted out of them."""
        attrs = record.__dict__
        # extras (extra=) are set after LogRecord.__init__, so they follow its attributes in __dict__: skip those
        # unread. A subclass or a record factory may set attributes *before* __init__ runs: they come first, and
        # then every key is looked at.
        keys = islice(attrs, _N_INIT_ATTRS, None) if next(iter(attrs), None) == _FIRST_INIT_ATTR else attrs
        fields = {k: attrs[k] for k in keys if k not in _LOGRECORD_ATTRS}
        action = fields.pop("action", self.default_action)
        levelname = record.levelname
        event: Event = {
            "type": _LOWER.get(levelname) or levelname.lower(),
            "action": action if isinstance(action, str) else str(action),
            "time": iso_utc(record.created),
            "msg": _message(record),
            "fields": fields,
            "funcName": record.funcName,
            "logger": record.name,
            "host": self.host,
            "pid": record.process,
            "thread": record.threadName,
            "file": record.pathname,
            "line": record.lineno,
        }
        exc_info = record.exc_info
        if exc_info and exc_info[0] is not None:
            event["exception"] = exception_info(*exc_info)
        elif record.exc_text:
            event["exception"] = {"type": "", "message": "", "stack": record.exc_text}
        if record.stack_info:
            fields.setdefault("stack_info", record.stack_info)
        if record.name == _WARNINGS_LOGGER:
            _from_warning(event, fields)
        if self.static_fields:
            event.update(self.static_fields)
        return event

    def from_loguru(self, record: Mapping[str, Any]) -> Event:
        """Event for a loguru record: ``bind()`` values and call kwargs (``record["extra"]``) go to ``fields``."""
        fields = dict(record["extra"])
        action = fields.pop("action", self.default_action)
        event: Event = {
            "type": record["level"].name.lower(),
            "action": action if isinstance(action, str) else str(action),
            "time": iso_utc(record["time"].timestamp()),
            "msg": record["message"],
            "fields": fields,
            "funcName": record["function"],
            "logger": record["name"],
            "host": self.host,
            "pid": record["process"].id,
            "thread": record["thread"].name,
            "file": record["file"].path,
            "line": record["line"],
        }
        exc = record["exception"]
        if exc is not None and exc.type is not None:
            event["exception"] = exception_info(exc.type, exc.value, exc.traceback)
        if self.static_fields:
            event.update(self.static_fields)
        return event
