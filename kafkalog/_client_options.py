"""The client settings every deployment needs (security, compression, acks, the producer's own batching) as
kafkalog options of their own: checked here once, whatever the transport, then translated by each transport's
config module into its client's names (:func:`translate`), so changing ``transport=`` is one word.

Secrets (``sasl_password``, ``ssl_key_password``) never appear in the messages raised here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any

from ._secrets import MASK
from .errors import ConfigError, ConfigTypeError

PROTOCOLS: tuple[str, ...] = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS: tuple[str, ...] = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
COMPRESSIONS: tuple[str, ...] = ("none", "gzip", "snappy", "lz4", "zstd")
ACKS: tuple[Any, ...] = (0, 1, "all")
SECRET_OPTIONS = frozenset({"sasl_password", "ssl_key_password"})
_SSL_FILES = ("ssl_ca_file", "ssl_cert_file", "ssl_key_file")

# producer_config keys of either client that set the same thing as an option (for the cross-checks below)
_PROTOCOL_KEYS = ("security_protocol", "security.protocol")
_MECHANISM_KEYS = ("sasl_mechanism", "sasl.mechanism", "sasl.mechanisms")
_USERNAME_KEYS = ("sasl_plain_username", "sasl.username")
_PASSWORD_KEYS = ("sasl_plain_password", "sasl.password")


@dataclass(frozen=True, repr=False)
class ClientOptions:
    """The options as given, normalised (``None``: not set, the client's own default or ``producer_config``
    decides). ``producer_linger`` is in milliseconds here, as both clients take it."""

    security_protocol: str | None = None
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_ca_file: str | None = None
    ssl_cert_file: str | None = None
    ssl_key_file: str | None = None
    ssl_key_password: str | None = None
    compression: str | None = None
    acks: int | str | None = None
    producer_linger: int | None = None
    producer_batch_bytes: int | None = None

    def items(self) -> Iterator[tuple[str, Any]]:
        """``(option, value)`` for each option that is set."""
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                yield f.name, value

    def secrets(self) -> tuple[str, ...]:
        return tuple(value for name, value in self.items() if name in SECRET_OPTIONS and value)

    def __repr__(self) -> str:  # KafkaLogConfig.client_options is public: its passwords show as ***
        shown = (f"{name}={MASK if name in SECRET_OPTIONS else value!r}" for name, value in self.items())
        return f"ClientOptions({', '.join(shown)})"


OPTION_NAMES: tuple[str, ...] = tuple(f.name for f in fields(ClientOptions))


def _choice(name: str, value: Any, allowed: tuple[str, ...], *, upper: bool) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigTypeError(f"{name}: expected a str (one of {list(allowed)}) or None, got {type(value).__name__}")
    normal = value.strip().upper() if upper else value.strip().lower()
    if normal not in allowed:
        raise ConfigError(f"{name}: {value!r} is not one of {list(allowed)}")
    return normal


def _text(name: str, value: Any) -> str | None:
    """A str or None; a secret's value is never shown, only its type."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigTypeError(f"{name}: expected a str or None, got {type(value).__name__}")
    if not value:
        raise ConfigError(f"{name}: must not be empty (leave it out, or None, to not set it)")
    return value


