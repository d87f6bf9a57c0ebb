"""The background worker: a bounded queue the application fills, and one thread per process that empties it.

The application's side (:meth:`Worker.put`) only appends under a lock; everything that can be slow (connecting,
sending, retrying, backing off) happens on the worker's thread. Lifecycle (exit hook, fork) is per instance,
tracked through a weak registry so forgotten handlers can still be collected.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass

from . import _lifecycle as lifecycle
from ._report import ErrorReporter
from ._retry import Backoff
from ._spool_pipe import SpoolPipe
from ._stats import Counters, Stats
from .config import KafkaLogConfig
from .errors import DeliveryError
from .typing import Message, Transport

_orphans: list[Transport] = []  # a parent's transports in a forked child: never used, closed or collected there
_IDLE_WAIT = 1.0
RECORD_OVERHEAD = 256
"""Bytes charged per queued record on top of its key and value: the Python objects that hold it (measured ~250 B),
so queue_max_bytes bounds the memory the queue really takes."""
_KEPT_BY_SPOOL = frozenset({"auth_failed", "not_authorized", "tls_error", "broker_error", "timeout"})
_JOIN_SLACK = 0.5


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
    """Owns the queue, the thread and the transport of one handler or sink."""

    def __init__(self, config: KafkaLogConfig, name: str) -> None:
        self.config = config
        self.name = name
        self.close_report: CloseReport | None = None
        self._closed = False
        self._reporter = ErrorReporter(name, config.on_error, config.error_interval, config.scrub,
                                       on_deferred=self._deferred_report)
        self._backoff = Backoff(config.retry_backoff, config.retry_backoff_max)
        self._new_process_state()
        lifecycle.track(self)
        if config.handle_sigterm:
            lifecycle.install_sigterm_handler()
        if config.spool_dir is not None:
            self._start_thread()  # deliver what earlier processes left in the spool without waiting for a record

    def _new_process_state(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # queue space freed, records settled
        self._wake = threading.Event()  # records arrived, flush or close asked
        self._stop = threading.Event()  # close asked: cut backoff sleeps short
        self._queue: deque[tuple[Message, int]] = deque()
        self._queue_bytes = 0
        self._in_flight = 0
        self._settled = 0
        self._counters = Counters()
        self._thread: threading.Thread | None = None
        self.thread_idents: frozenset[int | None] = frozenset()  # the worker's threads, to filter their records
        self._transport: Transport | None = None
        self._connected = False
        self._open_failures = 0
        self._open_not_before = 0.0
        self._open_error: DeliveryError | None = None
        self._spool_pending = 0
        self._spool_ready = threading.Event()  # the spool's pending count is known (or there is no spool)
        if self.config.spool_dir is None:
            self._spool_ready.set()
        self._deadline: float | None = None if not self._closed else time.monotonic()
        self._pid = os.getpid()
        self._pending_since = time.time()  # when pending last went from none to some

    def reset_after_fork(self) -> None:
        """In a forked child: keep the config, start over with a fresh queue, lock, thread and transport."""
        if self._transport is not None:
            _orphans.append(self._transport)
        self._new_process_state()
        self._reporter.reset_after_fork()

    # --- the application's side -------------------------------------------------------------------------------

    def put(self, message: Message) -> bool:
        """Queue one record without blocking (except under ``overflow="block"``); False if it was dropped."""
        if self._thread is None:
            self._start_thread()
        size = len(message.value) + (len(message.key) if message.key else 0) + RECORD_OVERHEAD
        config = self.config
        with self._lock:
            counters = self._counters
            counters.seen += 1
            if self._closed:
                reason = "closed"
            elif size > config.queue_max_bytes:
                reason = "too_large"
            elif (len(self._queue) >= config.queue_max_records
                    or self._queue_bytes + size > config.queue_max_bytes) and not self._make_room(size):
                reason = "queue_full"
            else:
                if not self._queue and not self._in_flight:
                    self._pending_since = time.time()
                self._queue.append((message, size))
                self._queue_bytes += size
                counters.enqueued += 1
                depth = len(self._queue)
                reason = ""
            if reason:
                counters.dropped[reason] += 1
                counters.last_drop_at = time.time()
        if reason:
            self._report_drop(reason)
            return False
        if depth in (1, config.batch_max_records):
            self._wake.set()
        return True

    def _report_drop(self, reason: str) -> None:
        config = self.config
        why = {
            "closed": "the handler is closed",
            "too_large": f"a record is over queue_max_bytes={config.queue_max_bytes}",
            "queue_full": (f"the queue is full (queue_max_records={config.queue_max_records}, queue_max_bytes="
                           f"{config.queue_max_bytes}, overflow={config.overflow!r})"),
        }[reason]
        self._reporter.report(reason, f"dropping records: {why}; see stats().dropped", defer=True)

    def _deferred_report(self) -> None:
        """A report from the application's thread waits: have the worker write it soon."""
        if self._thread is None:
            self._start_thread()
        self._wake.set()

    def count_drop(self, reason: str) -> None:
        """Count a record the caller could not even build or encode."""
        with self._lock:
            self._counters.seen += 1
            self._counters.dropped[reason] += 1
            self._counters.last_drop_at = time.time()

    def count_truncated(self) -> None:
        with self._lock:
            self._counters.truncated += 1

    def _make_room(self, size: int) -> bool:
        """Called with the lock held and the queue full: apply the overflow policy."""
        config = self.config
        if config.overflow == "drop_oldest":
            while self._queue and (len(self._queue) >= config.queue_max_records
                                   or self._queue_bytes + size > config.queue_max_bytes):
                _, old_size = self._queue.popleft()
                self._queue_bytes -= old_size
                self._settled += 1
                self._counters.dropped["queue_full"] += 1
            self._changed.notify_all()
            return True
        if config.overflow == "block" and threading.current_thread() is not self._thread:
            deadline = time.monotonic() + config.block_timeout
            while len(self._queue) >= config.queue_max_records or self._queue_bytes + size > config.queue_max_bytes:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    return False
                self._changed.wait(remaining)
            return True
        return False

    def _start_thread(self) -> None:
        with self._lock:
            if self._thread is not None or self._closed:
                return
            thread = threading.Thread(target=self._run, name=f"kafkalog-{self.name}", daemon=True)
            self._thread = thread
        try:
            thread.start()
        except RuntimeError as exc:  # e.g. "can't create new thread at interpreter shutdown"
            self._reporter.report("worker", f"cannot start the worker thread: {exc}")

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every record queued before this call is delivered or dropped; False if ``timeout`` passed."""
        timeout = self.config.flush_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        if not self._spool_ready.wait(timeout):
            return False
        with self._lock:
            target = self._counters.enqueued
            if self._settled >= target and not self._spool_pending:
                return True
            if self.close_report is not None or threading.current_thread() is self._thread:
                return False  # closed (what is left will not move) or called from the worker itself
        self._wake.set()
        with self._lock:
            while self._settled < target or self._spool_pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
        return True

    def begin_close(self, timeout: float | None = None) -> None:
        """Stop taking records and tell the worker to drain until ``timeout`` (default close_timeout) from now."""
        timeout = self.config.close_timeout if timeout is None else timeout
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._deadline = time.monotonic() + timeout
            self._changed.notify_all()
        self._stop.set()
        self._wake.set()

    def close(self, timeout: float | None = None) -> CloseReport:
        """Drain within ``timeout`` seconds (default close_timeout), then return, whatever the broker does."""
        if self.close_report is not None:
            return self.close_report
        started = time.monotonic()
        self.begin_close(timeout)
        thread = self._thread
        deadline = self._deadline if self._deadline is not None else started
        if thread is not None and thread is not threading.current_thread() and thread.is_alive():
            thread.join(max(0.0, deadline - time.monotonic()) + _JOIN_SLACK)
        with self._lock:
            left = len(self._queue)
            if left:
                self._counters.dropped["shutdown"] += left
                self._settled += left
                self._queue.clear()
                self._queue_bytes = 0
                self._changed.notify_all()
            in_flight = self._in_flight
            delivered = self._counters.delivered
            shutdown_drops = self._counters.dropped.get("shutdown", 0)
            spooled = self._spool_pending
        self._reporter.flush_deferred()
        report = CloseReport(delivered=delivered, left=shutdown_drops + in_flight,
                             timed_out=bool(shutdown_drops + in_flight + spooled), elapsed=time.monotonic() - started,
                             spooled=spooled)
        self.close_report = report
        if report.left or report.spooled:
            last = self._reporter.last_error or ("none" if self._connected else "none yet, still connecting")
            kept = f", {report.spooled} kept in {self.config.spool_dir} for the next start" if report.spooled else ""
            self._reporter.report("shutdown", f"closed with {report.left} record(s) undelivered{kept} after "
                                              f"{report.elapsed:.1f}s (last error: {last})")
        self._reporter.muted = True
        lifecycle.untrack(self)
        return report

    def stats(self) -> Stats:
        with self._lock:
            c = self._counters
            thread = self._thread
            return Stats(
                seen=c.seen, enqueued=c.enqueued, delivered=c.delivered, failed=c.failed, retried=c.retried,
                truncated=c.truncated, dropped=dict(c.dropped), queue_depth=len(self._queue),
                queue_bytes=self._queue_bytes, in_flight=self._in_flight,
                last_error=self._reporter.last_error, last_error_at=self._reporter.last_error_at,
                last_delivery_at=c.last_delivery_at, connected=self._connected,
                worker_alive=thread is not None and thread.is_alive(), closed=self._closed, pid=self._pid,
                spooled=c.spooled, replayed=c.replayed, spool_pending=self._spool_pending,
                pending_since=self._pending_since, last_drop_at=c.last_drop_at)

    # --- the worker thread --------------------------------------------------------------------------------

    def _run(self) -> None:
        self.add_own_thread()
        pipe = SpoolPipe.open(self) if self.config.spool_dir is not None else None
        try:
            if pipe is not None:
                pipe.run()
                return
            self._spool_ready.set()
            while True:
                batch = self._take()
                if batch is None:
                    break
                try:
                    self._deliver(batch)
                except Exception as exc:  # never let the thread die silently: count and go on
                    self._reporter.report("internal_error", f"{type(exc).__name__}: {exc}")
        finally:
            self._close_transport()

    def add_own_thread(self) -> None:
        """Mark the calling thread as one of this worker's: what is logged on it is never shipped."""
        with self._lock:
            self.thread_idents = self.thread_idents | {threading.get_ident()}

    def _past_deadline(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    def _take(self, drain: bool = False) -> list[Message] | None:
        """The next batch, waiting for records (and ``linger`` to gather more); None once closed and drained.

        ``drain`` (the spool's ingest) keeps taking after the close deadline: writing to disk is quick and is
        what keeps those records.
        """
        config = self.config
        while True:
            self._reporter.flush_deferred()
            with self._lock:
                depth = len(self._queue)
                if self._deadline is not None and (depth == 0 or (not drain and self._past_deadline())):
                    return None
                if depth:
                    count = min(depth, config.batch_max_records)
                    popleft = self._queue.popleft
                    taken = [popleft() for _ in range(count)]
                    self._queue_bytes -= sum(size for _, size in taken)
                    self._in_flight = count
                    self._changed.notify_all()
                    return [message for message, _ in taken]
            self._wake.wait(_IDLE_WAIT)
            self._wake.clear()
            if config.linger and not drain and self._deadline is None and len(self._queue) < config.batch_max_records:
                self._wake.wait(config.linger)
                self._wake.clear()

    def _deliver(self, batch: list[Message], from_spool: bool = False, replay: bool = False) -> bool:
        """Send a batch until each record is delivered or dropped with a reason; retry with backoff.

        From the spool there is no give-up time and auth errors are retried (the spool keeps records until the
        broker takes them); at the close deadline such a batch is left on disk and False is returned.
        """
        config = self.config
        queued = not from_spool
        started = time.monotonic()
        outstanding = batch
        attempt = 0
        try:
            while outstanding:
                if self._past_deadline():
                    if from_spool:
                        return False
                    pending, outstanding = outstanding, []
                    self._settle(0, Counter({"shutdown": len(pending)}), 0)
                    break
                results = self._send(outstanding)
                retry: list[Message] = []
                drops: Counter[str] = Counter()
                delivered = 0
                first_error: DeliveryError | None = None
                for message, result in zip(outstanding, results, strict=True):
                    if result is None:
                        delivered += 1
                        continue
                    error = result if isinstance(result, DeliveryError) else DeliveryError(
                        "transport_error", f"{type(result).__name__}: {result}", retriable=True)
                    first_error = first_error or error
                    if error.retriable or (from_spool and error.reason in _KEPT_BY_SPOOL):
                        retry.append(message)
                    else:
                        drops[error.reason] += 1
                if retry and queued and time.monotonic() - started >= config.delivery_timeout:
                    drops["delivery_timeout"] += len(retry)
                    retry = []
                failed = len(outstanding) - delivered
                outstanding = retry
                self._settle(delivered, drops, failed, retried=len(retry), queued=queued, replay=replay)
                if first_error is not None:
                    self._connected = delivered > 0
                    self._reporter.report(first_error.reason, f"{failed} record(s) not delivered: {first_error}")
                if retry:
                    self._pause(self._backoff.delay(attempt))
                    attempt += 1
        finally:
            if outstanding and queued:  # only on an unexpected exception: the records must still be counted
                self._settle(0, Counter({"internal_error": len(outstanding)}), 0)
        return True

    def _pause(self, delay: float) -> None:
        """Back off before a retry; once closing, never past the close deadline (and never a busy loop)."""
        self._reporter.flush_deferred()
        if self._deadline is None and not self._stop.wait(delay):
            return
        deadline = self._deadline
        if deadline is not None:
            time.sleep(max(0.0, min(delay, deadline - time.monotonic())))

    def _send(self, messages: list[Message]) -> list[BaseException | None]:
        error = self._open() if self._transport is None else None
        transport = self._transport
        if error is not None or transport is None:
            return [error] * len(messages)
        timeout = self.config.delivery_timeout + 5.0
        if self._deadline is not None:
            timeout = max(0.0, self._deadline - time.monotonic())
        try:
            results = transport.send(messages, timeout)
        except Exception as exc:
            return [DeliveryError("transport_error", f"{type(exc).__name__}: {exc}", retriable=True)] * len(messages)
        if len(results) != len(messages):
            bad = DeliveryError("transport_error", "transport returned a wrong number of outcomes", retriable=True)
            return [bad] * len(messages)
        return results

    def _open(self) -> DeliveryError | None:
        now = time.monotonic()
        if now < self._open_not_before and self._open_error is not None:
            return self._open_error
        try:
            spec = self.config.transport_spec
            lifecycle.import_client(spec.client_modules)
            transport = spec.factory(self.config.transport_settings)
            transport.open()
        except Exception as exc:
            error = exc if isinstance(exc, DeliveryError) else DeliveryError(
                "transport_error", f"{type(exc).__name__}: {exc}", retriable=True)
            self._open_error = error
            self._open_not_before = now + self._backoff.delay(self._open_failures)
            self._open_failures += 1
            self._connected = False
            return error
        self._transport = transport
        self._open_failures = 0
        self._open_error = None
        lifecycle.register_exit_hook()
        return None

    def _settle(self, delivered: int, drops: Counter[str], failed: int, *, retried: int = 0, queued: bool = True,
                replay: bool = False) -> None:
        with self._lock:
            c = self._counters
            settled = delivered + sum(drops.values())
            c.delivered += delivered
            if replay:
                c.replayed += delivered
            c.failed += failed
            c.retried += retried
            if drops:
                c.dropped.update(drops)
                c.last_drop_at = time.time()
            if delivered:
                c.last_delivery_at = time.time()
                self._connected = True
            if queued:
                self._in_flight -= settled
                self._settled += settled
            self._changed.notify_all()

    def _spooled(self, taken: int, stored: int, dropped: int, pending: int) -> None:
        """The ingest thread wrote ``stored`` of ``taken`` queued records to the spool (``dropped``: spool full)."""
        with self._lock:
            self._counters.spooled += stored
            if dropped:
                self._counters.dropped["spool_full"] += dropped
            self._in_flight -= taken
            self._settled += taken
            self._spool_pending = pending
            self._changed.notify_all()

    def _spool_changed(self, pending: int, corrupt: int = 0, evicted: int = 0) -> None:
        with self._lock:
            self._spool_pending = pending
            if corrupt:
                self._counters.dropped["spool_corrupt"] += corrupt
            if evicted:
                self._counters.dropped["spool_full"] += evicted
            self._changed.notify_all()

    def _close_transport(self) -> None:
        transport, self._transport = self._transport, None
        if transport is None:
            return
        remaining = 0.2 if self._deadline is None else max(0.2, self._deadline - time.monotonic())
        try:
            transport.close(remaining)
        except Exception as exc:
            self._reporter.report("close", f"transport close failed: {type(exc).__name__}: {exc}")
