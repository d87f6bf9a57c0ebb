"""Celery's pool children end with billiard's ``os._exit``: its ``worker_process_shutdown`` signal is the only hook
that runs before it."""

from __future__ import annotations

import importlib
import sys

from ._exit import close_all

_hooked = False


def hooked() -> bool:
    return _hooked


def _on_worker_process_shutdown(*args: object, **kwargs: object) -> None:
    close_all()


def hook_celery(importing: bool) -> None:
    """Connect our drain to celery's ``worker_process_shutdown``, once, when celery is loaded.

    ``importing`` is False in the before-fork hook (no import may start there): celery.signals must then be loaded.
    """
    global _hooked
    if _hooked or "celery" not in sys.modules:
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
    _hooked = True
