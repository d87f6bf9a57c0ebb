"""Flood control: at most N records per interval for each logging call site, the rest counted and summarised.

``rate_limit=RateLimit(records=100, interval=10)`` (or the same as a mapping). A key is (logger, level, call
site: the file and line of the logging call; for structlog the event text). Within each interval of a key the
first ``records`` records are shipped; the others are held back, counted, and summarised in one record when the
interval is over: ``"suppressed 9,812 records like this in the last 10 s"``, at the key's level, with the first
and the last of them. Records at ERROR and above are never held back unless ``errors=True``.

Memory: one small entry per key seen in the current interval, at most ``max_keys``. Entries whose interval is
over are swept (and summarised) once per interval. A new key past the bound shares one overflow entry (its records
are limited together, under the logger ``"*"``), and is counted in ``stats().rate_limit_overflow``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError, ConfigTypeError
from .typing import Event

__all__ = ["RateLimit"]

_OVERFLOW_KEY = ("*", 0, "*")


@dataclass(frozen=True)
class RateLimit:
    """``records`` per ``interval`` seconds per key; ``loggers`` overrides both for a logger and its children
    (``{"noisy.lib": (10, 60.0)}``); ``errors``: hold back ERROR and above too; ``clock``: seconds, monotonic."""

    records: int = 100
    interval: float = 10.0
    loggers: Mapping[str, tuple[int, float]] = field(default_factory=dict)
    errors: bool = False
    max_keys: int = 10_000
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        _check("records", self.records, self.interval)
        if not isinstance(self.loggers, Mapping):
            raise ConfigTypeError("rate_limit: loggers: expected a mapping of logger name -> (records, interval)")
        for name, limit in self.loggers.items():
            if not isinstance(name, str) or not isinstance(limit, (tuple, list)) or len(limit) != 2:
                raise ConfigTypeError(f"rate_limit: loggers[{name!r}]: expected (records, interval), got {limit!r}")
            _check(f"loggers[{name!r}]", *limit)
        if not isinstance(self.errors, bool):
            raise ConfigTypeError(f"rate_limit: errors: expected True or False, got {self.errors!r}")
        if isinstance(self.max_keys, bool) or not isinstance(self.max_keys, int) or self.max_keys < 1:
            raise ConfigError(f"rate_limit: max_keys: expected an int of at least 1, got {self.max_keys!r}")
        if not callable(self.clock):
            raise ConfigTypeError("rate_limit: clock: expected a callable returning seconds")


def _check(name: str, records: object, interval: object) -> None:
    if isinstance(records, bool) or not isinstance(records, int) or records < 0:
        raise ConfigError(f"rate_limit: {name}: records must be an int of at least 0, got {records!r}")
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not 0 < interval <= 86_400:
        raise ConfigError(f"rate_limit: {name}: interval must be seconds above 0 and at most 86400, got {interval!r}")


def rate_limit_for(value: object) -> RateLimit | None:
    """The checked ``rate_limit`` option (None: off)."""
    if value is None or isinstance(value, RateLimit):
        return value
    if isinstance(value, Mapping):
        try:
            return RateLimit(**{str(k): v for k, v in value.items()})
        except TypeError as exc:
            raise ConfigTypeError(f"rate_limit: {exc}; the keys are records, interval, loggers, errors, "
                                  f"max_keys, clock") from None
    raise ConfigTypeError(f"rate_limit: expected RateLimit(...), a mapping of its options or None, got "
                          f"{type(value).__name__}")


class _Window:
    __slots__ = ("first", "interval", "last", "level", "shipped", "start", "suppressed")

    def __init__(self, start: float, interval: float, level: int) -> None:
        self.start, self.interval, self.level = start, interval, level
        self.shipped = self.suppressed = 0
        self.first: tuple[Any, float] | None = None
        self.last: tuple[Any, float] | None = None


Summary = tuple[Any, float, Any, float, int, float, int]
"""(first item, its time, last item, its time, how many, the interval, the level)"""


class Flood:
    """The per-key windows of one handler/sink/processor. ``build(item) -> Event`` turns a held-back item back
    into an event (set by the adapter); ``ship(event, created, level)`` queues a summary."""

    def __init__(self, spec: RateLimit, ship: Callable[[Event, float, int], object]) -> None:
        self.spec = spec
        self.build: Callable[[Any], Event] | None = None
        self._ship = ship
        self._clock = spec.clock
        self._lock = threading.Lock()
        self._windows: dict[Hashable, _Window] = {}
        self._limits: dict[str, tuple[int, float]] = {}
        self._sweep_every = min([spec.interval, *(i for _, i in spec.loggers.values())])
        self._next_sweep = self._clock() + self._sweep_every
        self.suppressed = 0
        self.overflow = 0

    def _limit(self, logger: str) -> tuple[int, float]:
        limit = self._limits.get(logger)
        if limit is None:
            limit = (self.spec.records, self.spec.interval)
            name = logger
            while name:  # the closest configured ancestor: "a.b.c", "a.b", "a"
                if name in self.spec.loggers:
                    records, interval = self.spec.loggers[name]
                    limit = (records, float(interval))
                    break
                name = name.rpartition(".")[0]
            if len(self._limits) < 4096:
                self._limits[logger] = limit
        return limit

    def allow(self, logger: str, level: int, site: Hashable, item: Any, created: float) -> bool:
        """True to ship this record now; False: held back (counted, and summarised after its interval)."""
        if level >= logging.ERROR and not self.spec.errors:
            return True
        now = self._clock()
        summary: Summary | None = None
        with self._lock:
            key = (logger, level, site)
            window = self._windows.get(key)
            if window is None:
                records, interval = self._limit(logger)
                if len(self._windows) >= self.spec.max_keys:
                    self.overflow += 1
                    key = _OVERFLOW_KEY
                    window = self._windows.get(key)
                if window is None:
                    window = self._windows[key] = _Window(now, interval, level)
            elif now - window.start >= window.interval:
                summary = _summary(window)
                window = self._windows[key] = _Window(now, window.interval, level)
            records = self._limit(logger)[0] if key is not _OVERFLOW_KEY else self.spec.records
            if window.shipped < records:
                window.shipped += 1
                allowed = True
            else:
                window.suppressed += 1
                self.suppressed += 1
                if window.first is None:
                    window.first = (item, created)
                window.last = (item, created)
                allowed = False
            due = now >= self._next_sweep
        if summary is not None:
            self._emit(summary)
        if due:
            self.sweep(now)
        return allowed

    def sweep(self, now: float | None = None, *, everything: bool = False) -> None:
        """Summarise and forget the windows whose interval is over (``everything``: all of them, at close)."""
        now = self._clock() if now is None else now
        with self._lock:
            self._next_sweep = now + self._sweep_every
            over = [k for k, w in self._windows.items() if everything or now - w.start >= w.interval]
            summaries = [s for s in (_summary(self._windows.pop(k)) for k in over) if s is not None]
        for summary in summaries:
            self._emit(summary)

    def _emit(self, summary: Summary) -> None:
        build = self.build
        if build is None:
            return
        first, first_at, last, last_at, count, interval, level = summary
        try:
            event = build(first)
            last_msg = build(last).get("msg") if last is not first else event.get("msg")
        except Exception:  # the record is gone; the count must still arrive
            event, last_msg = {"msg": "", "fields": {}}, ""
        fields = dict(event.get("fields") or {})
        fields["suppressed"] = {"count": count, "interval": interval,
                                "first": {"time": first_at, "msg": event.get("msg")},
                                "last": {"time": last_at, "msg": last_msg}}
        event["fields"] = fields
        event["action"] = "suppressed"
        event["msg"] = f"suppressed {count:,} records like this in the last {interval:g} s"
        self._ship(event, time.time(), level)


def _summary(window: _Window) -> Summary | None:
    if not window.suppressed or window.first is None or window.last is None:
        return None
    return (window.first[0], window.first[1], window.last[0], window.last[1], window.suppressed, window.interval,
            window.level)
