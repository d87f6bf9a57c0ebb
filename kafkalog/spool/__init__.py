"""The disk spool: an on-disk, append-only write-ahead buffer that survives a restart or a crash.

:class:`DiskSpool` keeps records in segment files (:mod:`._format` has the layout, :mod:`._directory` the files and
locks shared by processes); :class:`kafkalog.buffers.SpoolQueue` makes it the worker's buffer when ``spool_dir`` is
set.
"""

from __future__ import annotations

from typing import Any

from ._disk import DiskSpool, SpoolAppend, SpoolBatch

__all__ = ["DiskSpool", "SpoolAppend", "SpoolBatch", "SpoolQueue"]


def __getattr__(name: str) -> Any:
    """``kafkalog.spool.SpoolQueue`` (its old home) still imports: it lives in :mod:`kafkalog.buffers` now."""
    if name == "SpoolQueue":
        from ..buffers import SpoolQueue

        return SpoolQueue
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
