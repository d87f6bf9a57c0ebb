"""``--level``, ``--logger``, ``--grep`` and ``--where``: all must hold (AND).

A value that is not a log record (not JSON, or JSON of another shape) has no level, logger or keys to judge, so
those three filters let it through: it is shown raw rather than hidden. ``--grep`` applies to its text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from .levels import level_number, parse_level
from .view import View, str_or_none


@dataclass(frozen=True)
class Where:
    """``KEY=VALUE``: the value at the dotted ``key`` (see :meth:`View.lookup`) equals ``value`` as written."""

    key: str
    value: str

    @classmethod
    def parse(cls, text: str) -> Where:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--where: expected KEY=VALUE (e.g. fields.user=alice), got {text!r}")
        return cls(key.strip(), value)

    def matches(self, view: View) -> bool:
        found, value = view.lookup(self.key)
        return found and _equal(value, self.value)


def _equal(value: Any, wanted: str) -> bool:
    if isinstance(value, str):
        return value == wanted
    if value is None or isinstance(value, bool):
        return json.dumps(value) == wanted.lower()
    if isinstance(value, (int, float)):
        try:
            return float(wanted) == value
        except ValueError:
            return False
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False) == wanted


@dataclass(frozen=True)
class Filters:
    """The filters of one run; :attr:`active` is False when none is set (then no value need be parsed)."""

    min_level: int | None = None
    loggers: tuple[str, ...] = ()
    grep: re.Pattern[str] | None = None
    where: tuple[Where, ...] = field(default_factory=tuple)

    @classmethod
    def build(cls, *, level: str | None = None, loggers: Sequence[str] = (), grep: str | None = None,
              ignore_case: bool = False, where: Sequence[str] = ()) -> Filters:
        """From the command line's texts; raises :class:`ConfigError` naming the bad option."""
        pattern = None
        if grep is not None:
            try:
                pattern = re.compile(grep, re.IGNORECASE if ignore_case else 0)
            except re.error as exc:
                raise ConfigError(f"--grep: {grep!r} is not a valid regular expression: {exc}") from None
        return cls(min_level=parse_level(level) if level is not None else None,
                   loggers=tuple(loggers), grep=pattern, where=tuple(Where.parse(w) for w in where))

    @property
    def active(self) -> bool:
        return self.min_level is not None or bool(self.loggers) or self.grep is not None or bool(self.where)

    @property
    def on_records(self) -> bool:
        """Whether :meth:`keep_record` can judge a kafkalog record (only ``--level`` and ``--logger`` are set)."""
        return self.grep is None and not self.where

    def keep_record(self, record: Mapping[str, Any]) -> bool:
        """The verdict of :meth:`__call__` on a kafkalog record's view, from the record's own keys: no view is
        built (when :attr:`on_records`)."""
        if self.min_level is not None:
            levelno = level_number(str_or_none(record.get("type")))
            if levelno is not None and levelno < self.min_level:
                return False
        return not self.loggers or any(_under(str_or_none(record.get("logger")), p) for p in self.loggers)

    def __call__(self, view: View) -> bool:
        if view.is_log:
            if self.min_level is not None and view.levelno is not None and view.levelno < self.min_level:
                return False  # a level with no known rank is kept: a name we cannot rank hides nothing
            if self.loggers and not any(_under(view.logger, prefix) for prefix in self.loggers):
                return False
            if self.where and not all(w.matches(view) for w in self.where):
                return False
        if self.grep is not None:
            return self.grep.search(searchable(view)) is not None
        return True


def _under(logger: str | None, prefix: str) -> bool:
    """``billing`` matches ``billing`` and ``billing.api``, not ``billingx``; a prefix ending in ``.`` or ``*``
    is a plain text prefix."""
    if logger is None:
        return False
    if prefix.endswith(("*", ".")):
        return logger.startswith(prefix.rstrip("*"))
    return logger == prefix or logger.startswith(prefix + ".")


def searchable(view: View) -> str:
    """What ``--grep`` searches: the message and the exception (type, message, stack), or the raw text."""
    if not view.is_log:
        return view.text
    parts = [view.msg or ""]
    if view.exception:
        parts.extend((view.exception["type"], view.exception["message"], view.exception["stack"]))
    return "\n".join(parts)
