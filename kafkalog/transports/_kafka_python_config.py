"""kafka-python's producer options as kafkalog checks them at construction, without importing kafka-python:
which options exist, which kafkalog owns, their types and choices, our defaults, and the supported versions."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from .._client_options import CLIENT_NAMES, ClientOptions, Setting, origin_of, translate
from .._suggest import suggest
from ..errors import ConfigError, ConfigTypeError

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
OPTION_SETTINGS: dict[str, Setting] = CLIENT_NAMES["kafka-python"]  # kafkalog option -> the client's name
_CONVERT = {"compression": lambda codec: None if codec == "none" else codec}
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


def validate(producer_config: Mapping[str, Any], options: ClientOptions | None = None) -> dict[str, Any]:
    """Check ``producer_config`` for kafka-python without importing it, merge the kafkalog ``options`` into it
    under kafka-python's names, and return the result over our defaults."""
    for name, why in OWNED_OPTIONS.items():
        if name in producer_config:
            raise ConfigError(f"producer_config: {name!r} cannot be set here ({why})")
    unknown = sorted(set(producer_config) - KNOWN_OPTIONS)
    if unknown:
        raise ConfigError(f"producer_config: unknown kafka-python option(s) {unknown}"
                          f"{suggest(unknown[0], KNOWN_OPTIONS)}; allowed: {sorted(KNOWN_OPTIONS)}")
    config, origin = translate(options or ClientOptions(), producer_config, OPTION_SETTINGS, _CONVERT)
    for name, allowed in _CHOICES.items():
        if name in producer_config and config[name] not in allowed:
            raise ConfigError(f"producer_config: {name}={config[name]!r} is not one of {list(allowed)}")
    _check_types(producer_config)
    check_client_version(installed_client_version())
    codec = config.get("compression_type")
    if codec in _CODEC_MODULES:
        import importlib.util

        if importlib.util.find_spec(_CODEC_MODULES[codec]) is None:
            label = "compression" if "compression_type" in origin else "producer_config: compression_type"
            raise ConfigError(
                f"{label}={codec!r} needs the {_CODEC_PACKAGES[codec]!r} package with kafka-python "
                f"(pip install {_CODEC_PACKAGES[codec]}, or pip install 'kafkalog[compression]'); gzip needs nothing")
    protocol = config.get("security_protocol", "PLAINTEXT")
    if str(protocol).startswith("SASL") and config.get("sasl_mechanism") is None:
        raise ConfigError(f"{origin_of('security_protocol', origin)}={protocol!r} needs sasl_mechanism")
    if "acks" in origin and config["acks"] != "all" and "enable_idempotence" not in config:
        config["enable_idempotence"] = False  # needs acks='all'; kafka-python would turn it off with a warning
    merged = {**DEFAULTS, **config}
    if "delivery_timeout_ms" not in producer_config:  # our default stays above a raised linger or request timeout
        merged["delivery_timeout_ms"] = max(merged["delivery_timeout_ms"],
                                            merged["linger_ms"] + merged["request_timeout_ms"])
    _check_delivery_timeout(merged, producer_config, origin)
    return merged


def _check_delivery_timeout(config: Mapping[str, Any], user: Mapping[str, Any], origin: Mapping[str, str]) -> None:
    """kafka-python refuses this when the producer is built, on the worker thread: every record would then fail
    as a broker error. Say it here, naming where each of the three values came from (only a delivery_timeout_ms
    the user set can be too low: :func:`validate` raises kafkalog's own default to fit)."""

    def named(key: str) -> str:
        if key in origin:
            return f"{origin[key]} ({config[key]} ms)"
        return f"{key}={config[key]}" + ("" if key in user else " (kafkalog's default)")

    delivery, linger, request = (config[name] for name in ("delivery_timeout_ms", "linger_ms", "request_timeout_ms"))
    if delivery < linger + request:
        raise ConfigError(
            f"producer_config: {named('delivery_timeout_ms')} must be at least linger_ms + request_timeout_ms "
            f"({named('linger_ms')} + {named('request_timeout_ms')}), or kafka-python refuses to start; "
            f"set delivery_timeout_ms to {linger + request} or more, or lower the others")
