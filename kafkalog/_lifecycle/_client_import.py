"""Importing the Kafka client on a worker thread so that a fork can never cut the import in half."""

from __future__ import annotations

import importlib
import sys
import threading

from .._client_noise import quiet_client_warnings
from .._watchdog import unblock_sigterm_here

_FORK_IMPORT_WAIT = 10.0
_LAZY_STDLIB = ("encodings.idna",)
"""Imported lazily by the first ``getaddrinfo``/``connect`` on the client's network thread: a fork during that
import leaves the child "unknown encoding: idna" for good (it never connects). Import them here, under the guard."""

_importing = threading.Condition()
_imports_running = 0


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


def wait_for_imports() -> None:
    """Before a fork: let the imports running on other threads finish (up to a bound)."""
    with _importing:
        _importing.wait_for(lambda: _imports_running == 0, timeout=_FORK_IMPORT_WAIT)


def reset_after_fork() -> None:
    """In a forked child: the lock may have been held by a thread that does not exist here."""
    global _importing, _imports_running
    _importing = threading.Condition()
    _imports_running = 0
