"""The default transport, over kafka-python 3.x.

kafka-python is imported on the worker thread only. Its sharp edges are handled here: the constructor and
``send()`` block (bounded by ``bootstrap_timeout_ms``/``max_block_ms``, which we default low), ``close()`` can
raise and leave its network thread running, and it registers its own exit hook (the worker's own hook is
re-registered after each producer so it runs first).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ConfigError, ConfigTypeError, DeliveryError
from ..typing import Message
from .base import TransportSpec

KNOWN_OPTIONS = frozenset({
    "acks", "allow_auto_create_topics", "api_version", "batch_size", "bootstrap_timeout_ms",
    "client_dns_lookup", "client_id", "compression_type", "connections_max_idle_ms", "delivery_timeout_ms",
    "enable_idempotence", "kafka_client", "linger_ms", "max_block_ms", "max_in_flight_requests_per_connection",
    "max_request_size", "metadata_max_age_ms", "metric_reporters", "metrics_enabled", "metrics_num_samples",
    "metrics_sample_window_ms", "partitioner", "proxy_url", "receive_buffer_bytes", "receive_message_max_bytes",
    "reconnect_backoff_max_ms", "reconnect_backoff_ms", "request_timeout_ms", "retries", "retry_backoff_ms",
    "sasl_kerberos_domain_name", "sasl_kerberos_name", "sasl_kerberos_service_name", "sasl_mechanism",
    "sasl_oauth_token_provider", "sasl_plain_password", "sasl_plain_username", "security_protocol", "selector",
    "send_buffer_bytes", "socket_options", "socks5_proxy", "ssl_cafile", "ssl_certfile", "ssl_check_hostname",
    "ssl_ciphers", "ssl_context", "ssl_crlfile", "ssl_keyfile", "ssl_password", "transaction_timeout_ms",
})
"""kafka-python 3.0 ``KafkaProducer`` options a user may set (a test keeps this in step with the installed one)."""

OWNED_OPTIONS = {
    "bootstrap_servers": "use the bootstrap_servers option",
    "key_serializer": "records are already bytes; choose the key with the key option",
    "value_serializer": "records are already JSON bytes",
    "transactional_id": "log shipping is not transactional",
}

DEFAULTS: dict[str, Any] = {
    # the worker is the only caller: keep each blocking call short so close() stays bounded
    "max_block_ms": 1000,
    "bootstrap_timeout_ms": 5000,
    "request_timeout_ms": 10000,
    "delivery_timeout_ms": 30000,
    "linger_ms": 5,
    "batch_size": 256 * 1024,
    "reconnect_backoff_max_ms": 5000,
}

_CHOICES: dict[str, tuple[Any, ...]] = {
    "acks": (0, 1, -1, "all"),
    "compression_type": (None, "gzip", "snappy", "lz4", "zstd"),
    "security_protocol": ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"),
    "sasl_mechanism": (None, "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI", "OAUTHBEARER"),
}
_CODEC_PACKAGES = {"snappy": "python-snappy", "lz4": "lz4", "zstd": "zstandard"}
_CODEC_MODULES = {"snappy": "snappy", "lz4": "lz4", "zstd": "zstandard"}
_INT_OPTIONS = ("max_block_ms", "bootstrap_timeout_ms", "request_timeout_ms", "delivery_timeout_ms", "linger_ms",
                "batch_size", "max_request_size", "reconnect_backoff_ms", "reconnect_backoff_max_ms",
                "retry_backoff_ms", "max_in_flight_requests_per_connection", "metadata_max_age_ms")


def validate(config: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``producer_config`` for kafka-python without importing it; return it merged over our defaults."""
    for name, why in OWNED_OPTIONS.items():
        if name in config:
            raise ConfigError(f"producer_config: {name!r} cannot be set here ({why})")
    unknown = sorted(set(config) - KNOWN_OPTIONS)
    if unknown:
        raise ConfigError(
            f"producer_config: unknown kafka-python option(s) {unknown}; allowed: {sorted(KNOWN_OPTIONS)}")
    for name, allowed in _CHOICES.items():
        if name in config and config[name] not in allowed:
            raise ConfigError(f"producer_config: {name}={config[name]!r} is not one of {list(allowed)}")
    for name in _INT_OPTIONS:
        value = config.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise ConfigTypeError(f"producer_config: {name} must be a non-negative int, got {value!r}")
    codec = config.get("compression_type")
    if codec in _CODEC_MODULES:
        import importlib.util

        if importlib.util.find_spec(_CODEC_MODULES[codec]) is None:
            raise ConfigError(
                f"producer_config: compression_type={codec!r} needs the {_CODEC_PACKAGES[codec]!r} package "
                f"(pip install {_CODEC_PACKAGES[codec]}); gzip needs nothing")
    protocol = config.get("security_protocol", "PLAINTEXT")
    if str(protocol).startswith("SASL") and config.get("sasl_mechanism") is None:
        raise ConfigError(f"producer_config: security_protocol={protocol!r} needs sasl_mechanism")
    return {**DEFAULTS, **config}


