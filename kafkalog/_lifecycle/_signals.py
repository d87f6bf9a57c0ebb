"""SIGTERM: turned into a normal exit so the exit drain runs, never allowed to cut a drain short.

A server's own handler (installed while it had signals captured, e.g. uvicorn) is chained, not replaced. In pool
processes a watchdog makes sure a SIGTERM is never left pending (see :mod:`kafkalog._watchdog`).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from .._watchdog import watch_sigterm
from ._process import in_pool_child, running_exit_finalizers

_installed = False
_handled = 0  # times _on_sigterm ran (the watchdog compares)
_chained: Callable[[int, FrameType | None], Any] | None = None  # a server's own handler, called by ours
_draining = 0
_deferred: int | None = None  # a SIGTERM that arrived while draining
_held = False  # SIGTERM blocked in the main thread by us
_watchdog_pid = 0


def _on_sigterm(signum: int, frame: FrameType | None) -> Any:
    """Turn SIGTERM into a normal exit so atexit drains the queue; while draining, only remember it.

    Draining right here could deadlock (the signal may have interrupted one of our own locked sections), and
    raising while draining would abort the drain (``Pool.terminate()`` SIGTERMs children running their
    finalizers). With a server's own handler chained (installed while it had signals captured, e.g. uvicorn),
    that handler decides; SIGTERM is then blocked in the main thread, so the server's final ``raise_signal``
    stays pending until our drain has run at exit, and still ends the process with the status it meant.
    """
    global _deferred, _handled
    _handled += 1
    if _draining or running_exit_finalizers():
        _deferred = signum
        return None
    chained = _chained
    if chained is None:
        raise SystemExit(128 + signum)
    _hold_sigterm()
    return chained(signum, frame)


def install_sigterm_handler() -> bool:
    """Drain on SIGTERM: over the default disposition (which skips atexit), or chained to a foreign handler.

    Only from the main thread. A foreign Python handler is kept and called by ours (see :func:`_on_sigterm`);
    ``SIG_IGN`` is left alone.
    """
    global _installed, _chained
    if _installed:
        return True
    if threading.current_thread() is not threading.main_thread():
        return False
    try:
        current = signal.getsignal(signal.SIGTERM)
        if current is signal.SIG_IGN or current is None or (current is not signal.SIG_DFL and not callable(current)):
            return False
        _chained = current if callable(current) and current is not _on_sigterm else None
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError, TypeError):  # not the main interpreter, or no signals here
        _chained = None
        return False
    _installed = True
    watch_pool_sigterm()
    return True


def watch_pool_sigterm() -> None:
    """In a pool process (fork or spawn) running our SIGTERM handler, see :func:`watch_sigterm`; once per process."""
    global _watchdog_pid
    if not in_pool_child() or _watchdog_pid == os.getpid() or signal.getsignal(signal.SIGTERM) is not _on_sigterm:
        return
    if watch_sigterm(lambda: _handled):
        _watchdog_pid = os.getpid()


def _hold_sigterm() -> None:
    global _held
    if _held or threading.current_thread() is not threading.main_thread():
        return
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    except (AttributeError, OSError, ValueError):
        return
    _held = True


def release_held_sigterm() -> None:
    """Unblock SIGTERM in the main thread: a pending one (a server's re-raise) now ends the process."""
    global _held
    if not _held or threading.current_thread() is not threading.main_thread():
        return
    _held = False
    try:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    except (AttributeError, OSError, ValueError):
        pass


@contextmanager
def draining() -> Iterator[None]:
    """While a drain runs on the main thread, a SIGTERM is remembered instead of ending it.

    Where SIGTERM still has its default action (it would kill the process mid-drain), our handler stands in for
    the drain; afterwards the default comes back, and a SIGTERM that arrived meanwhile is re-sent.
    """
    global _draining, _deferred
    _draining += 1  # first: a SIGTERM from here on is only remembered
    swapped = False
    try:
        if threading.current_thread() is threading.main_thread():
            try:
                if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
                    signal.signal(signal.SIGTERM, _on_sigterm)
                    swapped = True
            except (ValueError, OSError):
                pass
        yield
    finally:
        _draining -= 1
        deferred, _deferred = _deferred, None
        if swapped:
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                if deferred is not None and not _held:
                    signal.raise_signal(deferred)
            except (ValueError, OSError):
                pass
