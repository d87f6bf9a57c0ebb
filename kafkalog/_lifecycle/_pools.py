"""Process pools (multiprocessing, billiard): their processes end with ``os._exit`` after their exit finalizers,
skipping atexit, so the drain is added as a finalizer and as a threading shutdown hook."""

from __future__ import annotations

import os
import sys
import threading
from functools import partial

from . import _celery, _registry
from ._exit import close_all
from ._process import POOL_MODULES, in_pool_child
from ._signals import watch_pool_sigterm


class _ForkToken:
    """Anchor for multiprocessing's after-fork registry (it holds its keys weakly)."""


_FORK_TOKEN = _ForkToken()
_FINALIZER_PRIORITY = 100
_finalizer_pids: dict[str, int] = {}  # module -> the process its Finalize was registered in
_after_fork_hooked: set[str] = set()  # inherited by forked children, like the registry it stands for
_shutdown_drain_pid = 0


def hook_process_exits(importing: bool = True) -> None:
    """Drain in processes that end with ``os._exit``: once per process and per module already loaded.

    multiprocessing (and billiard) children run their exit finalizers, then ``os._exit``, skipping atexit;
    at start they clear the finalizers inherited at fork, then run the after-fork callbacks. So: a Finalize in
    this process (a handler created here, e.g. in a pool's ``initializer``), and an after-fork callback that adds
    one in each forked child that inherits a live worker. Under celery, its ``worker_process_shutdown`` signal
    (sent by billiard before its ``os._exit``) drains too. ``importing`` is False in the before-fork hook.
    """
    for name in POOL_MODULES:
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
    _celery.hook_celery(importing)


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


def _add_thread_shutdown_drain() -> None:
    """In a multiprocessing child, drain again from ``threading._shutdown``, which the child's bootstrap always runs.

    A SIGTERM (``Pool.terminate()``) that lands right at the entry of multiprocessing's exit function, before it
    marks the process as exiting, raises there: every finalizer, ours too, is skipped and the child ``os._exit``s
    with its records still queued. A no-op when our finalizer already drained (nothing is left live).
    """
    global _shutdown_drain_pid
    pid = os.getpid()
    register = getattr(threading, "_register_atexit", None)
    if _shutdown_drain_pid == pid or register is None or not in_pool_child():
        return
    try:
        register(_drain_at_thread_shutdown)
    except Exception:  # "can't register atexit after shutdown"
        return
    _shutdown_drain_pid = pid


def _drain_at_thread_shutdown() -> None:
    if _registry.any_live():
        try:
            close_all()
        except Exception:
            pass


def _after_fork_finalizer(name: str, token: object) -> None:
    if not _registry.any_live():
        return
    _add_finalizer(name)
    watch_pool_sigterm()
    if name == "billiard.util" and not _celery.hooked():
        _say_billiard_pool_needs_close()


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
