"""The sender: opens the transport with backoff and delivers batches, retrying until each record is settled.

It runs on the worker's thread only and knows Kafka clients only through the :class:`~kafkalog.typing.Transport`
protocol. Every outcome goes back to the queue the batch came from (:meth:`~kafkalog.buffers.Buffer.settle`).
"""

from __future__ import annotations

import threading
import time
from collections import Counter

from . import _lifecycle as lifecycle
from ._report import ErrorReporter
from ._retry import Backoff
from ._watchdog import unblock_sigterm_here
from .buffers import Buffer, Ledger, Taken
from .config import KafkaLogConfig
from .errors import DeliveryError, Reason
from .typing import Message, Transport

_orphans: list[Transport] = []  # a parent's transports in a forked child: never used, closed or collected there


def as_delivery_error(result: BaseException) -> DeliveryError:
    """A transport's outcome as a DeliveryError (a transport should return one; anything else is retriable)."""
    if isinstance(result, DeliveryError):
        return result
    return DeliveryError(Reason.TRANSPORT_ERROR, f"{type(result).__name__}: {result}", retriable=True)


def send_once(transport: Transport, messages: list[Message], timeout: float) -> list[BaseException | None]:
    """One attempt: each message's outcome, None when delivered (an error: :func:`as_delivery_error` reads it);
    never raises. The worker's attempts and ``kafkalog check``'s probe both go through here, so they read a
    transport's outcomes alike."""
    try:
        results = transport.send(messages, timeout)
    except Exception as exc:
        return [as_delivery_error(exc)] * len(messages)
    if len(results) != len(messages):
        bad = DeliveryError(Reason.TRANSPORT_ERROR, "transport returned a wrong number of outcomes", retriable=True)
        return [bad] * len(messages)
    return results


