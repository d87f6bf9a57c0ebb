"""stdlib ``LogRecord`` / loguru record -> event dict (the public record contract). Pure functions.

Runs on the application's thread, so it does the least that keeps the record immutable: it formats the message
and the traceback (they refer to live objects) and leaves JSON encoding of odd values to :mod:`._encode`.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Mapping
from itertools import islice
from types import FrameType, TracebackType
from typing import Any

from ._ids import new_id
from ._trace import current_ids
from .context import get_bound
from .typing import Event

BASE_KEYS = ("type", "action", "time", "msg", "fields", "funcName", "logger", "host", "pid", "thread", "file", "line")
"""The keys every record starts with, in this order (docs/record-format.md). The builders below write them as dict
literals, the quickest way to build a record; tests/unit/test_record_contract.py holds each builder to this list."""

RESERVED_KEYS = frozenset({*BASE_KEYS, "exception", "truncated", "trace_id", "span_id", "trace_flags", "id"})
"""Top-level keys of the record contract; ``static_fields`` may not use them."""

ID_KEY = "id"
"""The record's id (:mod:`._ids`): made once per record, the same in every copy of it that is sent."""

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
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second))
        _time_cache = (second, prefix)
    micros = int((timestamp - second) * 1_000_000)
    return f"{prefix}{micros:06d}+00:00" if micros < 1_000_000 else f"{prefix}999999+00:00"


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

    __slots__ = ("default_action", "host", "static_fields", "trace_ids")

    def __init__(self, *, host: str, default_action: str, static_fields: Mapping[str, Any],
                 trace_ids: bool = True) -> None:
        self.host = host
        self.default_action = default_action
        self.static_fields = dict(static_fields)
        self.trace_ids = trace_ids

    def _finish(self, event: Event) -> None:
        """The keys every adapter adds last: the record's id, the active span's ids and flags, then the static
        fields."""
        event[ID_KEY] = new_id()
        if self.trace_ids:
            ids = current_ids()
            if ids is not None:
                event["trace_id"], event["span_id"], event["trace_flags"] = ids
        if self.static_fields:
            event.update(self.static_fields)

    def from_logging(self, record: logging.LogRecord) -> Event:
        """Event for a stdlib record: extras (``extra=``) go to ``fields``, ``action`` is lifted out of them."""
        attrs = record.__dict__
        # extras (extra=) are set after LogRecord.__init__, so they follow its attributes in __dict__: skip those
        # unread. A subclass or a record factory may set attributes *before* __init__ runs: they come first, and
        # then every key is looked at.
        keys = islice(attrs, _N_INIT_ATTRS, None) if next(iter(attrs), None) == _FIRST_INIT_ATTR else attrs
        fields = {k: attrs[k] for k in keys if k not in _LOGRECORD_ATTRS}
        context = get_bound()
        if context:  # values bound with kafkalog.bind(): under the call's own extras
            fields = {**context, **fields}
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
        self._finish(event)
        return event

    def from_loguru(self, record: Mapping[str, Any]) -> Event:
        """Event for a loguru record: ``bind()`` values and call kwargs (``record["extra"]``) go to ``fields``."""
        context = get_bound()
        fields = {**context, **record["extra"]} if context else dict(record["extra"])
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
        self._finish(event)
        return event

    def from_structlog(self, method_name: str, event_dict: Mapping[str, Any], created: float,
                       logger_name: str | None = None) -> Event:
        """Event for a structlog event dict: ``event`` is the message, every other key a field (bound values,
        keyword arguments, ``structlog.contextvars``), except the keys structlog's own processors add for what
        the record contract has a place for (``level``, ``logger``, ``exc_info``/``exception``, callsite keys).
        ``logger_name``: the wrapped logger's own name (a stdlib logger's), used when the event names none."""
        context = get_bound()
        fields = {**context, **event_dict} if context else dict(event_dict)
        pop = fields.pop
        message = pop("event", None)
        args = pop("positional_args", None)
        text = "" if message is None else message if isinstance(message, str) else _safe_text(message)
        if args:
            text = _percent(text, args)
        level = pop("level", None)
        level_name = level.lower() if isinstance(level, str) else _METHOD_LEVELS.get(method_name, method_name)
        action = pop("action", self.default_action)
        # CallsiteParameterAdder's keys, when present and of their type (a user's own process="x" stays a field)
        func_name, pathname = _take(fields, "func_name", str), _take(fields, "pathname", str)
        lineno, process = _take(fields, "lineno", int), _take(fields, "process", int)
        thread_name = _take(fields, "thread_name", str)
        frame = _caller_frame() if func_name is None or pathname is None or lineno is None else None
        logger = _take(fields, "logger", str) or logger_name
        if logger is None and frame is not None:
            logger = frame.f_globals.get("__name__")
        event: Event = {
            "type": level_name,
            "action": action if isinstance(action, str) else str(action),
            "time": iso_utc(created),
            "msg": text,
            "fields": fields,
            "funcName": func_name if func_name is not None else frame.f_code.co_name if frame is not None else "",
            "logger": logger,
            "host": self.host,
            "pid": process if process is not None else os.getpid(),
            "thread": thread_name if thread_name is not None else threading.current_thread().name,
            "file": pathname if pathname is not None else frame.f_code.co_filename if frame is not None else "",
            "line": lineno if lineno is not None else frame.f_lineno if frame is not None else 0,
        }
        exc_info = _exc_info(pop("exc_info", None))
        if exc_info is not None:
            event["exception"] = exception_info(*exc_info)
        else:  # structlog's format_exc_info ran before us: its text
            stack = fields.get("exception")
            if isinstance(stack, str) and stack.startswith(_TRACEBACK_STARTS):
                event["exception"] = {"type": "", "message": "", "stack": pop("exception")}
        self._finish(event)
        return event


    def from_line(self, level: str, stamp: str, text: str, path: str, line: int | str, *,
                  record_id: str | None = None, fields: dict[str, Any] | None = None) -> Event:
        """Event for an entry of a file (``kafkalog tail``): no logger, process or thread, ``time`` is ``stamp``
        (when it was read), ``action`` the input's (``default_action``), ``fields`` at least the path. Its id, when
        ids are on, is derived from the file and the entry's offset (:func:`._ids.line_id`), never made: a line
        read twice keeps it. Trace ids are not looked up (the reader's spans are not the writer's)."""
        event: Event = {
            "type": level,
            "action": self.default_action,
            "time": stamp,
            "msg": text,
            "fields": {"path": path} if fields is None else fields,
            "funcName": "",
            "logger": None,
            "host": self.host,
            "pid": None,
            "thread": None,
            "file": path,
            "line": line,
        }
        if record_id is not None:
            event[ID_KEY] = record_id
        if self.static_fields:
            event.update(self.static_fields)
        return event


