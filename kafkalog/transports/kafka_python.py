"""The default transport, over kafka-python 3.x.

kafka-python is imported on the worker thread only. Its sharp edges are handled here: the constructor and
``send()`` block (bounded by ``bootstrap_timeout_ms``/``max_block_ms``, which we default low), ``close()`` can
raise and leave its network thread running, and it registers its own exit hook (the worker's own hook is
re-registered after each producer so it runs first).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from .._client_noise import (
    ClientLog,
    capture_client_logs,
    capture_new_threads,
    quiet_client_warnings,
    release_client_logs,
)
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
                "retry_backoff_ms", "max_in_flight_requests_per_connection", "metadata_max_age_ms",
                "connections_max_idle_ms", "metrics_num_samples", "metrics_sample_window_ms",
                "receive_message_max_bytes", "transaction_timeout_ms")
_BOOL = ("True or False", (bool,))
_STR = ("a str", (str,))
_STR_OR_NONE = ("a str or None", (str, type(None)))
_TYPES: dict[str, tuple[str, tuple[type, ...]]] = {
    # option -> (what to say, accepted types); None is accepted only where kafka-python's default is None
    "allow_auto_create_topics": _BOOL, "enable_idempotence": _BOOL, "metrics_enabled": _BOOL,
    "ssl_check_hostname": _BOOL, "client_dns_lookup": _STR, "sasl_kerberos_service_name": _STR,
    "client_id": _STR_OR_NONE, "sasl_kerberos_domain_name": _STR_OR_NONE, "sasl_plain_username": _STR_OR_NONE,
    "sasl_plain_password": _STR_OR_NONE, "ssl_cafile": _STR_OR_NONE, "ssl_certfile": _STR_OR_NONE,
    "ssl_keyfile": _STR_OR_NONE, "ssl_crlfile": _STR_OR_NONE, "ssl_ciphers": _STR_OR_NONE,
    "proxy_url": _STR_OR_NONE, "socks5_proxy": _STR_OR_NONE,
    "receive_buffer_bytes": ("a non-negative int or None", (int, type(None))),
    "send_buffer_bytes": ("a non-negative int or None", (int, type(None))),
    "retries": ("a non-negative int (or float('inf'))", (int, float)),
    "api_version": ("None, a str like '2.8' or a tuple like (2, 8)", (str, tuple, type(None))),
    "metric_reporters": ("a list", (list, tuple)),
    "socket_options": ("a list of (level, option, value) tuples", (list, tuple)),
}
CLIENT_DISTRIBUTION = "kafka-python"
SUPPORTED = (3, 0)
SUPPORTED_RANGE = ">=3.0,<4"


@functools.lru_cache(maxsize=1)
def installed_client_version() -> str | None:
    """kafka-python's version from its metadata, without importing it (the import costs ~0.3 s and warnings)."""
    from importlib import metadata

    try:
        return metadata.version(CLIENT_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None


def _major_minor(version: str) -> tuple[int, ...]:
    parts = []
    for part in version.split(".")[:2]:
        digits = "".join(ch for ch in part if ch.isdigit())
        parts.append(int(digits) if digits and part[:1].isdigit() else 0)
    return tuple(parts)


def check_client_version(version: str | None) -> None:
    """Refuse kafka-python 2.x (or 4+): its options and errors differ, and records would fail on every send."""
    if version is None:
        import importlib.util

        if importlib.util.find_spec("kafka") is None:
            raise ConfigError(f"kafka-python is not installed; kafkalog needs kafka-python{SUPPORTED_RANGE} "
                              f"(pip install 'kafka-python{SUPPORTED_RANGE}'), or transport='confluent'")
        return  # a kafka module without metadata (vendored): nothing to compare
    if _major_minor(version)[:1] != SUPPORTED[:1]:
        raise ConfigError(f"kafka-python {version} is installed; kafkalog needs kafka-python{SUPPORTED_RANGE} "
                          f"(pip install -U 'kafka-python{SUPPORTED_RANGE}'), or transport='confluent'")


def _check_types(config: Mapping[str, Any]) -> None:
    for name in _INT_OPTIONS:
        if name in config:
            value = config[name]
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigTypeError(f"producer_config: {name} must be a non-negative int, got {value!r}")
    for name, (what, types) in _TYPES.items():
        if name not in config:
            continue
        value = config[name]
        bad = not isinstance(value, types) or (isinstance(value, bool) and bool not in types)
        if not bad and isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
            bad = True
        if bad:
            raise ConfigTypeError(f"producer_config: {name} must be {what}, got {value!r}")


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
    _check_types(config)
    check_client_version(installed_client_version())
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


def classify(error: DeliveryError, log: ClientLog) -> DeliveryError:
    """A clearer error than "Unable to bootstrap" when the client's log said why (credentials, certificate)."""
    lowered_all = [(text, text.lower()) for text in (log.telling, log.first_error, log.last) if text]
    if error.reason != "timeout" or not lowered_all:
        return error
    for cause, lowered in lowered_all:
        if any(marker in lowered for marker in _AUTH_MARKERS):
            return DeliveryError("auth_failed", f"authentication failed (check the SASL settings): {cause}",
                                 retriable=False)
        if any(marker in lowered for marker in _TLS_MARKERS):
            return DeliveryError("tls_error", f"TLS handshake failed (check ssl_cafile and the broker "
                                              f"certificate): {cause}", retriable=False)
    return DeliveryError("broker_unavailable", f"{error}; last connection error: {lowered_all[0][0]}",
                         retriable=True)


_YIELD_EVERY = 16
_CLIENT_MODULES = ("kafka",)


class KafkaPythonTransport:
    """One ``KafkaProducer``, created by :meth:`open` on the worker thread."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self._settings = dict(settings)
        self._producer: Any = None
        self._log = ClientLog(_AUTH_MARKERS + _TLS_MARKERS)
        self._threads: list[int] = []

    def open(self) -> None:
        quiet_client_warnings(_CLIENT_MODULES)
        try:
            from kafka import KafkaProducer
        except ImportError as exc:  # pragma: no cover - it is a hard dependency
            raise DeliveryError("config_error", "kafka-python is not installed (pip install kafka-python)",
                                retriable=False) from exc
        # What the client logs on this thread and on the threads it starts is ours (see _client_noise)
        self._threads = [threading.get_ident()]
        capture_client_logs("kafka", self._threads, self._log)
        started: list[int] = []
        try:
            with capture_new_threads("kafka", self._log) as started:
                self._producer = KafkaProducer(**self._settings)
        except Exception as exc:
            release_client_logs(self._threads + started)
            raise classify(to_delivery_error(exc), self._log) from exc
        self._threads += started

    def send(self, messages: Sequence[Message], timeout: float) -> list[BaseException | None]:
        producer = self._producer
        quiet_client_warnings(_CLIENT_MODULES)
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
                results[index] = self._explain(to_delivery_error(exc))
        return results

    def _explain(self, error: DeliveryError) -> DeliveryError:
        """Add what the client logged (kept off the console) to an error that does not say much by itself."""
        said = self._log.last
        if not said or error.reason not in ("timeout", "broker_error") or said in str(error):
            return error
        return DeliveryError(error.reason, f"{error}; client log: {said}", retriable=error.retriable)

    def close(self, timeout: float) -> None:
        producer, self._producer = self._producer, None
        if producer is None:
            release_client_logs(self._threads)
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
        finally:
            release_client_logs(self._threads)


def _build(settings: Mapping[str, Any]) -> KafkaPythonTransport:
    return KafkaPythonTransport(settings)


SPEC = TransportSpec("kafka-python", validate, _build, client_modules=("kafka",))
