"""Backoff schedule with jitter. Pure: the random source is injectable so tests can pin it."""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """Exponential backoff with "equal jitter": attempt n waits between d/2 and d, d = min(cap, base * 2**n).

    Jitter keeps many processes that lost the same broker from reconnecting in lockstep.
    """

    __slots__ = ("_random", "base", "cap")

    def __init__(self, base: float, cap: float, rand: Callable[[], float] | None = None) -> None:
        self.base = base
        self.cap = cap
        self._random = rand or random.Random().random  # own generator: never disturbs the app's global seed

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (0 for the first retry)."""
        ceiling = min(self.cap, self.base * (2 ** min(attempt, 62)))
        return float(ceiling / 2 + self._random() * ceiling / 2)