def _file(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise ConfigTypeError(f"{name}: expected a file path or None, got {type(value).__name__}")
    path = os.fspath(value)
    if not isinstance(path, str) or not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise ConfigError(f"{name}: {path!r} is not a readable file")
    return os.path.abspath(path)


def _acks(value: Any) -> int | str | None:
    if value is None:
        return None
    key = value.strip().lower() if isinstance(value, str) else value
    if isinstance(value, bool) or key not in (0, 1, -1, "0", "1", "-1", "all"):
        raise ConfigError(f"acks: {value!r} is not one of {list(ACKS)} (-1 means 'all')")
    if key in (-1, "-1", "all"):
        return "all"
    return int(key)


def _int(name: str, value: Any, minimum: int, maximum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigTypeError(f"{name}: expected an int or None, got {value!r}")
    if not minimum <= value <= maximum:
        raise ConfigError(f"{name}: must be from {minimum} to {maximum}, got {value!r}")
    return value


def _linger_ms(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigTypeError(f"producer_linger: expected a number of seconds or None, got {value!r}")
    if not 0 <= value <= 60:
        raise ConfigError(f"producer_linger: must be from 0 to 60 seconds, got {value!r}")
    return round(value * 1000)


def _given(producer_config: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if producer_config.get(key) is not None:
            return producer_config[key]
    return None


def check(values: Mapping[str, Any], producer_config: Mapping[str, Any]) -> ClientOptions:
    """The options from ``values`` (keyed by option name), checked alone and against each other.

    ``producer_config`` is consulted only where the two may be mixed (a mechanism set there, a protocol there).
    """
    options = ClientOptions(
        security_protocol=_choice("security_protocol", values.get("security_protocol"), PROTOCOLS, upper=True),
        sasl_mechanism=_choice("sasl_mechanism", values.get("sasl_mechanism"), SASL_MECHANISMS, upper=True),
        sasl_username=_text("sasl_username", values.get("sasl_username")),
        sasl_password=_text("sasl_password", values.get("sasl_password")),
        ssl_ca_file=_file("ssl_ca_file", values.get("ssl_ca_file")),
        ssl_cert_file=_file("ssl_cert_file", values.get("ssl_cert_file")),
        ssl_key_file=_file("ssl_key_file", values.get("ssl_key_file")),
        ssl_key_password=_text("ssl_key_password", values.get("ssl_key_password")),
        compression=_choice("compression", values.get("compression"), COMPRESSIONS, upper=False),
        acks=_acks(values.get("acks")),
        producer_linger=_linger_ms(values.get("producer_linger")),
        producer_batch_bytes=_int("producer_batch_bytes", values.get("producer_batch_bytes"), 1, 2**31 - 1),
    )
    _check_together(options, producer_config)
    return options


def _check_together(options: ClientOptions, producer_config: Mapping[str, Any]) -> None:
    given = _given(producer_config, _PROTOCOL_KEYS)
    protocol = options.security_protocol or str(given or "PLAINTEXT").upper()
    if options.security_protocol:
        where = ""
    elif given is None:
        where = " (security_protocol is not set)"
    else:
        where = " (set in producer_config)"
    sasl = protocol.startswith("SASL_")
    for name in ("sasl_mechanism", "sasl_username", "sasl_password"):
        if getattr(options, name) is not None and not sasl:
            raise ConfigError(f"{name}: only used with security_protocol 'SASL_PLAINTEXT' or 'SASL_SSL', "
                              f"not {protocol!r}{where}")
    for name in (*_SSL_FILES, "ssl_key_password"):
        if getattr(options, name) is not None and not protocol.endswith("SSL"):
            raise ConfigError(f"{name}: only used with security_protocol 'SSL' or 'SASL_SSL', not {protocol!r}{where}")
    if options.security_protocol and sasl and options.sasl_mechanism is None \
            and _given(producer_config, _MECHANISM_KEYS) is None:
        raise ConfigError(f"sasl_mechanism: security_protocol={protocol!r} needs one of {list(SASL_MECHANISMS)}")
    if options.sasl_mechanism is not None:
        for name, keys in (("sasl_username", _USERNAME_KEYS), ("sasl_password", _PASSWORD_KEYS)):
            if getattr(options, name) is None and _given(producer_config, keys) is None:
                raise ConfigError(f"{name}: sasl_mechanism={options.sasl_mechanism!r} needs {name}")
    if options.ssl_key_file is not None and options.ssl_cert_file is None:
        raise ConfigError("ssl_key_file: needs ssl_cert_file (the client certificate the key belongs to)")
    if options.ssl_key_password is not None and options.ssl_key_file is None and options.ssl_cert_file is None:
        raise ConfigError("ssl_key_password: needs ssl_key_file (or ssl_cert_file holding the key)")


@dataclass(frozen=True)
class Setting:
    """How one option is written for one client: its name there, its aliases, and the value in its terms."""

    name: str
    aliases: tuple[str, ...] = ()


# THE table of client option names: each kafkalog option in each client's own name (and the aliases that set the
# same thing there). The producer transports and ``kafkalog consume`` (whose security flags are these options)
# read it; nothing else spells a client's names for them.
CLIENT_NAMES: dict[str, dict[str, Setting]] = {
    "kafka-python": {
        "security_protocol": Setting("security_protocol"),
        "sasl_mechanism": Setting("sasl_mechanism"),
        "sasl_username": Setting("sasl_plain_username"),
        "sasl_password": Setting("sasl_plain_password"),
        "ssl_ca_file": Setting("ssl_cafile"),
        "ssl_cert_file": Setting("ssl_certfile"),
        "ssl_key_file": Setting("ssl_keyfile"),
        "ssl_key_password": Setting("ssl_password"),
        "compression": Setting("compression_type"),
        "acks": Setting("acks"),
        "producer_linger": Setting("linger_ms"),
        "producer_batch_bytes": Setting("batch_size"),
    },
    "confluent": {
        "security_protocol": Setting("security.protocol"),
        "sasl_mechanism": Setting("sasl.mechanism", ("sasl.mechanisms",)),
        "sasl_username": Setting("sasl.username"),
        "sasl_password": Setting("sasl.password"),
        "ssl_ca_file": Setting("ssl.ca.location"),
        "ssl_cert_file": Setting("ssl.certificate.location"),
        "ssl_key_file": Setting("ssl.key.location"),
        "ssl_key_password": Setting("ssl.key.password"),
        "compression": Setting("compression.type", ("compression.codec",)),
        "acks": Setting("acks", ("request.required.acks",)),
        "producer_linger": Setting("linger.ms", ("queue.buffering.max.ms",)),
        "producer_batch_bytes": Setting("batch.size"),
    },
}
SECURITY_OPTIONS: tuple[str, ...] = ("security_protocol", "sasl_mechanism", "sasl_username", "sasl_password",
                                     "ssl_ca_file", "ssl_cert_file", "ssl_key_file", "ssl_key_password")
"""The options that are the same for a producer and a consumer: what every command takes as flags."""


def translate(options: ClientOptions, producer_config: Mapping[str, Any], table: Mapping[str, Setting],
              convert: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The options in one client's names, merged over ``producer_config``; and which option each name came from.

    ``convert`` maps an option to a function of its value (the client's spelling). A setting given both as an
    option and in ``producer_config`` raises, naming both (never the value).
    """
    merged = dict(producer_config)
    origin: dict[str, str] = {}
    for option, value in options.items():
        setting = table[option]
        for key in (setting.name, *setting.aliases):
            if key in producer_config:
                raise ConfigError(f"{option} and producer_config[{key!r}] set the same thing; set only one "
                                  f"({option} works with every transport)")
        func = convert.get(option)
        merged[setting.name] = func(value) if func is not None else value
        origin[setting.name] = option
    return merged, origin


def origin_of(key: str, origin: Mapping[str, str]) -> str:
    """How to name a client setting in a message: the kafkalog option it came from, or its producer_config key."""
    option = origin.get(key)
    return option if option is not None else f"producer_config[{key!r}]"
