"""Buffers: what sits between the application (or a source) and the sender, behind one protocol.

:class:`Buffer` (in :mod:`._base`) is everything the worker asks of one: put, take, settle, finish, the accounting
in its :class:`Ledger`, and acknowledgement tickets for a caller that keeps its records until they are settled.
The size a record is charged (:func:`charge`) is computed there and nowhere else.

* :mod:`._memory`: :class:`MemoryQueue`, bounded, with the overflow policy (handlers, sinks, processors);
* :mod:`._acked`: :class:`AckedQueue`, for a source that keeps its records until acknowledged (``kafkalog tail``);
* :mod:`._spool`: :class:`SpoolQueue`, the disk spool (:mod:`kafkalog.spool`) as a buffer (``spool_dir``).

:func:`open_buffer` chooses one from the configuration.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..config import KafkaLogConfig
from ..spool import DiskSpool
from ._acked import AckedQueue
from ._base import HEADER_OVERHEAD, RECORD_OVERHEAD, Buffer, Ledger, Taken, charge, charge_all
from ._memory import MemoryQueue
from ._spool import SpoolQueue

__all__ = ["HEADER_OVERHEAD", "RECORD_OVERHEAD", "AckedQueue", "Buffer", "Ledger", "MemoryQueue", "SpoolQueue",
           "Taken", "charge", "charge_all", "open_buffer"]


def open_buffer(config: KafkaLogConfig, ledger: Ledger, *, disk: DiskSpool | None, acked: bool,
                wake: Callable[[], None], report: Callable[[str, str], None],
                sender_thread: Callable[[], threading.Thread | None]) -> Buffer:
    """The buffer a worker uses: the spool when it has one (``disk``), else an :class:`AckedQueue` for a caller
    that keeps its records until they are acknowledged (``acked``), else a :class:`MemoryQueue`."""
    if disk is not None:
        return SpoolQueue(config, disk, ledger, wake, report)
    if acked:
        return AckedQueue(config, ledger, wake)
    return MemoryQueue(config, ledger, wake, sender_thread)
