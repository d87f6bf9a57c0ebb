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

import functools
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import DeliveryError
from ..typing import Message
from ._confluent_config import DEFAULTS, INSTALL_HINT, OWNED_OPTIONS, _import_client, scrub_config, validate
from ._confluent_errors import NOT_RETRIABLE_REASONS, _error_name, _Health, reason_of, to_delivery_error
from ._registry import TransportSpec

__all__ = [
    "DEFAULTS",
    "INSTALL_HINT",
    "NOT_RETRIABLE_REASONS",
    "OWNED_OPTIONS",
    "SPEC",
    "STALL_GRACE",
    "ConfluentTransport",
    "reason_of",
    "to_delivery_error",
    "validate",
]

STALL_GRACE = 1.0
"""Seconds without any delivery report after which a send fails fast, once librdkafka has said all brokers are
down or authentication failed (cf. kafka-python's ``max_block_ms=1000`` in the default transport)."""

_POLL_INTERVAL = 0.1


class _Batch:
    """Outcomes of one ``send``: filled by delivery callbacks, possibly late (then ignored)."""

    __slots__ = ("health", "last_report", "left", "purged_as", "results")

    _PENDING: Any = object()

    def __init__(self, count: int, health: _Health) -> None:
        self.results: list[Any] = [self._PENDING] * count
        self.left = count
        self.health = health
        self.last_report = time.monotonic()
        self.purged_as: DeliveryError | None = None  # the outcome of records we purge when giving up

    def settle(self, index: int, result: BaseException | None) -> None:
        if self.results[index] is self._PENDING:
            self.results[index] = result
            self.left -= 1

    def on_delivery(self, index: int, err: Any, msg: Any) -> None:
        self.last_report = time.monotonic()
        if err is None:
            if self.results[index] is self._PENDING:
                self.results[index] = None
                self.left -= 1
            self.health.blocking = None
        elif self.purged_as is not None and _error_name(err) in ("_PURGE_QUEUE", "_PURGE_INFLIGHT"):
            self.settle(index, self.purged_as)
        else:
            self.settle(index, to_delivery_error(err))

    def pending(self) -> list[int]:
        return [i for i, r in enumerate(self.results) if r is self._PENDING]


class ConfluentTransport:
    """One ``confluent_kafka.Producer``, created by :meth:`open` on the worker thread."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        conf = dict(settings)
        servers = conf.pop("bootstrap_servers", None)
        if servers is not None:
            conf["bootstrap.servers"] = servers if isinstance(servers, str) else ",".join(servers)
        self._conf = conf
        self._producer: Any = None
        self._health = _Health()

    def open(self) -> None:
        client = _import_client()
        conf = dict(self._conf)
        conf["logger"] = self._health
        conf["error_cb"] = self._health.on_error
        try:
            self._producer = client.Producer(conf)
        except Exception as exc:
            raise DeliveryError("config_error", scrub_config(f"cannot create the producer: {exc}", self._conf),
                                retriable=False) from None

    def _renew(self) -> None:
        """After a fatal error: drop the producer (bounded) and make a new one."""
        self.close(0.0)
        self._health = _Health()
        self.open()

    def send(self, messages: Sequence[Message], timeout: float) -> list[BaseException | None]:
        started = time.monotonic()
        deadline = started + max(0.0, timeout)
        if self._producer is None or self._health.fatal is not None:
            self._renew()
        producer = self._producer
        health = self._health
        batch = _Batch(len(messages), health)
        produce, poll = producer.produce, producer.poll
        on_delivery = batch.on_delivery
        for index, message in enumerate(messages):
            out_of_time = False
            while True:
                try:
                    if message.headers:
                        produce(message.topic, message.value, message.key, headers=list(message.headers),
                                on_delivery=functools.partial(on_delivery, index), timestamp=message.timestamp_ms)
                    else:
                        produce(message.topic, message.value, message.key,
                                on_delivery=functools.partial(on_delivery, index), timestamp=message.timestamp_ms)
                    break
                except BufferError:
                    if time.monotonic() >= deadline:
                        out_of_time = True
                        break
                    poll(_POLL_INTERVAL)  # serve delivery reports: frees room in librdkafka's queue
                except Exception as exc:
                    batch.settle(index, self._error(exc))
                    break
            if out_of_time:  # what was never handed to librdkafka surely was not delivered
                not_queued = self._timeout_error(timeout, "librdkafka's queue stayed full", queued=False)
                for rest in range(index, len(messages)):
                    batch.settle(rest, not_queued)
                break
        blocked_by: DeliveryError | None = None
        while batch.left > 0:
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
            producer.flush(min(remaining, _POLL_INTERVAL))
        if batch.left > 0:
            self._give_up(batch, blocked_by, timeout)
        return [None if r is _Batch._PENDING else r for r in batch.results]

    def _give_up(self, batch: _Batch, blocked_by: DeliveryError | None, timeout: float) -> None:
        """Purge what librdkafka has not sent yet (surely not delivered) and fail what is left."""
        batch.purged_as = blocked_by or self._timeout_error(
            timeout, "purged from librdkafka's queue unsent", queued=False)
        try:
            self._producer.purge(in_queue=True, in_flight=False, blocking=False)
            self._producer.poll(0)
        except Exception:
            pass
        in_flight = blocked_by or self._timeout_error(
            timeout, "it was sent and may still be written (at-least-once)", queued=True)
        for index in batch.pending():
            batch.settle(index, in_flight)

    def _timeout_error(self, timeout: float, detail: str, *, queued: bool) -> DeliveryError:
        last = self._health.last_error or self._health.last_log
        what = "no delivery report" if queued else "not sent"
        text = f"{what} within {timeout:.1f}s: {detail}" + (f" (last client error: {last})" if last else "")
        return DeliveryError("timeout", scrub_config(text, self._conf), retriable=True)

    def _error(self, exc: BaseException) -> DeliveryError:
        if type(exc).__name__ == "KafkaException":
            error = to_delivery_error(exc)
        else:
            error = DeliveryError("config_error", f"{type(exc).__name__}: {exc}", retriable=False)
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
        close = getattr(producer, "close", None)
        if close is not None:
            try:
                close()
            except Exception:
                pass


def _build(settings: Mapping[str, Any]) -> ConfluentTransport:
    return ConfluentTransport(settings)


SPEC = TransportSpec("confluent", validate, _build, client_modules=("confluent_kafka",))
