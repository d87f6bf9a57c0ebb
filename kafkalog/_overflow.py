"""The ``overflow`` option: one policy for every record, or one per level (``{"DEBUG": "drop_newest",
"ERROR": "block"}``), compiled once into :class:`OverflowPolicy`, which the memory queue asks only when it is full.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Mapping
from typing import Any

from .errors import ConfigError, ConfigTypeError

OVERFLOW_POLICIES: tuple[str, ...] = ("drop_newest", "drop_oldest", "block")
DEFAULT_POLICY = "drop_newest"

LOGURU_LEVELS = {"TRACE": 5, "SUCCESS": 25}
"""loguru's own level names that stdlib logging does not know (the others are the same numbers)."""


def _level_number(key: Any) -> int:
    if isinstance(key, bool):
        raise ConfigTypeError(f"overflow: a level must be a level name or number, got {key!r}")
    if isinstance(key, int):
        if key < 0:
            raise ConfigError(f"overflow: level {key} is negative")
        return key
    if isinstance(key, str):
        name = key.strip().upper()
        if name.isdigit():
            return int(name)
        number = LOGURU_LEVELS.get(name)
        if number is None:
            known = logging.getLevelName(name)  # a stdlib name (or one added with logging.addLevelName)
            number = known if isinstance(known, int) else None
        if number is None:
            raise ConfigError(f"overflow: {key!r} is not a level name (e.g. 'DEBUG', 'INFO', 'WARNING', 'ERROR', "
                              "'CRITICAL', loguru's 'TRACE' and 'SUCCESS') or a level number")
        return number
    raise ConfigTypeError(f"overflow: a level must be a level name or number, got {type(key).__name__}")


def _policy(where: str, value: Any) -> str:
    if not isinstance(value, str) or value not in OVERFLOW_POLICIES:
        raise ConfigError(f"{where}: {value!r} is not one of {list(OVERFLOW_POLICIES)}")
    return value


class OverflowPolicy:
    """What a record at a given level does when the queue is full.

    From a mapping, each entry is a threshold: a record uses the policy of the highest level listed at or below
    its own; a record below every listed level uses ``"drop_newest"``.
    """

    __slots__ = ("_policies", "_thresholds", "uniform")

    def __init__(self, value: object) -> None:
        self.uniform: str | None = None
        self._thresholds: list[int] = []
        self._policies: list[str] = []
        if isinstance(value, Mapping):
            if not value:
                raise ConfigError("overflow: an empty mapping; give a policy, or a mapping from level to policy")
            by_level: dict[int, str] = {}
            for key, policy in value.items():
                number = _level_number(key)
                if number in by_level:
                    raise ConfigError(f"overflow: level {key!r} is listed twice (as level {number})")
                by_level[number] = _policy(f"overflow[{key!r}]", policy)
            self._thresholds = sorted(by_level)
            self._policies = [by_level[n] for n in self._thresholds]
            if len(set(self._policies)) == 1 and self._thresholds[0] == 0:
                self.uniform = self._policies[0]
        else:
            self.uniform = _policy("overflow", value)

    def for_level(self, levelno: int) -> str:
        """The policy for a record at ``levelno``."""
        if self.uniform is not None:
            return self.uniform
        index = bisect.bisect_right(self._thresholds, levelno) - 1
        return self._policies[index] if index >= 0 else DEFAULT_POLICY

    def __repr__(self) -> str:
        if self.uniform is not None:
            return repr(self.uniform)
        names = {number: name for name, number in LOGURU_LEVELS.items()}
        return repr({names.get(n) or logging.getLevelName(n): p
                     for n, p in zip(self._thresholds, self._policies, strict=True)})
