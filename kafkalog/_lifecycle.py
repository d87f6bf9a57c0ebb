"""Process lifecycle for every live worker: interpreter exit, SIGTERM, fork, process pools and task workers.

Hooks are registered once per process and reach workers through a weak registry, so a handler that is dropped
without ``close()`` can still be collected. Every way a process can end runs :func:`close_all` where the process
leaves a chance to run code: atexit, multiprocessing/billiard exit finalizers (``os._exit`` follows them),
celery's ``worker_process_shutdown`` (billiard pool children ``os._exit`` without finalizers), and SIGTERM.
"""

from __future__ import annotations

import atexit
import importlib
import os
import signal
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from types import FrameType
from typing import Any, Protocol

from ._client_noise import quiet_client_warnings
from ._watchdog import unblock_sigterm_here, watch_sigterm


class Closable(Protocol):
    def begin_close(self, timeout: float | None = None) -> None: ...

    def close(self, timeout: float | None = None) -> object: ...

    def reset_after_fork(self) -> None: ...


_live: weakref.WeakSet[Closable] = weakref.WeakSet()


def track(worker: Closable) -> None:
    """Register a new worker, and make sure every exit path of this process drains it (whoever created it)."""
    _live.add(worker)
    register_exit_hook()
    hook_process_exits()


def untrack(worker: Closable) -> None:
    _live.discard(worker)


def live() -> list[Closable]:  # the workers not closed yet, a snapshot (kafkalog.testing's capture)
    return list(_live)


def close_all() -> None:
    """Drain every live worker within its own close_timeout, all at the same time; a SIGTERM cannot cut it short.

    Runs only on the ways out of a process (atexit, pool finalizers, celery's child shutdown), then lets a SIGTERM
    we held back (see :func:`_on_sigterm`) end the process as its sender intended.
    """
    with draining():
        workers = list(_live)
        for worker in workers:
            worker.begin_close()
        for worker in workers:
            worker.close()
    _release_held_sigterm()


def register_exit_hook() -> None:
    """(Re-)register the exit hook so it runs before hooks registered earlier, such as kafka-python's.

    atexit runs newest-first; calling this after each producer is created keeps ours ahead of its ``close(1)``,
    and ``logging.shutdown`` and loguru's hook, registered at import, always run after ours.
    """
    atexit.unregister(close_all)
    atexit.register(close_all)


# --- SIGTERM ---------------------------------------------------------------------------------------------------

_sigterm_installed = False
_sigterms_handled = 0  # times _on_sigterm ran (the watchdog compares)
_chained: Callable[[int, FrameType | None], Any] | None = None  # a server's own handler, called by ours
_draining = 0
_deferred: int | None = None  # a SIGTERM that arrived while draining
_held = False  # SIGTERM blocked in the main thread by us


def _on_sigterm(signum: int, frame: FrameType | None) -> Any:
    """Turn SIGTERM into a normal exit so atexit drains the queue; while draining, only remember it.

    Draining right here could deadlock (the signal may have interrupted one of our own locked sections), and
    raising while draining would abort the drain (``Pool.terminate()`` SIGTERMs children running their
    finalizers). With a server's own handler chained (installed while it had signals captured, e.g. uvicorn),
    that handler decides; SIGTERM is then blocked in the main thread, so the server's final ``raise_signal``
    stays pending until our drain has run at exit, and still ends the process with the status it meant.
    """
    global _deferred, _sigterms_handled
    _sigterms_handled += 1
    if _draining or _running_exit_finalizers():
        _deferred = signum
        return None
    chained = _chained
    if chained is None:
        raise SystemExit(128 + signum)
    _hold_sigterm()
    return chained(signum, frame)


def _running_exit_finalizers() -> bool:
    """True once a pool process has begun its exit finalizers (our drain among them): too late to raise there."""
    for name in _POOL_MODULES:
        module = sys.modules.get(name)
        try:
            if module is not None and module.is_exiting():
                return True
        except Exception:
            pass
    return False


def install_sigterm_handler() -> bool:
    """Drain on SIGTERM: over the default disposition (which skips atexit), or chained to a foreign handler.

    Only from the main thread. A foreign Python handler is kept and called by ours (see :func:`_on_sigterm`);
    ``SIG_IGN`` is left alone.
    """
    global _sigterm_installed, _chained
    if _sigterm_installed:
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
    _sigterm_installed = True
    _watch_pool_sigterm()
    return True


def _hold_sigterm() -> None:
    global _held
    if _held or threading.current_thread() is not threading.main_thread():
        return
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    except (AttributeError, OSError, ValueError):
        return
    _held = True


def _release_held_sigterm() -> None:
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


# --- fork, process pools, task workers -----------------------------------------------------------------------

_importing = threading.Condition()
_imports_running = 0
_LAZY_STDLIB = ("encodings.idna",)
"""Imported lazily by the first ``getaddrinfo``/``connect`` on the client's network thread: a fork during that
import leaves the child "unknown encoding: idna" for good (it never connects). Import them here, under the guard."""


def import_client(names: tuple[str, ...]) -> None:
    """Import a client library on a worker thread, in a way a fork cannot cut in half.

    A fork in the middle of an import leaves the child a half-initialised module it can never finish (the
    importing thread does not exist there), e.g. gunicorn --preload forking while the master's first record
    loads kafka-python. The before-fork hook waits for imports running here to finish. The client's own
    warnings never stop delivery (``-W error``), see :func:`quiet_client_warnings`.
    """
    global _imports_running
    unblock_sigterm_here()
    quiet_client_warnings(names)
    missing = [name for name in (*names, *_LAZY_STDLIB) if name not in sys.modules]
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
        hook_process_exits(importing=False)
    with _importing:
        _importing.wait_for(lambda: _imports_running == 0, timeout=_FORK_IMPORT_WAIT)


