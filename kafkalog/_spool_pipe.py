"""The write-ahead path used when ``spool_dir`` is set: the queue drains to disk, a sender delivers from disk.

Two threads, so a send that blocks on a dead broker never stops the queue from draining: the ingest thread
appends queued records to the spool, the worker's own thread reads the oldest records back, sends them and
commits them once each is delivered or dropped for good. Records still on disk at exit (or after SIGKILL) are
delivered by the next process that uses the same directory: at-least-once.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from .spool import DiskSpool

if TYPE_CHECKING:
    from ._worker import Worker

_IDLE_WAIT = 1.0


class SpoolPipe:
    """Owns the spool of one worker in one process; all spool calls go through its lock."""

    def __init__(self, worker: Worker, spool: DiskSpool) -> None:
        self._worker = worker
        self._spool = spool
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._ingest_done = threading.Event()
        self._evicted = 0
        self._corrupt = 0

    @classmethod
    def open(cls, worker: Worker) -> SpoolPipe | None:
        """The pipe for ``worker``'s spool directory, or None (reported) when the directory is unusable."""
        config = worker.config
        assert config.spool_dir is not None
        try:
            spool = DiskSpool(config.spool_dir, max_bytes=config.spool_max_bytes,
                              segment_bytes=config.spool_segment_bytes, full_policy=config.spool_full_policy,
                              fsync=config.spool_fsync)
        except OSError as exc:
            worker._reporter.report("spool", f"cannot use spool_dir {config.spool_dir!r}, keeping records in "
                                             f"memory only: {exc}")
            return None
        return cls(worker, spool)

    def run(self) -> None:
        """On the worker's thread: start ingesting, deliver from disk until closed (or the deadline), then stop."""
        worker = self._worker
        ingest = threading.Thread(target=self._ingest, name=f"kafkalog-{worker.name}-spool", daemon=True)
        ingest.start()
        try:
            self._refresh()
            worker._spool_ready.set()
            self._send_loop()
        finally:
            deadline = worker._deadline  # None only if the send loop failed: do not wait on the queue then
            ingest.join(0.2 if deadline is None else max(0.0, deadline - time.monotonic()) + 0.2)
            with self._lock:
                self._refresh_locked()
                self._spool.close()

    def _ingest(self) -> None:
        worker = self._worker
        worker.add_own_thread()
        try:
            while True:
                batch = worker._take(drain=True)
                if batch is None:
                    break
                with self._lock:
                    result = self._spool.append(batch)
                    pending = self._spool.pending_records()
                    evicted = self._take_delta("dropped_full")
                    if self._spool.last_error and result.dropped:
                        worker._reporter.report("spool", self._spool.last_error)
                worker._spooled(len(batch), result.stored, result.dropped + evicted, pending)
                self._wake.set()
        except Exception as exc:  # never die silently; what was taken is counted by the worker's close()
            worker._reporter.report("internal_error", f"spool ingest: {type(exc).__name__}: {exc}")
        finally:
            self._ingest_done.set()
            self._wake.set()

    def _send_loop(self) -> None:
        worker = self._worker
        batch_max = worker.config.batch_max_records
        while True:
            with self._lock:
                batch = self._spool.read(batch_max)
                self._refresh_locked()
            if batch is None:
                if self._ingest_done.is_set() or worker._past_deadline():
                    return
                self._wake.wait(_IDLE_WAIT)
                self._wake.clear()
                continue
            if not worker._deliver(batch.messages, from_spool=True, replay=batch.foreign):
                return  # close deadline: the batch stays on disk for the next start
            with self._lock:
                self._spool.commit(batch)
                self._refresh_locked()

    def _take_delta(self, name: str) -> int:
        value = int(getattr(self._spool, name))
        attr = "_evicted" if name == "dropped_full" else "_corrupt"
        delta = value - int(getattr(self, attr))
        setattr(self, attr, value)
        return delta

    def _refresh(self) -> None:
        with self._lock:
            self._refresh_locked()

    def _refresh_locked(self) -> None:
        corrupt = self._take_delta("corrupt_skipped")
        evicted = self._take_delta("dropped_full")
        self._worker._spool_changed(self._spool.pending_records(), corrupt=corrupt, evicted=evicted)
