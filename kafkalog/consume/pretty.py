"""``--output pretty``: one line per record (time, level, logger, message, fields), its exception's stack
indented under it. Text from the records is made safe for a terminal: control characters (an escape sequence in
a message could repaint or retitle the terminal) are shown as ``\\xNN``, never sent as they are."""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from .reader import Message
from .view import View, parse

RESET = "\x1b[0m"
DIM, BOLD = "\x1b[2m", "\x1b[1m"
LEVEL_COLORS = {"trace": DIM, "debug": "\x1b[36m", "info": "\x1b[32m", "success": "\x1b[1;32m",
                "warning": "\x1b[33m", "error": "\x1b[31m", "critical": "\x1b[1;31m"}
LOGGER_COLOR, FIELD_COLOR, STACK_COLOR, RAW_COLOR = "\x1b[34m", "\x1b[2m", "\x1b[31m", "\x1b[35m"

CACHED = 1024
"""Level and logger texts kept per run (a topic with more loggers than this formats the others each time)."""

_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if c not in (0x09, 0x0A)}
_CONTROL_ALL = {**_CONTROL, 0x0A: "\\n"}
_HAS_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_HAS_CONTROL_OR_NEWLINE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def use_color(choice: str, stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """``always``/``never``, or ``auto``: a terminal, and ``NO_COLOR`` unset or empty (no-color.org)."""
    if choice == "always":
        return True
    if choice == "never":
        return False
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR", ""):
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def safe(text: str, *, one_line: bool = False) -> str:
    """``text`` without terminal control characters (tabs and, unless ``one_line``, newlines kept)."""
    if one_line:
        return text.translate(_CONTROL_ALL) if _HAS_CONTROL_OR_NEWLINE.search(text) else text
    return text.translate(_CONTROL) if _HAS_CONTROL.search(text) else text


def _short_time(text: str | None, timestamp_ms: int) -> str:
    if text and len(text) >= 23 and text[10] == "T":
        return f"{text[:10]} {text[11:23]}"  # date, time to the millisecond (the records' times are UTC)
    if text:
        return text
    if timestamp_ms >= 0:
        moment = _dt.datetime.fromtimestamp(timestamp_ms / 1000, _dt.timezone.utc)
        return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{timestamp_ms % 1000:03d}"
    return "-" * 23


_QUOTED = re.compile('[ ="\n]')


def _value(value: Any) -> str:
    """A field's value as ``key=value`` shows it: a plain word as it is, anything else as compact JSON."""
    if isinstance(value, str):
        return value if value and not _QUOTED.search(value) else _json(value)
    kind = type(value)
    if kind is int or (kind is float and math.isfinite(value)):
        return repr(value)  # what json.dumps writes for them, without its machinery
    return _json(value)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


class PrettyFormat:
    needs_view = True

    def __init__(self, *, color: bool, meta: bool = False) -> None:
        self.color = color
        self.meta = meta
        # a topic has few levels and loggers: each one's text is made once
        self._levels: dict[str | None, str] = {}
        self._loggers: dict[str | None, str] = {}

    @staticmethod
    def _remember(cache: dict[str | None, str], key: str | None, text: str) -> str:
        if len(cache) < CACHED:
            cache[key] = text
        return text

    def _c(self, code: str, text: str) -> str:
        return f"{code}{text}{RESET}" if self.color and text else text

    def line(self, message: Message, view: View | None) -> bytes:
        assert view is not None
        where = self._c(DIM, f"[{message.partition}:{message.offset}] ") if self.meta else ""
        if not view.is_log:
            label = "RAW" if view.kind == "raw" else "JSON"
            text = safe(view.text, one_line=True)
            if message.value is None:
                text = "<no value>"
            head = f"{_short_time(None, message.timestamp)} {self._c(RAW_COLOR, f'{label:<8}')}"
            return f"{where}{head} {text}\n".encode("utf-8", "backslashreplace")
        level_text = self._levels.get(view.level)
        if level_text is None:
            level = (view.level or "?").lower()
            level_text = self._remember(self._levels, view.level,
                                        self._c(LEVEL_COLORS.get(level, BOLD), f"{level.upper():<8}"))
        logger = self._loggers.get(view.logger)
        if logger is None:
            logger = self._remember(self._loggers, view.logger,
                                    self._c(LOGGER_COLOR, safe(view.logger or "-", one_line=True)))
        msg = safe(view.msg or "").replace("\n", "\n    ")
        parts = [f"{where}{_short_time(view.time, message.timestamp)} {level_text} {logger}: {msg}"]
        pairs = []
        if view.action and view.action != "log":
            pairs.append(f"action={_value(view.action)}")
        pairs.extend(f"{k}={_value(v)}" for k, v in view.fields.items())
        if view.record and isinstance(view.record, dict) and view.record.get("truncated") is True:
            pairs.append("truncated=true")
        if pairs:
            parts.append("  " + self._c(FIELD_COLOR, safe(" ".join(pairs), one_line=True)))
        if view.exception:
            stack = view.exception["stack"] or f"{view.exception['type']}: {view.exception['message']}"
            lines = safe(stack.rstrip("\n")).split("\n")
            parts.append("\n" + "\n".join("    " + self._c(STACK_COLOR, line) for line in lines))
        parts.append("\n")
        return "".join(parts).encode("utf-8", "backslashreplace")

    def lines(self, messages: Sequence[Message]) -> bytes:
        return b"".join([self.line(m, parse(m.value)) for m in messages])
