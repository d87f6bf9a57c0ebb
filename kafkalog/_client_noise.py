"""Keep the Kafka client's own warnings and log lines off the application's console and out of its way.

The client runs on kafkalog's threads only; what it says there is ours to handle, not the application's:

- warnings attributed to the client's modules (kafka-python 3 triggers ``importlib.resources`` deprecations while
  importing and on first use of each protocol schema) are ignored, so ``python -W error`` or pytest's
  ``filterwarnings = error`` cannot turn them into failed sends. Only those modules: the application's own
  warnings, and warnings the client attributes to its callers, keep the application's filters.
- log records the client emits on kafkalog's threads (worker, producer network thread) are dropped at the
  client's loggers, before any handler (the console included), and the last warning is kept to explain a failed
  delivery in kafkalog's own report. Records the client logs on the application's threads (an application using
  kafka-python itself) are untouched.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import warnings
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_filtered: dict[str, tuple[Any, ...]] = {}
_SECONDARY = ("importlib.resources._legacy",)
"""Deprecated stdlib helpers that warn again, attributed to themselves, for their own nested calls (``read_text``
calls ``open_text``): always after a first warning attributed to the real caller, so ignoring these hides nothing
an application could act on."""


def quiet_client_warnings(modules: tuple[str, ...]) -> None:
    """Put an ``ignore`` filter for warnings raised inside ``modules`` (and their submodules) at the front.

    Filters are process-wide and an application (or pytest, per test) may put ``error`` in front of ours, or
    restore the list after ``catch_warnings``: this is cheap to repeat and is called before each use of the client.
    """
    names = (*modules, *_SECONDARY)
    front = warnings.filters[:len(names)]
    for name in names:
        entry = _filtered.get(name)
        if entry is not None and any(f is entry for f in front):
            continue
        category = DeprecationWarning if name in _SECONDARY else Warning
        warnings.filterwarnings("ignore", category=category, module=rf"{re.escape(name)}(\..*)?\Z")
        _filtered[name] = warnings.filters[0]


class ClientLog:
    """What the client logged on one of our transports' threads, for our reports: the first and the last warning
    or error, and the last one that contains one of ``markers`` (words that say what is wrong)."""

    def __init__(self, markers: tuple[str, ...] = ()) -> None:
        self.markers = markers
        self.last: str | None = None
        self.first_error: str | None = None
        self.telling: str | None = None
        self.recent: deque[str] = deque(maxlen=16)  # the latest lines, in order, for patterns over several

    def note(self, record: logging.LogRecord) -> None:
        if record.levelno < logging.WARNING:
            return
        try:
            text = record.getMessage()
        except Exception:
            return
        self.last = text
        self.recent.append(text)
        if self.first_error is None:
            self.first_error = text
        lowered = text.lower()
        if any(marker in lowered for marker in self.markers):
            self.telling = text


class _OwnThreads(logging.Filter):
    """On the client's loggers: records logged on kafkalog's threads go to their transport's :class:`ClientLog`."""

    def __init__(self) -> None:
        super().__init__()
        self.logs: dict[int, ClientLog] = {}
        self.windows: list[tuple[frozenset[int | None], ClientLog]] = []

    def filter(self, record: logging.LogRecord) -> bool:
        log = self.logs.get(record.thread or 0)
        if log is None:
            for existing, opening in self.windows:  # threads the client is starting now log before we know them
                if record.thread not in existing:
                    log = opening
                    break
            else:
                return True
        log.note(record)
        return False


_FILTER = _OwnThreads()
_lock = threading.Lock()


def capture_client_logs(prefix: str, threads: list[int], log: ClientLog) -> None:
    """Route what the client logs under ``prefix`` (``kafka`` and ``kafka.*``) on ``threads`` to ``log``.

    A logger's filters only see records logged on that very logger, so the filter goes on each of the client's
    loggers that exist now (the client creates them at import); calling again picks up later ones.
    """
    with _lock:
        for ident in threads:
            _FILTER.logs[ident] = log
        manager = logging.Logger.manager
        loggers = [logging.getLogger(prefix)] + [
            obj for name, obj in list(manager.loggerDict.items())
            if isinstance(obj, logging.Logger) and name.startswith(prefix + ".")]
        for logger in loggers:
            if _FILTER not in logger.filters:
                logger.addFilter(_FILTER)


@contextmanager
def capture_new_threads(prefix: str, log: ClientLog) -> Iterator[list[int]]:
    """While the client starts (its threads log before their ids are known), capture what threads that did not
    exist before log; afterwards those threads stay captured by id (the yielded list)."""
    existing = frozenset(thread.ident for thread in threading.enumerate())
    window = (existing, log)
    capture_client_logs(prefix, [], log)
    with _lock:
        _FILTER.windows.append(window)
    started: list[int] = []
    try:
        yield started
    finally:
        started += [t.ident for t in threading.enumerate() if t.ident is not None and t.ident not in existing]
        capture_client_logs(prefix, started, log)
        with _lock:
            _FILTER.windows.remove(window)


def release_client_logs(threads: list[int]) -> None:
    with _lock:
        for ident in threads:
            _FILTER.logs.pop(ident, None)


def _after_fork_in_child() -> None:
    """A fork may have happened while a worker thread held the lock; the parent's thread ids mean nothing here."""
    global _lock
    _lock = threading.Lock()
    _FILTER.logs.clear()
    _FILTER.windows.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)
