"""The named redaction presets: the keys and text patterns each one removes (docs/safety.md lists them).

A pattern is ``(name, regex, check)``: ``name`` goes into the replacement (``[redacted:name]``); a group named
``keep`` is kept in front of the replacement (``user:`` of ``https://user:pw@host``); ``check`` (optional) sees the
matched text and says whether it really is one (a card number must pass the Luhn check).
"""

from __future__ import annotations

import re
from collections.abc import Callable

Check = Callable[[str], bool]
Pattern = tuple[str, str, Check | None]

SECRET_KEY_WORDS: tuple[str, ...] = (
    "password", "passwd", "pwd", "passphrase", "secret", "client_secret", "token", "access_token",
    "refresh_token", "id_token", "api_key", "apikey", "x_api_key", "authorization", "proxy_authorization",
    "auth", "cookie", "set_cookie", "private_key", "credentials",
)
"""A key is a secret's when, lower-cased with ``-`` read as ``_``, it is one of these words or ends in ``_`` and one
of them (``db_password``, ``X-Api-Key``, ``github_token``; not ``max_tokens`` or ``author``)."""


def luhn(text: str) -> bool:
    """True if the digits of ``text`` pass the Luhn check (card numbers do; most other digit runs do not)."""
    digits = [ord(c) - 48 for c in text if "0" <= c <= "9"]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for index, digit in enumerate(reversed(digits)):
        doubled = digit * 2 if index % 2 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return total % 10 == 0


def iban(text: str) -> bool:
    """True if ``text`` (spaces allowed) passes the IBAN check digits (ISO 13616: mod 97 == 1)."""
    compact = text.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    try:
        return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1
    except ValueError:
        return False


SECRET_PATTERNS: tuple[Pattern, ...] = (
    ("private_key", r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----", None),
    ("bearer", r"(?P<keep>\b(?i:bearer|basic|token)\s+)[A-Za-z0-9._~+/=-]{8,}", None),
    ("jwt", r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}", None),
    ("aws_key", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", None),
    ("github_token", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})\b", None),
    ("slack_token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}", None),
    ("google_api_key", r"\bAIza[0-9A-Za-z_-]{35}", None),
    ("stripe_key", r"\b[sr]k_(?:live|test)_[0-9A-Za-z]{16,}", None),
    ("url_password", r"(?P<keep>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]+:)[^\s/@]+(?=@)", None),
    ("assignment", r"(?P<keep>\b(?i:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key)\b"
                   r"[\"']?\s*[=:]\s*[\"']?)[^\s,;&\"']+", None),
)

PII_PATTERNS: tuple[Pattern, ...] = (
    ("email", r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b", None),
    ("card", r"\b\d(?:[ -]?\d){12,18}\b", luhn),
    ("iban", r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b", iban),
)

SECRET_NEEDLES: tuple[str, ...] = ("-----", "bearer", "basic", "token", "eyj", "akia", "asia", "gh", "xox",
                                   "aiza", "k_", "://", "pass", "pwd", "secret", "key")
PII_NEEDLES: tuple[str, ...] = ("@",)
"""A string is searched with a preset's patterns only if, lower-cased, it contains one of its needles (or, for
``pii``, a run of 4 digits): every pattern of the preset needs one, and one search for all the needles costs far
less than the patterns' search."""

PRESETS: dict[str, tuple[tuple[str, ...], tuple[Pattern, ...], tuple[str, ...], bool]] = {
    "secrets": (SECRET_KEY_WORDS, SECRET_PATTERNS, SECRET_NEEDLES, False),
    "pii": ((), PII_PATTERNS, PII_NEEDLES, True),
}
"""Preset name -> (key words, text patterns, needles, whether a run of 4 digits also calls for a search)."""
MIN_MATCH = 6
"""No preset pattern matches fewer characters (``a@b.io``): shorter strings are not searched."""

for _name, (_keys, _patterns, _needles, _digits) in PRESETS.items():  # the presets are checked once, at import
    for _pattern in _patterns:
        re.compile(_pattern[1])
