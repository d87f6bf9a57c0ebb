"""The library's exceptions. Configuration errors are ``ValueError``/``TypeError`` subclasses."""

from __future__ import annotations


class KafkaLogError(Exception):
    """Base class of every error kafkalog defines."""


class ConfigError(KafkaLogError, ValueError):
    """An option has a value that is not allowed; the message names the option and what is allowed."""


class ConfigTypeError(KafkaLogError, TypeError):
    """An option has the wrong type; the message names the option and the expected type."""


class MissingDependencyError(KafkaLogError, ImportError):
    """An optional dependency is not installed; the message names the extra that installs it."""


class DeliveryError(KafkaLogError):
    """A record could not be delivered.

    ``reason`` is a short stable code used as the key of the ``dropped`` counters (``"message_too_large"``,
    ``"auth_failed"``, ``"timeout"``, ...). ``retriable`` says whether sending the same bytes again can succeed.
    """

    def __init__(self, reason: str, message: str, *, retriable: bool) -> None:
        super().__init__(message)
        self.reason = reason
        self.retriable = retriable

    def __repr__(self) -> str:
        return f"DeliveryError(reason={self.reason!r}, retriable={self.retriable}, message={str(self)!r})"


class Reason:
    """The reason codes: keys of ``stats().dropped`` and kinds of reported problems. One name each, here only.

    Drops (each record dropped is counted under exactly one): ``QUEUE_FULL``, ``TOO_LARGE`` (over
    ``queue_max_bytes`` or ``max_message_bytes``), ``CLOSED`` (logged after close), ``SHUTDOWN`` (still queued
    when the close deadline passed), ``DELIVERY_TIMEOUT``, ``SPOOL_FULL`` (by ``spool_full_policy``),
    ``SPOOL_ERROR`` (the disk refused a write), ``SPOOL_CORRUPT`` (a torn or corrupt frame), ``INTERNAL_ERROR``,
    and the delivery errors a transport maps client exceptions to: ``MESSAGE_TOO_LARGE``, ``INVALID_TOPIC``,
    ``AUTH_FAILED``, ``NOT_AUTHORIZED``, ``TLS_ERROR``, ``BROKER_ERROR``, ``BROKER_UNAVAILABLE``, ``TIMEOUT``,
    ``TRANSPORT_ERROR``, ``CONFIG_ERROR``, ``COLLECTOR_UNAVAILABLE``, ``COLLECTOR_BUSY``. Report-only kinds:
    ``SPOOL`` (the spool directory), ``WORKER``, ``CLOSE``, ``FORMATTER`` (a formatter that disables key and topic
    templates), ``LEVELS`` (``levels_from``).
    """

    QUEUE_FULL = "queue_full"
    TOO_LARGE = "too_large"
    CLOSED = "closed"
    SHUTDOWN = "shutdown"
    DELIVERY_TIMEOUT = "delivery_timeout"
    SPOOL_FULL = "spool_full"
    SPOOL_ERROR = "spool_error"
    SPOOL_CORRUPT = "spool_corrupt"
    INTERNAL_ERROR = "internal_error"
    MESSAGE_TOO_LARGE = "message_too_large"
    INVALID_TOPIC = "invalid_topic"
    AUTH_FAILED = "auth_failed"
    NOT_AUTHORIZED = "not_authorized"
    TLS_ERROR = "tls_error"
    BROKER_ERROR = "broker_error"
    BROKER_UNAVAILABLE = "broker_unavailable"
    TIMEOUT = "timeout"
    TRANSPORT_ERROR = "transport_error"
    CONFIG_ERROR = "config_error"
    COLLECTOR_UNAVAILABLE = "collector_unavailable"  # retried: the local collector is not there (yet)
    COLLECTOR_BUSY = "collector_busy"  # retried: the collector's queue is full, it took nothing of the batch
    SPOOL = "spool"
    WORKER = "worker"
    CLOSE = "close"
    FORMATTER = "formatter"
    LEVELS = "levels"

    NOT_RETRIABLE = frozenset({MESSAGE_TOO_LARGE, INVALID_TOPIC, AUTH_FAILED, NOT_AUTHORIZED, CONFIG_ERROR})
    """Errors no retry of the same bytes with the same settings fixes, whatever the client says: both transports
    mark them not retriable (the one policy; a transport only maps its client's errors to a reason)."""

    KEPT_BY_SPOOL = frozenset({AUTH_FAILED, TLS_ERROR, CONFIG_ERROR, BROKER_ERROR, BROKER_UNAVAILABLE, TIMEOUT,
                               COLLECTOR_UNAVAILABLE, COLLECTOR_BUSY})
    """Errors a durable buffer (the spool, a tail's files) waits out, records kept and retried, instead of
    dropping: an outage (of the broker or of the local collector), bad credentials, certificates or client
    settings. All are fixed outside the records (the broker comes back, the operator fixes the settings and
    restarts), so dropping would lose what the spool is there to keep. ``CONFIG_ERROR`` is kept for that reason:
    options are checked at construction, so one at run time is a setting the client refused, fixed by a restart
    like a password. Not ``NOT_AUTHORIZED``: a topic the credentials may not write to is about those records, and
    waiting for it would hold up every record behind them (nor ``MESSAGE_TOO_LARGE``/``INVALID_TOPIC``, also
    about the records)."""


def is_retriable(reason: str, client_says: bool) -> bool:
    """The one rule of what a transport reports as retriable: what its client says, unless the reason is one no
    retry fixes (:attr:`Reason.NOT_RETRIABLE`)."""
    return client_says and reason not in Reason.NOT_RETRIABLE
