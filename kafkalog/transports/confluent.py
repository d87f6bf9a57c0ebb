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

Fork: librdkafka is not fork-safe. Nothing in this module is process-global: each transport owns its producer,
and the worker makes a new transport in a forked child (the parent's one is kept unused in ``_orphans``).
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ..config import is_secret_option
from ..errors import ConfigError, ConfigTypeError, DeliveryError, MissingDependencyError
from ..typing import Message
from .base import TransportSpec

INSTALL_HINT = "pip install 'kafkalog[confluent]'"

STALL_GRACE = 1.0
"""Seconds without any delivery report after which a send fails fast, once librdkafka has said all brokers are
down or authentication failed (cf. kafka-python's ``max_block_ms=1000`` in the default transport)."""

_POLL_INTERVAL = 0.1

OWNED_OPTIONS: dict[str, str] = {
    "bootstrap.servers": "use the bootstrap_servers option",
    "metadata.broker.list": "use the bootstrap_servers option",
    "on_delivery": "kafkalog tracks each record's delivery itself",
    "dr_cb": "kafkalog tracks each record's delivery itself",
    "dr_msg_cb": "kafkalog tracks each record's delivery itself",
    "delivery.report.only.error": "kafkalog needs a delivery report for every record",
    "error_cb": "kafkalog handles client errors (see stats().last_error and on_error)",
    "logger": "librdkafka's log lines are kept by kafkalog, never written to stderr or to logging",
    "transactional.id": "log shipping is not transactional",
}

_CALLBACK_OPTIONS = frozenset({"stats_cb", "throttle_cb", "oauth_cb"})

_ALIASES: dict[str, str] = {
    # user-facing name -> the name librdkafka uses in its error messages
    "linger.ms": "queue.buffering.max.ms",
    "acks": "request.required.acks",
    "compression.type": "compression.codec",
    "delivery.timeout.ms": "message.timeout.ms",
    "retries": "message.send.max.retries",
    "sasl.mechanism": "sasl.mechanisms",
    "max.in.flight": "max.in.flight.requests.per.connection",
}
_ALIAS_GROUPS: tuple[frozenset[str], ...] = tuple(frozenset(pair) for pair in _ALIASES.items())

DEFAULTS: dict[str, Any] = {
    "client.id": "kafkalog",
    "linger.ms": 5,
    # librdkafka's own queue; the worker waits for each batch, so this only has to hold one batch
    "queue.buffering.max.messages": 100_000,
    "queue.buffering.max.kbytes": 64 * 1024,
    # a record's delivery report comes within this, whatever the broker does
    "message.timeout.ms": 30_000,
    "request.timeout.ms": 10_000,
    # as kafka-python's max_request_size: a record truncated to max_message_bytes (1,000,000) plus its key and
    # framing still fits (librdkafka's default of 1,000,000 counts the framing)
    "message.max.bytes": 1_048_576,
    "socket.keepalive.enable": True,
    "socket.connection.setup.timeout.ms": 10_000,
    "reconnect.backoff.max.ms": 5_000,
    "log.connection.close": False,
}
"""Defaults for log shipping; ``enable.idempotence`` is also turned on unless ``acks`` is set to 0 or 1."""

_CHOICES: dict[str, tuple[Any, ...]] = {
    "acks": (0, 1, -1, "0", "1", "-1", "all"),
    "request.required.acks": (0, 1, -1, "0", "1", "-1", "all"),
    "compression.type": ("none", "gzip", "snappy", "lz4", "zstd"),
    "compression.codec": ("none", "gzip", "snappy", "lz4", "zstd"),
    "security.protocol": ("plaintext", "ssl", "sasl_plaintext", "sasl_ssl"),
}
_CASE_SENSITIVE_CHOICES: dict[str, tuple[str, ...]] = {
    "sasl.mechanism": ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER", "GSSAPI"),
    "sasl.mechanisms": ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER", "GSSAPI"),
}

# --- error mapping -------------------------------------------------------------------------------------------

_SIZE = frozenset({"MSG_SIZE_TOO_LARGE", "RECORD_LIST_TOO_LARGE", "INVALID_MSG_SIZE"})
_AUTH = frozenset({"_AUTHENTICATION", "SASL_AUTHENTICATION_FAILED", "ILLEGAL_SASL_STATE",
                   "UNSUPPORTED_SASL_MECHANISM", "UNACCEPTABLE_CREDENTIAL"})
_NOT_AUTHORIZED = frozenset({"TOPIC_AUTHORIZATION_FAILED", "CLUSTER_AUTHORIZATION_FAILED",
                             "TRANSACTIONAL_ID_AUTHORIZATION_FAILED", "GROUP_AUTHORIZATION_FAILED"})
_TOPIC = frozenset({"TOPIC_EXCEPTION", "_UNKNOWN_TOPIC", "UNKNOWN_TOPIC_OR_PART", "_UNKNOWN_PARTITION",
                    "UNKNOWN_TOPIC_ID"})
_TIMEOUT = frozenset({"_MSG_TIMED_OUT", "_TIMED_OUT", "_TIMED_OUT_QUEUE", "REQUEST_TIMED_OUT", "_PURGE_QUEUE",
                      "_PURGE_INFLIGHT"})
_CONFIG = frozenset({"_INVALID_ARG", "_INVALID_TYPE", "_NOT_CONFIGURED", "INVALID_REQUIRED_ACKS"})
_CONNECTIVITY = frozenset({"_ALL_BROKERS_DOWN", "_TRANSPORT", "_RESOLVE", "_SSL", "_DESTROY", "_DESTROY_BROKER"})
_RETRIABLE = _CONNECTIVITY | frozenset({
    "NETWORK_EXCEPTION", "LEADER_NOT_AVAILABLE", "NOT_LEADER_FOR_PARTITION", "NOT_ENOUGH_REPLICAS",
    "NOT_ENOUGH_REPLICAS_AFTER_APPEND", "BROKER_NOT_AVAILABLE", "REPLICA_NOT_AVAILABLE", "KAFKA_STORAGE_ERROR",
    "THROTTLING_QUOTA_EXCEEDED", "INVALID_MSG", "_QUEUE_FULL", "_NODE_UPDATE", "_WAIT_COORD", "_RETRY",
    "_FATAL", "_STATE", "OUT_OF_ORDER_SEQUENCE_NUMBER", "UNKNOWN_PRODUCER_ID", "INVALID_PRODUCER_EPOCH",
    "FENCED_LEADER_EPOCH", "UNKNOWN_LEADER_EPOCH", "_FAIL",
})
NOT_RETRIABLE_REASONS = frozenset({"message_too_large", "auth_failed", "not_authorized", "invalid_topic",
                                   "config_error"})


def _error_name(err: Any) -> str:
    try:
        return str(err.name())
    except Exception:
        return type(err).__name__


def _error_text(err: Any) -> str:
    try:
        return str(err.str())
    except Exception:
        return str(err)


def reason_of(name: str) -> str:
    """Our reason code for a librdkafka error name (``KafkaError.name()``)."""
    if name in _SIZE:
        return "message_too_large"
    if name in _AUTH:
        return "auth_failed"
    if name in _NOT_AUTHORIZED:
        return "not_authorized"
    if name in _TOPIC:
        return "invalid_topic"
    if name in _TIMEOUT:
        return "timeout"
    if name in _CONFIG:
        return "config_error"
    return "broker_error"


def to_delivery_error(err: Any, context: str = "") -> DeliveryError:
    """Map a ``confluent_kafka.KafkaError`` (or a ``KafkaException`` wrapping one) to ours.

    Retriable when librdkafka says so (``err.retriable()``) or the error is transient (timeouts, connections,
    leader changes, a fatal producer error, after which the transport makes a new producer); never for size,
    auth, authorization, topic and configuration errors, whatever librdkafka says.
    """
    if isinstance(err, DeliveryError):
        return err
    if isinstance(err, Exception) and err.args and hasattr(err.args[0], "code"):
        err = err.args[0]  # KafkaException(KafkaError)
    name = _error_name(err)
    reason = reason_of(name)
    try:
        said_retriable = bool(err.retriable())
    except Exception:
        said_retriable = False
    retriable = (said_retriable or reason == "timeout" or name in _RETRIABLE) and reason not in NOT_RETRIABLE_REASONS
    message = f"{name}: {_error_text(err)}"
    if context:
        message = f"{message} ({context})"
    return DeliveryError(reason, message, retriable=retriable)


# --- validate ------------------------------------------------------------------------------------------------


def _import_client() -> Any:
    try:
        import confluent_kafka
    except ImportError as exc:
        raise MissingDependencyError(
            f"transport='confluent' needs the confluent-kafka package: {INSTALL_HINT}") from exc
    return confluent_kafka


def _shown(name: str, value: Any) -> str:
    return "***" if is_secret_option(name) else repr(value)


def _scrub(text: str, config: Mapping[str, Any]) -> str:
    for name, value in config.items():
        if is_secret_option(name) and isinstance(value, (str, int, float)) and str(value):
            text = text.replace(str(value), "***")
    return text


def _check_static(config: Mapping[str, Any]) -> None:
    for name, why in OWNED_OPTIONS.items():
        if name in config:
            raise ConfigError(f"producer_config: {name!r} cannot be set here ({why})")
    for group in _ALIAS_GROUPS:
        both = sorted(group & set(config))
        if len(both) > 1:
            raise ConfigError(f"producer_config: {both[0]!r} and {both[1]!r} are the same librdkafka option; "
                              "set only one")
    for name, value in config.items():
        if name in _CALLBACK_OPTIONS:
            if not callable(value):
                raise ConfigTypeError(f"producer_config: {name} must be a callable, got {type(value).__name__}")
            continue
        if isinstance(value, (str, int, float)):  # bool is an int
            continue
        raise ConfigTypeError(
            f"producer_config: {name} must be a str, int, float or bool, got {type(value).__name__}")
    for name, allowed in _CHOICES.items():
        if name not in config:
            continue
        value = config[name]
        key = value.lower() if isinstance(value, str) else value
        if isinstance(value, bool) or key not in allowed:
            raise ConfigError(f"producer_config: {name}={_shown(name, value)} is not one of {list(allowed)}")
    for name, choices in _CASE_SENSITIVE_CHOICES.items():
        if name in config and config[name] not in choices:
            raise ConfigError(
                f"producer_config: {name}={_shown(name, config[name])} is not one of {list(choices)} "
                "(case matters; GSSAPI needs a librdkafka built with Kerberos support)")
    protocol = str(config.get("security.protocol", "plaintext")).lower()
    if protocol.startswith("sasl") and "sasl.mechanism" not in config and "sasl.mechanisms" not in config:
        raise ConfigError(f"producer_config: security.protocol={config['security.protocol']!r} needs "
                          f"sasl.mechanism (one of {list(_CASE_SENSITIVE_CHOICES['sasl.mechanism'])})")


def _names_of(name: str) -> frozenset[str]:
    """``name`` and its librdkafka aliases."""
    for group in _ALIAS_GROUPS:
        if name in group:
            return group
    return frozenset({name})


def _with_defaults(config: Mapping[str, Any]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for name, value in DEFAULTS.items():
        if not _names_of(name) & set(config):
            settings[name] = value
    acks = config.get("acks", config.get("request.required.acks", "all"))
    if "enable.idempotence" not in config and str(acks).lower() in ("all", "-1"):
        # per-partition order survives librdkafka's internal retries, and they write no duplicates
        settings["enable.idempotence"] = True
    settings.update(config)
    return settings


_QUOTED = re.compile(r'"([A-Za-z0-9_.\-]+)"|`([A-Za-z0-9_.\-]+)`')
_CANONICAL_TO_USER = {canonical: user for user, canonical in _ALIASES.items()}


def _user_name(quoted: str, config: Mapping[str, Any]) -> str:
    if quoted in config:
        return quoted
    user = _CANONICAL_TO_USER.get(quoted)
    return user if user is not None and user in config else quoted


def _named_options(text: str, config: Mapping[str, Any]) -> list[str]:
    """The options librdkafka's message names, under the name the user wrote (``linger.ms``, not its alias)."""
    names: list[str] = []
    for match in _QUOTED.finditer(text):
        name = _user_name(match.group(1) or match.group(2), config)
        if name not in names:
            names.append(name)
    if not names:  # e.g. "Failed to create producer: ssl.ca.location failed: ..."
        for name in config:
            if re.search(rf"(?<![\w.]){re.escape(name)}(?![\w.])", text):
                names.append(name)
    return names


def _trial(client: Any, settings: Mapping[str, Any]) -> None:
    """Build (and drop) a producer without servers: librdkafka checks every option, no network involved."""
    conf = dict(settings)
    conf["logger"] = _Health()
    conf["error_cb"] = _ignore
    try:
        producer = client.Producer(conf)
    except client.KafkaException as exc:
        text = _scrub(_error_text(exc.args[0]) if exc.args else str(exc), settings).strip()
        names = _named_options(text, settings)
        if names:
            raise ConfigError(f"producer_config: {', '.join(repr(n) for n in names)} rejected by librdkafka: "
                              f"{text}") from None
        raise ConfigError(f"producer_config: librdkafka rejected the configuration: {text}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigTypeError(f"producer_config: {_scrub(str(exc), settings)}") from None
    close = getattr(producer, "close", None)
    if close is not None:
        try:
            close()
        except Exception:
            pass
    del producer


def _ignore(*args: Any) -> None:
    return None


def validate(config: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``producer_config`` (librdkafka names) and return it merged over our defaults.

    Owned options and choices are checked without importing confluent_kafka; then a producer is built and
    dropped (cheap, no network) so librdkafka rejects unknown or invalid options now, as :class:`ConfigError`
    naming the option. Secret values never appear in the messages. Raises :class:`MissingDependencyError` if
    confluent-kafka is not installed.
    """
    try:
        _check_static(config)
    except (ConfigError, ConfigTypeError) as exc:  # a secret pasted into the wrong option is still a secret
        scrubbed = _scrub(str(exc), config)
        if scrubbed != str(exc):
            raise type(exc)(scrubbed) from None
        raise
    settings = _with_defaults(config)
    client = _import_client()
    _trial(client, settings)
    return settings


# --- the transport -------------------------------------------------------------------------------------------


class _Health:
    """What librdkafka said outside delivery reports: its ``error_cb`` and its log lines (via ``logger``).

    Kept apart from the transport so the producer's references to these callbacks make no cycle with it.
    """

    __slots__ = ("blocking", "fatal", "last_error", "last_log")

    def __init__(self) -> None:
        self.blocking: DeliveryError | None = None  # all brokers down / authentication failed, until a delivery
        self.fatal: DeliveryError | None = None  # the producer is unusable: make a new one
        self.last_error: str | None = None
        self.last_log: str | None = None

    def on_error(self, err: Any) -> None:
        name = _error_name(err)
        error = to_delivery_error(err)
        self.last_error = str(error)
        try:
            fatal = bool(err.fatal())
        except Exception:
            fatal = False
        if fatal:
            self.fatal = DeliveryError("broker_error", f"fatal producer error, making a new producer: {error}",
                                       retriable=True)
        elif name == "_ALL_BROKERS_DOWN":
            self.blocking = DeliveryError("broker_error", f"{error}; last: {self.last_log or 'no detail'}",
                                          retriable=True)
        elif name == "_AUTHENTICATION":
            self.blocking = error

    def log(self, level: int, fmt: str, *args: Any) -> None:
        """librdkafka's log lines (the ``logger`` protocol); the last warning or worse is kept."""
        if level >= 30:
            try:
                self.last_log = fmt % args if args else fmt
            except Exception:
                self.last_log = str(fmt)

    def delivered(self) -> None:
        self.blocking = None


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
            raise DeliveryError("config_error", _scrub(f"cannot create the producer: {exc}", self._conf),
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
        return DeliveryError("timeout", _scrub(text, self._conf), retriable=True)

    def _error(self, exc: BaseException) -> DeliveryError:
        if type(exc).__name__ == "KafkaException":
            error = to_delivery_error(exc)
        else:
            error = DeliveryError("config_error", f"{type(exc).__name__}: {exc}", retriable=False)
        return DeliveryError(error.reason, _scrub(str(error), self._conf), retriable=error.retriable)

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
