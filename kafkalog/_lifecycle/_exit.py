"""The drain every way out of a process runs: atexit here, and the pool and celery hooks (see :mod:`._pools`)."""

from __future__ import annotations

import atexit

from . import _registry
from ._signals import draining, release_held_sigterm


def close_all() -> None:
    """Drain every live worker within its own close_timeout, all at the same time; a SIGTERM cannot cut it short.

    Runs only on the ways out of a process (atexit, pool finalizers, celery's child shutdown), then lets a SIGTERM
    we held back (see :func:`._signals._on_sigterm`) end the process as its sender intended.
    """
    with draining():
        workers = _registry.live()
        for worker in workers:
            worker.begin_close()
        for worker in workers:
            worker.close()
    release_held_sigterm()


def register_exit_hook() -> None:
    """(Re-)register the exit hook so it runs before hooks registered earlier, such as kafka-python's.

    atexit runs newest-first; calling this after each producer is created keeps ours ahead of its ``close(1)``,
    and ``logging.shutdown`` and loguru's hook, registered at import, always run after ours.
    """
    atexit.unregister(close_all)
    atexit.register(close_all)
