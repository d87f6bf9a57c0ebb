"""Which producer options hold secrets, and how text is kept free of them (reprs, reports, error messages)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"
_SECRET_WORDS = ("password", "secret", "token", "credential", "sasl.oauthbearer.config")


def is_secret_option(name: str) -> bool:
    """Whether a producer option holds a secret (its value is never shown)."""
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def secret_values(producer_config: Mapping[str, Any]) -> tuple[str, ...]:
    """The secret values of a producer config, as text, so error text can be scrubbed of them."""
    return tuple(str(v) for k, v in producer_config.items()
                 if is_secret_option(k) and isinstance(v, (str, int, float)) and not isinstance(v, bool) and str(v))


def masked(producer_config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy safe to print: secret values replaced by ``***``."""
    return {k: (MASK if is_secret_option(k) and v is not None else v) for k, v in producer_config.items()}


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced by ``***``, longest first (one secret may contain another)."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text