class Sender:
    """Owns one transport in one process; ``connected`` is true while the last attempt reached the broker."""

    def __init__(self, config: KafkaLogConfig, ledger: Ledger, reporter: ErrorReporter,
                 stop: threading.Event) -> None:
        self.config = config
        self._ledger = ledger
        self._reporter = reporter
        self._stop = stop  # set by close: cut backoff sleeps short
        self._backoff = Backoff(config.retry_backoff, config.retry_backoff_max)
        self._transport: Transport | None = None
        self.connected = False
        self._open_failures = 0
        self._open_not_before = 0.0
        self._open_error: DeliveryError | None = None

    def forget_after_fork(self) -> None:
        """In a forked child: the parent's transport is kept referenced, never used or closed here."""
        if self._transport is not None:
            _orphans.append(self._transport)
            self._transport = None

    def deliver(self, queue: Buffer, taken: Taken) -> bool:
        """Send ``taken`` until each record is delivered or dropped with a reason; retry with backoff.

        From a durable queue (the spool) there is no give-up time and the errors the spool waits out are
        retried; at the close deadline such a batch is left where it is and False is returned. From memory, what
        is left at the deadline is dropped as ``shutdown``.
        """
        config = self.config
        started = time.monotonic()
        outstanding = taken.messages
        attempt = 0
        progress = False  # some records of this batch were delivered: the broker and credentials are fine
        reached: set[str] = set()  # from a durable queue: the topics that took records of this batch
        try:
            while outstanding:
                if self._ledger.past_deadline():
                    if queue.durable:
                        return False
                    left, outstanding = outstanding, []
                    queue.settle(taken, 0, Counter({Reason.SHUTDOWN: len(left)}), 0, 0)
                    break
                retry: list[Message] = []
                expires: list[bool] = []  # per record of retry: subject to delivery_timeout
                drops: Counter[str] = Counter()
                first_error: DeliveryError | None = None
                results = self._send(outstanding)
                progress = progress or any(result is None for result in results)
                if queue.durable and progress and any(result is not None for result in results):
                    reached.update(m.topic for m, result in zip(outstanding, results, strict=True) if result is None)
                for message, result in zip(outstanding, results, strict=True):
                    if result is None:
                        continue
                    error = as_delivery_error(result)
                    first_error = first_error or error
                    # the spool waits out an outage or bad credentials with no time limit. When records of the
                    # same batch got through, what still fails for another topic is about those records (a
                    # denied or missing topic): it must not hold up everything behind it. What fails for a topic
                    # that took records of the batch is the broker going away again (killed right after a
                    # restart, say): waited out too
                    waits_out = queue.durable and (not progress or message.topic in reached)
                    if error.retriable or (waits_out and error.reason in Reason.KEPT_BY_SPOOL):
                        retry.append(message)
                        expires.append(not waits_out)
                    else:
                        drops[error.reason] += 1
                failed = len(retry) + sum(drops.values())
                delivered = len(outstanding) - failed
                if any(expires) and time.monotonic() - started >= config.delivery_timeout:
                    drops[Reason.DELIVERY_TIMEOUT] += sum(expires)
                    retry = [message for message, expiring in zip(retry, expires, strict=True) if not expiring]
                outstanding = retry
                if delivered:
                    self.connected = True
                queue.settle(taken, delivered, drops, failed, len(retry))
                if first_error is not None:
                    self.connected = delivered > 0
                    self._reporter.report(first_error.reason, f"{failed} record(s) not delivered: {first_error}")
                if retry:
                    self._pause(self._backoff.delay(attempt))
                    attempt += 1
        finally:
            if outstanding and not queue.durable:  # only on an unexpected exception: still count the records
                queue.settle(taken, 0, Counter({Reason.INTERNAL_ERROR: len(outstanding)}), 0, 0)
        return True

    def pause_after_error(self) -> None:
        """Back off after an unexpected error, so a batch that keeps raising cannot spin the worker."""
        self._pause(self._backoff.delay(min(self._open_failures, 6)))

    def _pause(self, delay: float) -> None:
        """Back off before a retry; once closing, never past the close deadline (and never a busy loop)."""
        self._reporter.flush_deferred()
        if self._ledger.deadline is None and not self._stop.wait(delay):
            return
        deadline = self._ledger.deadline
        if deadline is not None:
            time.sleep(max(0.0, min(delay, deadline - time.monotonic())))

    def _send(self, messages: list[Message]) -> list[BaseException | None]:
        error = self._open() if self._transport is None else None
        transport = self._transport
        if error is not None or transport is None:
            return [error] * len(messages)
        timeout = self.config.delivery_timeout + 5.0
        deadline = self._ledger.deadline
        if deadline is not None:
            timeout = max(0.0, deadline - time.monotonic())
        return send_once(transport, messages, timeout)

    def _open(self) -> DeliveryError | None:
        now = time.monotonic()
        if now < self._open_not_before and self._open_error is not None:
            return self._open_error
        try:
            spec = self.config.transport_spec
            if spec.network or spec.client_modules:
                lifecycle.import_client(spec.client_modules)
            else:  # a local socket: nothing to import (a hand-over process saves the idna codec's import)
                unblock_sigterm_here()
            transport = spec.factory(self.config.transport_settings)
            transport.open()
        except Exception as exc:
            error = as_delivery_error(exc)
            self._open_error = error
            self._open_not_before = now + self._backoff.delay(self._open_failures)
            self._open_failures += 1
            self.connected = False
            return error
        self._transport = transport
        self._open_failures = 0
        self._open_error = None
        lifecycle.register_exit_hook()
        return None

    def close(self) -> None:
        """Close the transport within what is left of the close deadline (at least 0.2 s)."""
        transport, self._transport = self._transport, None
        if transport is None:
            return
        deadline = self._ledger.deadline
        remaining = 0.2 if deadline is None else max(0.2, deadline - time.monotonic())
        try:
            transport.close(remaining)
        except Exception as exc:
            self._reporter.report(Reason.CLOSE, f"transport close failed: {type(exc).__name__}: {exc}")
