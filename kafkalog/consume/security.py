"""The consumer's client settings: a JSON file and ``KEY=VALUE`` items in the client's own names, and the security
options in kafkalog's names (those of :class:`~kafkalog.KafkaLogConfig`), translated through the one table of
client names (``kafkalog._client_options.CLIENT_NAMES``) and checked as the handler checks them."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._client_options import CLIENT_NAMES, SECURITY_OPTIONS, check
from ..errors import ConfigError


def security_config(client: str, options: Mapping[str, Any],
                    client_config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``security_config("confluent", {"sasl_username": "u"})`` -> ``{"sasl.username": "u"}``: the security
    options (KafkaLogConfig's names; None or absent: not set), checked alone and against ``client_config`` (a
    protocol or mechanism set there), in ``client``'s names."""
    unknown = sorted(set(options) - set(SECURITY_OPTIONS))
    if unknown:
        raise ConfigError(f"unknown security option(s) {unknown}; the options are {list(SECURITY_OPTIONS)}")
    checked = check(options, client_config or {})
    names = CLIENT_NAMES[client]
    return {names[name].name: value for name, value in checked.items() if name in SECURITY_OPTIONS}


def _value(text: str) -> Any:
    try:
        return json.loads(text)  # numbers and true/false as such; anything else stays text
    except ValueError:
        return text


def consumer_config(client: str, *, config_file: Path | None = None, items: Sequence[str] = (),
                    security: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The consumer's settings in ``client``'s names: ``config_file`` (a JSON object), then ``items``
    (``KEY=VALUE``, values read as JSON where they are), then ``security`` (kafkalog's option names)."""
    config: dict[str, Any] = {}
    if config_file is not None:
        try:
            loaded = json.loads(config_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"--consumer-config: cannot read {str(config_file)!r} as JSON: "
                              f"{type(exc).__name__}") from None
        if not isinstance(loaded, dict):
            raise ConfigError("--consumer-config: expected a JSON object of consumer options")
        config.update(loaded)
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError("-X: expected KEY=VALUE (one had no '=' or no key; its text is not shown, it may be "
                              "a secret)")
        config[key.strip()] = _value(value)
    config.update(security_config(client, security or {}, config))
    return config
