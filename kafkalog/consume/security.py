"""The security settings the command takes as flags, spelled in each client's own option names."""

from __future__ import annotations

from typing import Any

NAMES = {
    "kafka-python": {"security_protocol": "security_protocol", "sasl_mechanism": "sasl_mechanism",
                     "sasl_username": "sasl_plain_username", "sasl_password": "sasl_plain_password",
                     "ssl_cafile": "ssl_cafile", "ssl_certfile": "ssl_certfile", "ssl_keyfile": "ssl_keyfile",
                     "ssl_key_password": "ssl_password"},
    "confluent": {"security_protocol": "security.protocol", "sasl_mechanism": "sasl.mechanism",
                  "sasl_username": "sasl.username", "sasl_password": "sasl.password",
                  "ssl_cafile": "ssl.ca.location", "ssl_certfile": "ssl.certificate.location",
                  "ssl_keyfile": "ssl.key.location", "ssl_key_password": "ssl.key.password"},
}


def security_config(client: str, **settings: str | None) -> dict[str, Any]:
    """``security_config("confluent", sasl_username="u")`` -> ``{"sasl.username": "u"}``; None values are left
    out. Keys: security_protocol, sasl_mechanism, sasl_username, sasl_password, ssl_cafile, ssl_certfile,
    ssl_keyfile, ssl_key_password."""
    names = NAMES[client]
    unknown = sorted(set(settings) - set(names))
    if unknown:
        raise TypeError(f"unknown security setting(s) {unknown}; allowed: {sorted(names)}")
    return {names[key]: value for key, value in settings.items() if value is not None}