def _reason(exc: BaseException) -> str:
    name = type(exc).__name__
    if name == "MessageSizeTooLargeError":
        return "message_too_large"
    if "Authorization" in name:
        return "not_authorized"
    if "Authentication" in name or name.startswith("Sasl"):
        return "auth_failed"
    if name == "KafkaTimeoutError":
        return "timeout"
    if name in ("InvalidTopicError", "TopicAuthorizationFailedError"):
        return "invalid_topic"
    return "broker_error"


def to_delivery_error(exc: BaseException) -> DeliveryError:
    """Map a kafka-python exception to ours: retriable unless kafka-python says a retry cannot help."""
    if isinstance(exc, DeliveryError):
        return exc
    reason = _reason(exc)
    retriable = bool(getattr(exc, "retriable", True)) and reason not in (
        "message_too_large", "auth_failed", "not_authorized", "invalid_topic")
    if isinstance(exc, (ValueError, TypeError)) and not reason.startswith("auth"):
        reason, retriable = "config_error", False
    text = str(exc)
    name = type(exc).__name__
    return DeliveryError(reason, text if text.startswith(name) else f"{name}: {text}", retriable=retriable)


_AUTH_MARKERS = ("authentication failed", "invalid username or password", "saslauthenticationfailed")
_TLS_MARKERS = ("certificate_verify_failed", "certificate verify failed", "sslerror", "wrong version number")


class _ConnectionErrors(logging.Handler):
    """Keeps the last connection error kafka-python logs while it bootstraps: it raises only a timeout."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.last: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:
            return
        lowered = text.lower()
        if any(marker in lowered for marker in _AUTH_MARKERS + _TLS_MARKERS) or self.last is None:
            self.last = text

    def classify(self, error: DeliveryError) -> DeliveryError:
        """A clearer error than "Unable to bootstrap" when the log said why (credentials, certificate)."""
        cause = self.last
        if error.reason != "timeout" or not cause:
            return error
        lowered = cause.lower()
        if any(marker in lowered for marker in _AUTH_MARKERS):
            return DeliveryError("auth_failed", f"authentication failed (check the SASL settings): {cause}",
                                 retriable=False)
        if any(marker in lowered for marker in _TLS_MARKERS):
            return DeliveryError("tls_error", f"TLS handshake failed (check ssl_cafile and the broker "
                                              f"certificate): {cause}", retriable=False)
        return DeliveryError("broker_unavailable", f"{error}; last connection error: {cause}", retriable=True)


_YIELD_EVERY = 16


class KafkaPythonTransport:
    """One ``KafkaProducer``, created by :meth:`open` on the worker thread."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self._settings = dict(settings)
        self._producer: Any = None

    def open(self) -> None:
        try:
            from kafka import KafkaProducer
        except ImportError as exc:  # pragma: no cover - it is a hard dependency
            raise DeliveryError("config_error", "kafka-python is not installed (pip install kafka-python)",
                                retriable=False) from exc
        capture = _ConnectionErrors()
        client_logger = logging.getLogger("kafka")
        client_logger.addHandler(capture)
        try:
            self._producer = KafkaProducer(**self._settings)
        except Exception as exc:
            raise capture.classify(to_delivery_error(exc)) from exc
        finally:
            client_logger.removeHandler(capture)

    def send(self, messages: Sequence[Message], timeout: float) -> list[BaseException | None]:
        producer = self._producer
        deadline = time.monotonic() + timeout
        results: list[BaseException | None] = [None] * len(messages)
        futures: list[tuple[int, Any]] = []
        stuck: dict[str, DeliveryError] = {}  # topics whose metadata did not come within max_block_ms
        for index, message in enumerate(messages):
            if index % _YIELD_EVERY == _YIELD_EVERY - 1:
                time.sleep(0)  # send() is ~20 µs of Python: hand the GIL to the app thread now and then
            blocked = stuck.get(message.topic)
            if blocked is not None:  # the same wait again for each record would add up; other topics still go
                results[index] = blocked
                continue
            try:
                futures.append((index, producer.send(message.topic, value=message.value, key=message.key,
                                                     timestamp_ms=message.timestamp_ms)))
            except Exception as exc:
                error = to_delivery_error(exc)
                results[index] = error
                if error.reason == "timeout":
                    stuck[message.topic] = error
        for index, future in futures:
            try:
                future.get(timeout=max(0.0, deadline - time.monotonic()))
            except Exception as exc:
                results[index] = to_delivery_error(exc)
        return results

    def close(self, timeout: float) -> None:
        producer, self._producer = self._producer, None
        if producer is None:
            return
        try:
            producer.close(timeout=max(0.0, timeout))
        except Exception:
            # close() raised before stopping its network thread (records it could not deliver): stop it now,
            # without waiting, and mark it closed so its __del__ does not block for another second.
            sender = getattr(producer, "_sender", None)
            try:
                if sender is not None:
                    sender.force_close()
                producer._closed = True
            except Exception:
                pass


def _build(settings: Mapping[str, Any]) -> KafkaPythonTransport:
    return KafkaPythonTransport(settings)


SPEC = TransportSpec("kafka-python", validate, _build, client_modules=("kafka",))
