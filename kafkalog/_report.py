"""Error reporting from the worker thread: rate-limited, scrubbed of secrets, never through ``logging``.

Writing to ``logging`` from here could feed the handler its own errors (and deadlock on its lock), so the
default destination is stderr; ``on_error`` replaces it.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

from .typing import ErrorSink


def _stderr(message: str) -> None:
    stream = sys.stderr
    if stream is not None:
        try:
            stream.write(message + "\n")
            stream.flush()
        except Exception:
            pass


class ErrorReporter:
    """Says each kind of problem at most once per ``interval`` seconds, with a count of what it held back."""

    def __init__(self, name: str, sink: ErrorSink | None, interval: float, scrub: Callable[[str], str],
                 on_deferred: Callable[[], None] | None = None) -> None:
        self.name = name
        self._sink = sink or _stderr
        self._interval = interval
        self._scrub = scrub
        self._last: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.muted = False  # after close(): a worker still finishing a blocked call stays quiet
        self._deferred: list[str] = []
        self._on_deferred = on_deferred  # tells the worker a line waits for it

    def report(self, kind: str, message: str, *, defer: bool = False) -> None:
        """Record ``message`` as the last error and pass it on unless ``kind`` was said less than interval ago.

        ``defer`` (calls from the application's thread): keep the line for the worker to write, so a slow or
        full stderr pipe can never stall a logging call.
        """
        text = self._scrub(message)
        now = time.monotonic()
        with self._lock:
            self.last_error = f"{kind}: {text}"
            self.last_error_at = time.time()
            said_at, held = self._last.get(kind, (float("-inf"), 0))
            if now - said_at < self._interval:
                self._last[kind] = (said_at, held + 1)
                return
            self._last[kind] = (now, 0)
            if self.muted:
                return
        more = f" ({held} more like this held back)" if held else ""
        line = f"kafkalog[{self.name}]: {kind}: {text}{more}"
        if defer:
            with self._lock:
                self._deferred.append(line)  # at most one per kind per interval: bounded
            if self._on_deferred is not None:
                self._on_deferred()
            return
        self._emit(line)

    def flush_deferred(self) -> None:
        """Write the lines the application's thread left (called on the worker's threads)."""
        if not self._deferred:
            return
        with self._lock:
            lines, self._deferred = self._deferred, []
        for line in lines:
            self._emit(line)

    def _emit(self, line: str) -> None:
        try:
            self._sink(line)
        except Exception:
            pass

    def reset_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._last = {}
        self._deferred = []
