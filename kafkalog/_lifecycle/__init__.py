"""Process lifecycle for every live worker: interpreter exit, SIGTERM, fork, process pools and task workers.

Hooks are registered once per process and reach workers through a weak registry (:mod:`._registry`), so a handler
that is dropped without ``close()`` can still be collected. Every way a process can end runs :func:`close_all`
where the process leaves a chance to run code: atexit (:mod:`._exit`), multiprocessing/billiard exit finalizers
and the threading shutdown hook (:mod:`._pools`; ``os._exit`` follows them), celery's ``worker_process_shutdown``
(:mod:`._celery`; billiard pool children ``os._exit`` without finalizers), and SIGTERM (:mod:`._signals`). Forks
are handled in :mod:`._fork`, the client's import in :mod:`._client_import`.
"""

from __future__ import annotations

from . import _fork, _registry  # noqa: F401  (importing _fork registers the fork hooks)
from ._client_import import import_client
from ._exit import close_all, register_exit_hook
from ._pools import hook_process_exits
from ._registry import Closable, live, untrack
from ._signals import draining, install_sigterm_handler

__all__ = ["Closable", "close_all", "draining", "hook_process_exits", "import_client", "install_sigterm_handler",
           "live", "register_exit_hook", "track", "untrack"]


def track(worker: Closable) -> None:
    """Register a new worker, and make sure every exit path of this process drains it (whoever created it)."""
    _registry.add(worker)
    register_exit_hook()
    hook_process_exits()
