"""The fast optional transport, over confluent-kafka (librdkafka): ``transport="confluent"``.

Install it with ``pip install 'kafkalog[confluent]'``. ``producer_config`` takes librdkafka's own dotted names
(``"acks"``, ``"compression.type"``, ``"linger.ms"``, ``"security.protocol"``, ``"sasl.username"``, ...).

How librdkafka's sharp edges are handled:

- ``Producer()`` is lazy and cheap (no network), so :func:`validate` builds a throw-away one at construction to
  surface unknown or invalid options as :class:`~kafkalog.errors.ConfigError` naming the option. The real
  producer is made by :meth:`ConfluentTransport.open` on the worker thread.
- ``produce()`` never blocks; it raises ``BufferError`` when librdkafka's queue is full, and :meth:`send` then
  serves callbacks with ``poll(0.1)`` and tries again until its deadline. Once the batch is queued, :meth:`send`
  waits in ``flush()`` slices of 0.1 s, which also makes librdkafka send at once rather than after ``linger.ms``.
- Delivery reports, errors and logs only run inside ``poll()``/``flush()``, i.e. on the worker thread. librdkafka's
  log lines go to an object of ours (never to stderr, never to Python ``logging``, which could feed the handler
  itself); the last warning is quoted in delivery errors.
- ``error_cb`` reports connection trouble that has no record attached. When all brokers are down
  (``_ALL_BROKERS_DOWN``) or authentication fails (``_AUTHENTICATION``) and no delivery report arrives for
  :data:`STALL_GRACE` seconds, the pending records fail fast with that reason instead of waiting for the whole
  timeout.
- ``close()`` would block up to ``message.timeout.ms``; :meth:`ConfluentTransport.close` is ``flush(t)``, then
  ``purge()`` and ``poll(0)``, so it returns within its timeout.

Delivery is at least once. A record whose delivery report has not arrived when :meth:`send` gives up is reported
as a retriable ``"timeout"``: the worker sends it again, and if librdkafka had already put it on the wire it may
be written twice. Records still waiting in librdkafka's queue at that point are purged first, so only records
actually in flight can be duplicated.

Option checks and defaults live in :mod:`._confluent_config`, error mapping in :mod:`._confluent_errors` (their
public names are importable from here too); this module is the transport itself.

Fork: librdkafka is not fork-safe. Nothing in this module is process-global: each transport owns its producer,
and the worker makes a new transport in a forked child (the parent's one is kept unused in ``_orphans``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import DeliveryError, Reason
from ..typing import Message
from ._confluent_config import (
    DEFAULTS,
    INSTALL_HINT,
    OWNED_OPTIONS,
    close_producer,
    import_client,
    scrub_config,
    validate,
)
from ._confluent_errors import NOT_RETRIABLE_REASONS, ClientHealth, error_name, reason_of, to_delivery_error
from ._registry import TransportSpec

__all__ = [
    "DEFAULTS",
    "INSTALL_HINT",
    "NOT_RETRIABLE_REASONS",
    "OWNED_OPTIONS",
    "SPEC",
    "STALL_GRACE",
    "ClientHealth",
    "ConfluentTransport",
    "error_name",
    "import_client",
    "reason_of",
    "to_delivery_error",
    "validate",
]
"""The probe interface (``kafkalog check`` drives its own admin and consumer clients): ``import_client`` (with the
install hint), ``to_delivery_error`` and ``error_name`` (the one mapping of librdkafka's errors), ``ClientHealth``
(what librdkafka says outside delivery reports, as ``error_cb`` and ``logger``)."""

STALL_GRACE = 1.0
"""Seconds without any delivery report after which a send fails fast, once librdkafka has said all brokers are
down or authentication failed (cf. kafka-python's ``max_block_ms=1000`` in the default transport)."""

_POLL_INTERVAL = 0.1
_PURGE_WAIT = 1.0  # the most a give-up waits for the reports of what it purged


class _Batch:
    """Outcomes of one ``send``. librdkafka reports failures only (``delivery.report.only.error``): a record
    produced and not reported failed by the time librdkafka's queue is empty was delivered, so a delivered
    record costs no Python call. Failures are matched to their record by value (identical records are
    interchangeable); a late report of an earlier batch matches nothing, or a copy being sent again (which is
    then sent once more: at least once)."""

    __slots__ = ("failed", "health", "last_report", "messages", "produced", "purged_as", "where")

    def __init__(self, messages: Sequence[Message], health: ClientHealth) -> None:
        self.messages = messages
        self.failed: dict[int, BaseException] = {}
        self.produced = 0  # messages[:produced] were handed to librdkafka or failed at once
        self.health = health
        self.last_report = time.monotonic()
        # the outcomes of records we purge when giving up: unsent (surely not delivered), on the wire (may be)
        self.purged_as: tuple[DeliveryError, DeliveryError] | None = None
        self.where: dict[bytes, list[int]] | None = None  # value -> indexes not failed yet, made on the first failure

    def settle(self, index: int, result: BaseException) -> None:
        self.failed.setdefault(index, result)

    def on_delivery(self, err: Any, msg: Any) -> None:
        self.last_report = time.monotonic()
        if err is None:
            return  # a success report (not asked for): counted when the queue is empty
        if self.where is None:
            where: dict[bytes, list[int]] = {}
            for index in range(self.produced):
                if index not in self.failed:
                    where.setdefault(self.messages[index].value, []).append(index)
            self.where = where
        try:
            indexes = self.where.get(msg.value())
        except Exception:
            indexes = None
        if not indexes:
            return
        index = indexes.pop(0)
        name = error_name(err)
        if self.purged_as is not None and name in ("_PURGE_QUEUE", "_PURGE_INFLIGHT"):
            self.settle(index, self.purged_as[name == "_PURGE_INFLIGHT"])
        else:
            self.settle(index, to_delivery_error(err))

    def results(self, unknown: BaseException | None) -> list[BaseException | None]:
        """Each record's outcome; ``unknown``: that of records produced, not failed, whose fate is not known."""
        failed = self.failed
        if not failed and unknown is None:
            return [None] * len(self.messages)
        return [failed.get(i, unknown) for i in range(len(self.messages))]


class ConfluentTransport:
    """One ``confluent_kafka.Producer``, created by :meth:`open` on the worker thread."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        conf = dict(settings)
        servers = conf.pop("bootstrap_servers", None)
        if servers is not None:
            conf["bootstrap.servers"] = servers if isinstance(servers, str) else ",".join(servers)
        self._conf = conf
        self._producer: Any = None
        self._health = ClientHealth()

    def open(self) -> None:
        client = import_client()
        conf = dict(self._conf)
        conf["logger"] = self._health
        conf["error_cb"] = self._health.on_error
        conf["delivery.report.only.error"] = True  # see _Batch: a delivered record costs no Python call
        try:
            self._producer = client.Producer(conf)
        except Exception as exc:
            raise DeliveryError(Reason.CONFIG_ERROR, scrub_config(f"cannot create the producer: {exc}", self._conf),
                                retriable=False) from None

    def _renew(self) -> None:
        """After a fatal error: drop the producer (bounded) and make a new one."""
        self.close(0.0)
        self._health = ClientHealth()
        self.open()

    def send(self, messages: Sequence[Message], timeout: float) -> list[BaseException | None]:
        started = time.monotonic()
        deadline = started + max(0.0, timeout)
        if self._producer is None or self._health.fatal is not None:
            self._renew()
        producer = self._producer
        health = self._health
        batch = _Batch(messages, health)
        produce, poll = producer.produce, producer.poll
        on_delivery = batch.on_delivery
        count = len(messages)
        index = 0
        while index < count:
            try:  # the usual case at the speed of the loop: positional arguments, no per-record callable
                for index in range(index, count):  # noqa: B020 - resumes where a BufferError stopped it
                    topic, key, value, timestamp_ms, headers = messages[index]
                    if headers:
                        produce(topic, value, key, on_delivery=on_delivery, timestamp=timestamp_ms,
                                headers=list(headers))
                    else:  # by keyword: the sixth positional parameter is `callback`, not the timestamp
                        produce(topic, value, key, on_delivery=on_delivery, timestamp=timestamp_ms)
                index = count
            except BufferError:
                batch.produced = index  # for the reports poll serves
                if time.monotonic() >= deadline:  # what was never handed to librdkafka surely was not delivered
                    not_queued = self._timeout_error(timeout, "librdkafka's queue stayed full", queued=False)
                    for rest in range(index, count):
                        batch.settle(rest, not_queued)
                    index = count
                    break
                poll(_POLL_INTERVAL)  # serve delivery reports: frees room in librdkafka's queue
            except Exception as exc:
                batch.settle(index, self._error(exc))
                index += 1
        batch.produced = count
        blocked_by: DeliveryError | None = None
        left = len(producer)
        while left > 0:
            now = time.monotonic()
            remaining = deadline - now
            if remaining <= 0:
                break
            blocking = health.blocking
            if blocking is not None and now - max(started, batch.last_report) >= STALL_GRACE:
                blocked_by = blocking
                break
            # flush, not poll: it serves the same callbacks, and librdkafka sends what is queued at once instead
            # of after linger.ms (we wait for the whole batch anyway, so lingering would only add latency)
            failures = len(batch.failed)
            now_left = producer.flush(min(remaining, _POLL_INTERVAL))
            if left - now_left > len(batch.failed) - failures:  # some were delivered: the brokers take records
                batch.last_report = time.monotonic()
                health.delivered()
            left = now_left
        if left > 0:
            return self._give_up(batch, blocked_by, timeout)
        return batch.results(None)

    def _give_up(self, batch: _Batch, blocked_by: DeliveryError | None, timeout: float) -> list[BaseException | None]:
        """Purge what librdkafka still holds, unsent (surely not delivered) or on the wire (may still be written),
        so each record's fate is known: a record without a failure report once the queue is empty was delivered."""
        in_flight = blocked_by or self._timeout_error(
            timeout, "it was sent and may still be written (at-least-once)", queued=True)
        batch.purged_as = (blocked_by or self._timeout_error(timeout, "purged from librdkafka's queue unsent",
                                                             queued=False), in_flight)
        producer = self._producer
        left = 1
        try:
            producer.purge(in_queue=True, in_flight=True, blocking=False)
            give_up_at = time.monotonic() + _PURGE_WAIT
            left = producer.flush(0)
            while left and time.monotonic() < give_up_at:
                left = producer.flush(_POLL_INTERVAL)
        except Exception:
            pass
        # still not empty: records produced without a report may or may not have been written
        return batch.results(in_flight if left else None)

    def _timeout_error(self, timeout: float, detail: str, *, queued: bool) -> DeliveryError:
        last = self._health.last_error or self._health.last_log
        what = "no delivery report" if queued else "not sent"
        text = f"{what} within {timeout:.1f}s: {detail}" + (f" (last client error: {last})" if last else "")
        return DeliveryError(Reason.TIMEOUT, scrub_config(text, self._conf), retriable=True)

    def _error(self, exc: BaseException) -> DeliveryError:
        if type(exc).__name__ == "KafkaException":
            error = to_delivery_error(exc)
        else:
            error = DeliveryError(Reason.CONFIG_ERROR, f"{type(exc).__name__}: {exc}", retriable=False)
        return DeliveryError(error.reason, scrub_config(str(error), self._conf), retriable=error.retriable)

    def close(self, timeout: float) -> None:
        producer, self._producer = self._producer, None
        if producer is None:
            return
        deadline = time.monotonic() + max(0.0, timeout)
        try:
            # leave a little of the budget for purge/close
            producer.flush(max(0.0, deadline - time.monotonic() - 0.05))
        except Exception:
            pass
        try:
            producer.purge(in_queue=True, in_flight=True, blocking=False)
            producer.poll(0)
        except Exception:
            pass
        close_producer(producer)


def _build(settings: Mapping[str, Any]) -> ConfluentTransport:
    return ConfluentTransport(settings)


SPEC = TransportSpec("confluent", validate, _build, client_modules=("confluent_kafka",))