_TRACEBACK_STARTS = ("Traceback (most recent call last):", "  + Exception Group Traceback")


def _take(fields: dict[str, Any], key: str, kind: type) -> Any:
    """Pop ``fields[key]`` if it is a ``kind`` (not a bool); None, and the field left alone, otherwise."""
    value = fields.get(key)
    if isinstance(value, kind) and not isinstance(value, bool):
        del fields[key]
        return value
    return None


_METHOD_LEVELS = {"exception": "error", "warn": "warning", "msg": "info", "fatal": "critical"}
_SKIPPED_PACKAGES = ("structlog", "kafkalog")
_MAX_FRAMES = 32


def _caller_frame() -> FrameType | None:
    """The first frame outside structlog and kafkalog: the code that logged."""
    frame: FrameType | None = sys._getframe(2)
    for _ in range(_MAX_FRAMES):
        if frame is None:
            return None
        name = frame.f_globals.get("__name__") or ""
        if name.partition(".")[0] not in _SKIPPED_PACKAGES:
            return frame
        frame = frame.f_back
    return frame


def _percent(text: str, args: Any) -> str:
    """``text % args`` as structlog's PositionalArgumentsFormatter does it (one mapping argument: by name)."""
    if isinstance(args, tuple) and len(args) == 1 and isinstance(args[0], Mapping):
        args = args[0]
    try:
        return str(text % args)
    except Exception as exc:
        return f"{text} [message formatting failed: {type(exc).__name__}: {exc}; args={_safe_text(args)}]"


def _exc_info(value: Any) -> tuple[type[BaseException], BaseException, TracebackType | None] | None:
    """structlog's ``exc_info`` forms: an exception, an ``exc_info`` tuple, or a true value (the current one)."""
    if not value:
        return None
    if isinstance(value, BaseException):
        return type(value), value, value.__traceback__
    if isinstance(value, tuple) and len(value) == 3 and isinstance(value[1], BaseException):
        return type(value[1]), value[1], value[2]
    current = sys.exc_info()
    return None if current[1] is None else (type(current[1]), current[1], current[2])