def _after_fork_in_child() -> None:
    global _importing, _imports_running
    _importing = threading.Condition()
    _imports_running = 0
    _release_held_sigterm()  # the mask is inherited: a child must not start with SIGTERM blocked
    for worker in list(_live):
        worker.reset_after_fork()


class _ForkToken:
    """Anchor for multiprocessing's after-fork registry (it holds its keys weakly)."""


_FORK_TOKEN = _ForkToken()
_FINALIZER_PRIORITY = 100
_POOL_MODULES = ("multiprocessing.util", "billiard.util")
_finalizer_pids: dict[str, int] = {}  # module -> the process its Finalize was registered in
_after_fork_hooked: set[str] = set()  # inherited by forked children, like the registry it stands for
_celery_hooked = False
_watchdog_pid = 0


def hook_process_exits(importing: bool = True) -> None:
    """Drain in processes that end with ``os._exit``: once per process and per module already loaded.

    multiprocessing (and billiard) children run their exit finalizers, then ``os._exit``, skipping atexit;
    at start they clear the finalizers inherited at fork, then run the after-fork callbacks. So: a Finalize in
    this process (a handler created here, e.g. in a pool's ``initializer``), and an after-fork callback that adds
    one in each forked child that inherits a live worker. Under celery, its ``worker_process_shutdown`` signal
    (sent by billiard before its ``os._exit``) drains too. ``importing`` is False in the before-fork hook.
    """
    for name in _POOL_MODULES:
        module = sys.modules.get(name)
        if module is None:
            continue
        _add_finalizer(name)
        register = getattr(module, "register_after_fork", None)
        if register is not None and name not in _after_fork_hooked:
            try:
                register(_FORK_TOKEN, partial(_after_fork_finalizer, name))
                _after_fork_hooked.add(name)
            except Exception:
                pass
    _hook_celery(importing)


def _add_finalizer(name: str) -> None:
    module = sys.modules.get(name)
    pid = os.getpid()
    if module is None or _finalizer_pids.get(name) == pid:
        return
    try:
        module.Finalize(None, close_all, exitpriority=_FINALIZER_PRIORITY)
    except Exception:
        return
    _finalizer_pids[name] = pid
    if name == "multiprocessing.util":
        _add_thread_shutdown_drain()


_shutdown_drain_pid = 0


def _add_thread_shutdown_drain() -> None:
    """In a multiprocessing child, drain again from ``threading._shutdown``, which the child's bootstrap always runs.

    A SIGTERM (``Pool.terminate()``) that lands right at the entry of multiprocessing's exit function, before it
    marks the process as exiting, raises there: every finalizer, ours too, is skipped and the child ``os._exit``s
    with its records still queued. A no-op when our finalizer already drained (nothing is left live).
    """
    global _shutdown_drain_pid
    pid = os.getpid()
    process = sys.modules.get("multiprocessing.process")
    register = getattr(threading, "_register_atexit", None)
    if _shutdown_drain_pid == pid or process is None or register is None:
        return
    try:
        if process.parent_process() is None:
            return
        register(_drain_at_thread_shutdown)
    except Exception:  # "can't register atexit after shutdown"
        return
    _shutdown_drain_pid = pid


def _drain_at_thread_shutdown() -> None:
    if _live:
        try:
            close_all()
        except Exception:
            pass


def _after_fork_finalizer(name: str, token: object) -> None:
    if not _live:
        return
    _add_finalizer(name)
    _watch_pool_sigterm()
    if name == "billiard.util" and not _celery_hooked:
        _say_billiard_pool_needs_close()


def _watch_pool_sigterm() -> None:
    """In a pool process (fork or spawn) running our SIGTERM handler, see :func:`watch_sigterm`; once per process."""
    global _watchdog_pid
    process = sys.modules.get("multiprocessing.process")
    try:
        in_child = process is not None and process.parent_process() is not None
    except Exception:
        in_child = False
    if not in_child or _watchdog_pid == os.getpid() or signal.getsignal(signal.SIGTERM) is not _on_sigterm:
        return
    if watch_sigterm(lambda: _sigterms_handled):
        _watchdog_pid = os.getpid()


def _say_billiard_pool_needs_close() -> None:
    """A billiard pool child outside celery ends with ``os._exit`` and runs no hook at all: say so, once."""
    process = sys.modules.get("billiard.process")
    try:
        name = str(process.current_process().name) if process is not None else ""
    except Exception:
        return
    if "PoolWorker" in name and sys.stderr is not None:
        try:
            sys.stderr.write(f"kafkalog: {name} (a billiard pool process, without celery) ends with os._exit and "
                             "runs no exit hook: call close() on kafkalog handlers before it ends, or the records "
                             "still queued then are lost\n")
        except Exception:
            pass


def _on_worker_process_shutdown(*args: object, **kwargs: object) -> None:
    close_all()


def _hook_celery(importing: bool) -> None:
    """Connect our drain to celery's ``worker_process_shutdown``, the only hook before billiard's ``os._exit``."""
    global _celery_hooked
    if _celery_hooked or "celery" not in sys.modules:
        return
    signals = sys.modules.get("celery.signals")
    if signals is None and importing:
        try:
            signals = importlib.import_module("celery.signals")
        except Exception:
            return
    shutdown = getattr(signals, "worker_process_shutdown", None)
    if shutdown is None:
        return
    try:
        shutdown.connect(_on_worker_process_shutdown, weak=False, dispatch_uid="kafkalog.close_all")
    except Exception:
        return
    _celery_hooked = True


_FORK_IMPORT_WAIT = 10.0
os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
