"""The disk spool: an on-disk, append-only write-ahead buffer that survives a restart or a crash.

:class:`DiskSpool` keeps records in segment files (:mod:`._format` has the layout, :mod:`._directory` the files and
locks shared by processes); :class:`SpoolQueue` makes it the worker's queue when ``spool_dir`` is set.
"""

from __future__ import annotations

from ._disk import DiskSpool, SpoolAppend, SpoolBatch
from ._queue import SpoolQueue

__all__ = ["DiskSpool", "SpoolAppend", "SpoolBatch", "SpoolQueue"]
