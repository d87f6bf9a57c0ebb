"""What kind of process this is: a multiprocessing/billiard pool process, and whether it has begun to exit."""

from __future__ import annotations

import sys

POOL_MODULES = ("multiprocessing.util", "billiard.util")
"""The pool libraries whose processes run exit finalizers and then ``os._exit`` (skipping atexit)."""


def in_pool_child() -> bool:
    """True in a process started by multiprocessing (fork or spawn)."""
    process = sys.modules.get("multiprocessing.process")
    try:
        return process is not None and process.parent_process() is not None
    except Exception:
        return False


def running_exit_finalizers() -> bool:
    """True once a pool process has begun its exit finalizers (our drain among them): too late to raise there."""
    for name in POOL_MODULES:
        module = sys.modules.get(name)
        try:
            if module is not None and module.is_exiting():
                return True
        except Exception:
            pass
    return False
