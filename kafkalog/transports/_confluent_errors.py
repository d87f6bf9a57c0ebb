"""What librdkafka's errors mean to kafkalog: a reason code and retriability for each error name, and
:class:`ClientHealth`, which keeps what librdkafka reports outside delivery reports (``error_cb`` and its log lines).

Split out of :mod:`kafkalog.transports.confluent` (which re-exports the public names) because both the option
checks in :mod:`._confluent_config` and the transport itself need them.
"""

from __future__ import annotations

from typing import Any

from ..errors import DeliveryError, Reason, is_retriable

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
NOT_RETRIABLE_REASONS = Reason.NOT_RETRIABLE  # the policy is kafkalog's (errors.py); kept under its old name


def error_name(err: Any) -> str:
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
        return Reason.MESSAGE_TOO_LARGE
    if name in _AUTH:
        return Reason.AUTH_FAILED
    if name in _NOT_AUTHORIZED:
        return Reason.NOT_AUTHORIZED
    if name in _TOPIC:
        return Reason.INVALID_TOPIC
    if name in _TIMEOUT:
        return Reason.TIMEOUT
    if name in _CONFIG:
        return Reason.CONFIG_ERROR
    return Reason.BROKER_ERROR


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
    name = error_name(err)
    reason = reason_of(name)
    try:
        said_retriable = bool(err.retriable())
    except Exception:
        said_retriable = False
    retriable = is_retriable(reason, said_retriable or reason == Reason.TIMEOUT or name in _RETRIABLE)
    message = f"{name}: {_error_text(err)}"
    if context:
        message = f"{message} ({context})"
    return DeliveryError(reason, message, retriable=retriable)


class ClientHealth:
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
        name = error_name(err)
        error = to_delivery_error(err)
        self.last_error = str(error)
        try:
            fatal = bool(err.fatal())
        except Exception:
            fatal = False
        if fatal:
            self.fatal = DeliveryError(Reason.BROKER_ERROR, f"fatal producer error, making a new producer: {error}",
                                       retriable=True)
        elif name == "_ALL_BROKERS_DOWN":
            self.blocking = DeliveryError(Reason.BROKER_ERROR, f"{error}; last: {self.last_log or 'no detail'}",
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

