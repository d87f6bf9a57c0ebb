"""The worker of one handler or sink: a queue the application fills and one thread per process that empties it.

The application's side (:meth:`Worker.put`) only appends, to memory or to the spool; everything that can be slow
(connecting, sending, retrying, backing off) happens in the :class:`~kafkalog._sender.Sender` on the worker's
thread. Lifecycle (exit hook, fork) is per instance, tracked through a weak registry so forgotten handlers can
still be collected.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

from . import _lifecycle as lifecycle
from ._report import ErrorReporter
from ._sender import Sender
from ._stats import Stats
from .buffers import Buffer, Ledger, Taken, open_buffer
from .config import KafkaLogConfig
from .errors import Reason
from .spool import DiskSpool
from .typing import Message

_IDLE_WAIT = 1.0
_JOIN_SLACK = 0.5
_STOP_WAIT = 2.0  # the most close() waits for the spool's disk after the worker (only if something holds it)


@dataclass(frozen=True)
class CloseReport:
    """What ``close()`` achieved: ``left`` records were not delivered (dropped as ``shutdown`` or still in flight);
    ``spooled`` records stay in the spool directory for the next process to deliver."""

    delivered: int
    left: int
    timed_out: bool
    elapsed: float
    spooled: int = 0


class Worker:
    """Owns the queue, the thread and the sender of one handler or sink."""

    def __init__(self, config: KafkaLogConfig, name: str, *, acked: bool = False) -> None:
        """``acked``: the caller keeps its records until they are settled (``kafkalog tail``: its files) and
        follows the buffer's tickets (:attr:`buffer`); without a spool they then wait in an ``AckedQueue``."""
        self.config = config
        self.name = name
        self._acked = acked
        self.close_report: CloseReport | None = None
        self._reporter = ErrorReporter(name, config.on_error, config.error_interval, config.scrub,
                                       on_deferred=self._deferred_report)
        self._disk = self._open_spool()
        self._new_process_state()
        lifecycle.track(self)
        if config.handle_sigterm:
            lifecycle.install_sigterm_handler()
        if self._disk is not None:
            self._start_thread()  # deliver what earlier processes left in the spool without waiting for a record

    def _open_spool(self) -> DiskSpool | None:
        config = self.config
        if config.spool_dir is None:
            return None
        try:
            return DiskSpool(config.spool_dir, max_bytes=config.spool_max_bytes,
                             segment_bytes=config.spool_segment_bytes, full_policy=config.spool_full_policy,
                             fsync=config.spool_fsync)
        except OSError as exc:
            self._reporter.report(Reason.SPOOL, f"cannot use spool_dir {config.spool_dir!r}, keeping records in "
                                                f"memory only: {exc}")
            return None

    def _new_process_state(self) -> None:
        self._ledger = ledger = Ledger()
        self._closing = threading.Lock()  # one close at a time; the others get its report
        self._flushing = 0  # flush() calls waiting right now (under the ledger's lock)
        self._wake = threading.Event()  # records arrived, flush or close asked
        self._stop = threading.Event()  # close asked: cut backoff sleeps short
        self._thread: threading.Thread | None = None
        self.thread_idents: frozenset[int | None] = frozenset()  # the worker's threads, to filter their records
        self._queue: Buffer = open_buffer(self.config, ledger, disk=self._disk, acked=self._acked,
                                          wake=self._wake.set, report=self.report,
                                          sender_thread=lambda: self._thread)
        self._sender = Sender(self.config, ledger, self._reporter, self._stop)
        self._pid = os.getpid()

    def reset_after_fork(self) -> None:
        """In a forked child: keep the config, start over with a fresh queue, lock, thread and transport."""
        self._sender.forget_after_fork()
        self._new_process_state()
        self._reporter.reset_after_fork()

    # --- the application's side -------------------------------------------------------------------------------

    @property
    def buffer(self) -> Buffer:
        """This process's buffer (a forked child gets a new one): for a caller that follows its tickets."""
        return self._queue

    def put(self, message: Message, level: int = 0) -> bool:
        """Queue one record without blocking (except where ``overflow`` says "block" for its ``level``); False if
        it was dropped."""
        if self._thread is None:
            self._start_thread()
        reason = self._queue.put(message, level)
        if reason:
            self._report_drop(reason)
            return False
        return True

    def put_many(self, messages: list[Message]) -> int:
        """Queue records in one go (one lock round and one spool write where the buffer can); each is accepted or
        dropped as :meth:`put` would (level 0). Returns how many were handled before the first refused because
        the worker is closing (that one and those after it are counted as dropped ``closed``) or, under
        ``spool_full_policy="block"``, kept off the disk by a disk error (counted as ``spool_error``)."""
        if self._thread is None:
            self._start_thread()
        done, reason = self._queue.put_many(messages)
        if reason:
            self._report_drop(reason)
        return done

    def _report_drop(self, reason: str) -> None:
        config = self.config
        if reason == Reason.SPOOL_ERROR:
            return  # the spool reported it, with the disk's error
        if reason == Reason.QUEUE_FULL:
            why = (f"the queue is full (queue_max_records={config.queue_max_records}, queue_max_bytes="
                   f"{config.queue_max_bytes}, overflow={config.overflow!r})")
        elif reason == Reason.TOO_LARGE:
            why = f"a record is over queue_max_bytes={config.queue_max_bytes}"
        else:
            why = "the handler is closed"
        self.report(reason, f"dropping records: {why}; see stats().dropped")

    def report(self, kind: str, message: str) -> None:
        """Report a problem found on the application's thread: noted at once, written by the worker soon."""
        self._reporter.report(kind, message, defer=True)

    def _deferred_report(self) -> None:
        """A report from the application's thread waits: have the worker write it soon."""
        if self._thread is None:
            self._start_thread()
        self._wake.set()

    def count_drop(self, reason: str) -> None:
        """Count a record the caller could not even build or encode."""
        ledger = self._ledger
        with ledger.lock:
            ledger.counters.seen += 1
            ledger.drop(reason)

    def count_truncated(self) -> None:
        with self._ledger.lock:
            self._ledger.counters.truncated += 1

    def _start_thread(self) -> None:
        with self._ledger.lock:
            if self._thread is not None or self._ledger.closed:
                return
            thread = threading.Thread(target=self._run, name=f"kafkalog-{self.name}", daemon=True)
            self._thread = thread
        try:
            thread.start()
        except RuntimeError as exc:  # e.g. "can't create new thread at interpreter shutdown"
            self._reporter.report(Reason.WORKER, f"cannot start the worker thread: {exc}")

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every record queued before this call is delivered or dropped; False if ``timeout`` passed."""
        timeout = self.config.flush_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        ledger, queue = self._ledger, self._queue
        with ledger.lock:
            target = ledger.counters.enqueued
            if queue.settled_through(target):
                return True
            if self.close_report is not None or threading.current_thread() is self._thread:
                return False  # closed (what is left will not move) or called from the worker itself
        with ledger.lock:
            self._flushing += 1  # the worker does not linger for more records while someone waits
        self._wake.set()
        try:
            with ledger.lock:
                while not queue.settled_through(target):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    ledger.changed.wait(remaining)
            return True
        finally:
            with ledger.lock:
                self._flushing -= 1

    def begin_close(self, timeout: float | None = None) -> None:
        """Stop taking records and tell the worker to drain until ``timeout`` (default close_timeout) from now."""
        timeout = self.config.close_timeout if timeout is None else timeout
        ledger = self._ledger
        with ledger.lock:
            if ledger.closed:
                return
            ledger.closed = True
            ledger.deadline = time.monotonic() + timeout
            ledger.changed.notify_all()
        self._stop.set()
        self._wake.set()

    def close(self, timeout: float | None = None) -> CloseReport:
        """Drain within ``timeout`` seconds (default close_timeout), then return, whatever the broker does."""
        with self._closing:  # the exit hook and a close handed to a helper thread may meet here
            if self.close_report is None:
                self.close_report = self._close(timeout)
            return self.close_report

    def _close(self, timeout: float | None) -> CloseReport:
        started = time.monotonic()
        self.begin_close(timeout)
        thread = self._thread
        deadline = self._ledger.deadline if self._ledger.deadline is not None else started
        if thread is not None and thread is not threading.current_thread() and thread.is_alive():
            thread.join(max(0.0, deadline - time.monotonic()) + _JOIN_SLACK)
        self._queue.stop(_STOP_WAIT)
        with self._ledger.lock:
            _, _, in_flight, spooled = self._queue.pending()
            delivered = self._ledger.counters.delivered
            shutdown_drops = self._ledger.counters.dropped.get(Reason.SHUTDOWN, 0)
        self._reporter.flush_deferred()
        left = shutdown_drops + in_flight
        report = CloseReport(delivered=delivered, left=left, timed_out=bool(left + spooled),
                             elapsed=time.monotonic() - started, spooled=spooled)
        if report.left or report.spooled:
            last = self._reporter.last_error or ("none" if self._sender.connected else "none yet, still connecting")
            where = self.config.spool_dir or "their source (read again)"
            kept = f", {report.spooled} kept in {where} for the next start" if report.spooled else ""
            self._reporter.report(Reason.SHUTDOWN, f"closed with {report.left} record(s) undelivered{kept} after "
                                                   f"{report.elapsed:.1f}s (last error: {last})")
        self._reporter.muted = True
        lifecycle.untrack(self)
        return report

    def stats(self) -> Stats:
        ledger = self._ledger
        with ledger.lock:
            c = ledger.counters
            depth, queue_bytes, in_flight, spool_pending = self._queue.pending()
            thread = self._thread
            return Stats(
                seen=c.seen, enqueued=c.enqueued, delivered=c.delivered, failed=c.failed, retried=c.retried,
                truncated=c.truncated, dropped=dict(c.dropped), queue_depth=depth, queue_bytes=queue_bytes,
                in_flight=in_flight, last_error=self._reporter.last_error, last_error_at=self._reporter.last_error_at,
                last_delivery_at=c.last_delivery_at, connected=self._sender.connected,
                worker_alive=thread is not None and thread.is_alive(), closed=ledger.closed, pid=self._pid,
                spooled=c.spooled, replayed=c.replayed, spool_pending=spool_pending,
                pending_since=ledger.pending_since, last_drop_at=c.last_drop_at)

    # --- the worker thread --------------------------------------------------------------------------------

    def _run(self) -> None:
        self.add_own_thread()
        queue, sender = self._queue, self._sender
        try:
            while True:
                taken = self._next_batch(queue)
                if taken is None:
                    break
                try:
                    complete = sender.deliver(queue, taken)
                except Exception as exc:  # never let the thread die silently: report, and go on
                    self._reporter.report(Reason.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}")
                    complete = not queue.durable  # memory: the sender counted them; the spool keeps them
                    if queue.durable:
                        queue.finish(taken, False)
                        sender.pause_after_error()
                        continue
                queue.finish(taken, complete)
                if not complete:
                    break  # the close deadline passed with the batch still on disk
        finally:
            sender.close()
            queue.stop(_STOP_WAIT)
            with self._ledger.lock:
                self.thread_idents = self.thread_idents - {threading.get_ident()}

    def add_own_thread(self) -> None:
        """Mark the calling thread as one of this worker's: what is logged on it is never shipped."""
        with self._ledger.lock:
            self.thread_idents = self.thread_idents | {threading.get_ident()}

    def _next_batch(self, queue: Buffer) -> Taken | None:
        """The next batch, waiting for records (and ``linger`` to gather more); None once closed and drained."""
        config = self.config
        ledger = self._ledger
        while True:
            self._reporter.flush_deferred()
            if ledger.deadline is not None and (queue.empty() or ledger.past_deadline()):
                return None
            taken = queue.take(config.batch_max_records)
            if taken is not None:
                return taken
            self._wake.wait(_IDLE_WAIT)
            self._wake.clear()  # a flush() that set it just before is seen below by its count, not by the event
            if config.linger and not queue.durable and ledger.deadline is None and not self._flushing \
                    and queue.pending()[0] < config.batch_max_records:
                self._wake.wait(config.linger)
                self._wake.clear()
