"""Process lifecycle for every live worker: interpreter exit, SIGTERM, and fork.

Hooks are registered once per process and reach workers through a weak registry, so a handler that is dropped
without ``close()`` can still be collected.
"""

from __future__ import annotations

import atexit
import importlib
import os
import signal
import sys
import threading
import weakref
from types import FrameType
from typing import Any, Protocol


class Closable(Protocol):
    def begin_close(self, timeout: float | None = None) -> None: ...

    def close(self, timeout: float | None = None) -> object: ...

    def reset_after_fork(self) -> None: ...


_live: weakref.WeakSet[Closable] = weakref.WeakSet()
_sigterm_installed = False


def track(worker: Closable) -> None:
    _live.add(worker)
    register_exit_hook()


def untrack(worker: Closable) -> None:
    _live.discard(worker)


def close_all() -> None:
    """Drain every live worker within its own close_timeout, all at the same time."""
    workers = list(_live)
    for worker in workers:
        worker.begin_close()
    for worker in workers:
        worker.close()


def register_exit_hook() -> None:
    """(Re-)register the exit hook so it runs before hooks registered earlier, such as kafka-python's.

    atexit runs newest-first; calling this after each producer is created keeps ours ahead of its ``close(1)``,
    and ``logging.shutdown`` and loguru's hook, registered at import, always run after ours.
    """
    atexit.unregister(close_all)
    atexit.register(close_all)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Turn SIGTERM into a normal exit (status 143) so atexit drains the queue. Draining right here could
    # deadlock: the signal may have interrupted the main thread inside one of our own locked sections.
    raise SystemExit(128 + signum)


def install_sigterm_handler() -> bool:
    """Drain on SIGTERM when nobody else handles it (the default action skips atexit and loses the queue).

    Only from the main thread and only over the default disposition: an application's or server's own handler
    (gunicorn, celery, uvicorn) is left alone, and those exit through atexit anyway.
    """
    global _sigterm_installed
    if _sigterm_installed:
        return True
    if threading.current_thread() is not threading.main_thread():
        return False
    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return False
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError):  # not the main interpreter, or no signals here
        return False
    _sigterm_installed = True
    return True


_importing = threading.Condition()
_imports_running = 0


def import_client(names: tuple[str, ...]) -> None:
    """Import a client library on a worker thread, in a way a fork cannot cut in half.

    A fork in the middle of an import leaves the child a half-initialised module it can never finish (the
    importing thread does not exist there), e.g. gunicorn --preload forking while the master's first record
    loads kafka-python. The before-fork hook waits for imports running here to finish.
    """
    global _imports_running
    missing = [name for name in names if name not in sys.modules]
    if not missing:
        return
    with _importing:
        _imports_running += 1
    try:
        for name in missing:
            importlib.import_module(name)
    finally:
        with _importing:
            _imports_running -= 1
            _importing.notify_all()


def _before_fork() -> None:
    if _live:
        _hook_process_pools()
    with _importing:
        _importing.wait_for(lambda: _imports_running == 0, timeout=_FORK_IMPORT_WAIT)


def _after_fork_in_child() -> None:
    global _importing, _imports_running
    _importing = threading.Condition()
    _imports_running = 0
    for worker in list(_live):
        worker.reset_after_fork()


class _ForkToken:
    """Anchor for multiprocessing's after-fork registry (it holds its keys weakly)."""


_FORK_TOKEN = _ForkToken()
_FINALIZER_PRIORITY = 100
_hooked_forkers: set[str] = set()


def _hook_process_pools() -> None:
    """multiprocessing (and billiard, under celery prefork) children end with os._exit, skipping atexit, after
    running their exit finalizers; they also clear the finalizers inherited at fork. Register, before each
    fork, an after-fork callback that adds our drain to the child's finalizers."""
    for name in ("multiprocessing.util", "billiard.util"):
        module = sys.modules.get(name)
        if module is None or name in _hooked_forkers:
            continue
        register = getattr(module, "register_after_fork", None)
        finalize = getattr(module, "Finalize", None)
        if register is None or finalize is None:
            continue

        def add_finalizer(token: object, finalize: Any = finalize) -> None:
            finalize(None, close_all, exitpriority=_FINALIZER_PRIORITY)

        try:
            register(_FORK_TOKEN, add_finalizer)
        except Exception:
            continue
        _hooked_forkers.add(name)


_FORK_IMPORT_WAIT = 10.0
os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
