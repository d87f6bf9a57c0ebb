"""``producer_config`` for the confluent transport: owned options, choices, our defaults, secret scrubbing, and
:func:`validate`, which checks it all (with a throw-away librdkafka producer) before anything is sent.

Split out of :mod:`kafkalog.transports.confluent` (which re-exports the public names) so that module is only the
transport: this one runs in the caller's thread at construction, the transport on the worker thread.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .._client_options import CLIENT_NAMES, ClientOptions, Setting, origin_of, translate
from .._librdkafka_names import hint, unknown_property
from .._secrets import MASK, is_secret_option, scrub, secret_values
from ..errors import ConfigError, ConfigTypeError, MissingDependencyError
from ._confluent_errors import ClientHealth, _error_text

INSTALL_HINT = "pip install confluent-kafka (or the extra: pip install 'kafkalog[confluent]')"

OWNED_OPTIONS: dict[str, str] = {
    "bootstrap.servers": "use the bootstrap_servers option",
    "metadata.broker.list": "use the bootstrap_servers option",
    "on_delivery": "kafkalog tracks each record's delivery itself",
    "dr_cb": "kafkalog tracks each record's delivery itself",
    "dr_msg_cb": "kafkalog tracks each record's delivery itself",
    "delivery.report.only.error": "kafkalog sets it (a record is delivered unless reported failed)",
    "error_cb": "kafkalog handles client errors (see stats().last_error and on_error)",
    "logger": "librdkafka's log lines are kept by kafkalog, never written to stderr or to logging",
    "transactional.id": "log shipping is not transactional",
}

OPTION_SETTINGS: dict[str, Setting] = CLIENT_NAMES["confluent"]  # kafkalog option -> the client's name
_CONVERT = {"security_protocol": str.lower}

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


def import_client() -> Any:
    try:
        import confluent_kafka
    except ImportError as exc:
        raise MissingDependencyError(
            f"transport='confluent' needs the confluent-kafka package: {INSTALL_HINT}") from exc
    return confluent_kafka


def _shown(name: str, value: Any) -> str:
    return MASK if is_secret_option(name) else repr(value)


def scrub_config(text: str, config: Mapping[str, Any]) -> str:
    """``text`` without the secret values of ``config``."""
    return scrub(text, secret_values(config))


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
    if "message.timeout.ms" in settings and not _names_of("message.timeout.ms") & set(config):
        # our default must stay above a linger the user raised (librdkafka refuses message.timeout.ms <= linger.ms)
        linger = _milliseconds(settings.get("linger.ms", settings.get("queue.buffering.max.ms", 0)))
        request = _milliseconds(settings.get("request.timeout.ms", 10_000))
        if linger is not None and request is not None:
            settings["message.timeout.ms"] = max(settings["message.timeout.ms"], linger + request)
    return settings


def _milliseconds(value: Any) -> int | None:
    """A librdkafka duration as given (an int, a float, or a string of digits); None for anything else, which
    librdkafka's own check then refuses with its message."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


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


def _trial(client: Any, settings: Mapping[str, Any], origin: Mapping[str, str]) -> None:
    """Build (and drop) a producer without servers: librdkafka checks every option, no network involved."""
    conf = dict(settings)
    conf["logger"] = ClientHealth()
    conf["error_cb"] = _ignore
    try:
        producer = client.Producer(conf)
    except client.KafkaException as exc:
        text = scrub_config(_error_text(exc.args[0]) if exc.args else str(exc), settings).strip()
        unknown = unknown_property(text)
        if unknown is not None and unknown not in origin:  # a misspelt name in producer_config or -X
            raise ConfigError(f"producer_config: unknown librdkafka option {unknown!r}{hint(text, 'producer')}"
                              " (the names are librdkafka's, as in its CONFIGURATION.md)") from None
        names = _named_options(text, settings)
        if names:
            labels = [origin_of(n, origin) if n in origin else f"producer_config: {n!r}" for n in names]
            raise ConfigError(f"{', '.join(labels)} rejected by librdkafka: {text}") from None
        raise ConfigError(f"producer_config: librdkafka rejected the configuration: {text}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigTypeError(f"producer_config: {scrub_config(str(exc), settings)}") from None
    close_producer(producer)
    del producer


def close_producer(producer: Any) -> None:
    """``close()`` where the client's producer has one; never raises."""
    close = getattr(producer, "close", None)
    if close is not None:
        try:
            close()
        except Exception:
            pass


def _ignore(*args: Any) -> None:
    return None


def validate(producer_config: Mapping[str, Any], options: ClientOptions | None = None) -> dict[str, Any]:
    """Check ``producer_config`` (librdkafka names), merge the kafkalog ``options`` into it under librdkafka's
    names, and return the result over our defaults.

    Owned options and choices are checked without importing confluent_kafka; then a producer is built and
    dropped (cheap, no network) so librdkafka rejects unknown or invalid options now, as :class:`ConfigError`
    naming the option. Secret values never appear in the messages. Raises :class:`MissingDependencyError` if
    confluent-kafka is not installed.
    """
    try:
        config, origin = translate(options or ClientOptions(), producer_config, OPTION_SETTINGS, _CONVERT)
        _check_static(config)
    except (ConfigError, ConfigTypeError) as exc:  # a secret pasted into the wrong option is still a secret
        scrubbed = scrub(scrub_config(str(exc), producer_config), (options or ClientOptions()).secrets())
        if scrubbed != str(exc):
            raise type(exc)(scrubbed) from None
        raise
    settings = _with_defaults(config)
    client = import_client()
    _trial(client, settings, origin)
    return settings
