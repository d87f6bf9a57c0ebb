"""A SIGTERM must never be left unhandled in a pool process that runs kafkalog's Python-level SIGTERM handler.

A Python-level handler runs only when the main thread gets back to Python code. ``Pool.terminate()`` takes the
task queue's lock and SIGTERMs the pool processes: one whose SIGTERM lands just before it blocks on that lock
waits there forever with the handler pending, and the application hangs in ``Pool.__exit__`` (true of any Python
SIGTERM handler in pool processes). The signal's arrival is seen on a wakeup fd by a thread of ours; if the
handler has not run shortly after, the signal is sent again to the main thread, which interrupts the wait
(multiprocessing's lock waits run pending handlers when interrupted).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable

_GRACE = 0.5
_RESENDS = 10


def unblock_sigterm_here() -> None:
    """Our own threads accept SIGTERM even when started from a thread that holds it: process-directed signals
    must still find a thread to run the Python handler (or the default action)."""
    try:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    except (AttributeError, OSError, ValueError):
        pass


def watch_sigterm(handled: Callable[[], int]) -> bool:
    """Start the watchdog (main thread only); ``handled()`` counts the runs of the Python handler.

    Only where no wakeup fd is set (asyncio sets its own, and its loop never blocks on such a lock anyway).
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    try:
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        if signal.set_wakeup_fd(write_end, warn_on_full_buffer=False) != -1:  # someone else's: put it back
            signal.set_wakeup_fd(-1)
            os.close(read_end)
            os.close(write_end)
            return False
    except (ValueError, OSError):
        return False
    main = threading.main_thread().ident
    try:
        threading.Thread(target=_watch, args=(read_end, main, handled), name="kafkalog-sigterm",
                         daemon=True).start()
    except RuntimeError:
        return False
    return True


def _watch(read_end: int, main: int | None, handled: Callable[[], int]) -> None:
    unblock_sigterm_here()
    while True:
        try:
            got = os.read(read_end, 64)
        except OSError:
            return
        if not got:
            return
        if signal.SIGTERM not in got:
            continue
        before = handled()
        for _ in range(_RESENDS):
            time.sleep(_GRACE)
            if handled() != before or main is None:
                break
            try:
                signal.pthread_kill(main, signal.SIGTERM)
            except (OSError, ValueError):
                break
