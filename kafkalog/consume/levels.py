"""Level names and numbers across the schemas, so ``--level warning`` means the same for each of them."""

from __future__ import annotations

import re

from ..errors import ConfigError

LEVELS: dict[str, int] = {
    "trace": 5, "debug": 10, "info": 20, "success": 25, "notice": 25, "warning": 30, "warn": 30,
    "error": 40, "critical": 50, "fatal": 50,
}
"""stdlib numbers, plus loguru's ``trace`` and ``success`` and the other schemas' spellings."""

_UNNAMED = re.compile(r"level (\d+)")


def level_number(name: str | None) -> int | None:
    """The number of a level name as records carry it (``"warning"``, ``"level 25"``); None when unknown."""
    if not name:
        return None
    lowered = name.lower()
    number = LEVELS.get(lowered)
    if number is not None:
        return number
    unnamed = _UNNAMED.fullmatch(lowered)
    return int(unnamed.group(1)) if unnamed else None


def otlp_level(severity_number: int) -> tuple[str, int]:
    """An OTLP severityNumber (1-24) as a level name and number (the ranges of the OpenTelemetry data model)."""
    if severity_number <= 4:
        return "trace", 5
    if severity_number <= 8:
        return "debug", 10
    if severity_number == 12:
        return "success", 25
    if severity_number <= 12:
        return "info", 20
    if severity_number <= 16:
        return "warning", 30
    if severity_number <= 20:
        return "error", 40
    return "critical", 50


def parse_level(text: str) -> int:
    """A ``--level`` value (a name or a number) as a number; raises :class:`ConfigError` otherwise."""
    value = text.strip().lower()
    if value.isdigit():
        return int(value)
    number = level_number(value)
    if number is None:
        raise ConfigError(f"--level: {text!r} is not a level; use a number or one of {sorted(LEVELS)}")
    return number
