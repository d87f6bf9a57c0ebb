"""Backoff schedule (kafkalog._retry): exponential, capped, with equal jitter in [d/2, d]."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kafkalog._retry import Backoff


def ceiling(base: float, cap: float, attempt: int) -> float:
    return min(cap, base * 2 ** attempt)


class TestBackoff:
    @pytest.mark.parametrize("attempt", [0, 1, 2, 5, 10])
    def test_zero_random_gives_half(self, attempt: int) -> None:
        """With random() == 0 the delay is exactly d/2."""
        assert Backoff(0.1, 5.0, rand=lambda: 0.0).delay(attempt) == pytest.approx(ceiling(0.1, 5.0, attempt) / 2)

    @pytest.mark.parametrize("attempt", [0, 1, 2, 5, 10])
    def test_top_random_gives_full(self, attempt: int) -> None:
        """With random() -> 1 the delay approaches d (and never exceeds it)."""
        delay = Backoff(0.1, 5.0, rand=lambda: 1.0).delay(attempt)
        assert delay == pytest.approx(ceiling(0.1, 5.0, attempt))

    def test_first_retry_uses_base(self) -> None:
        """Attempt 0 waits between base/2 and base."""
        assert Backoff(0.2, 5.0, rand=lambda: 0.5).delay(0) == pytest.approx(0.15)

    def test_doubles_per_attempt(self) -> None:
        """Each attempt doubles the delay until the cap."""
        backoff = Backoff(0.1, 100.0, rand=lambda: 0.0)
        assert [round(backoff.delay(n), 6) for n in range(4)] == [0.05, 0.1, 0.2, 0.4]

    def test_capped(self) -> None:
        """Past the cap, the delay stays within [cap/2, cap]."""
        assert Backoff(0.1, 2.0, rand=lambda: 1.0).delay(20) == pytest.approx(2.0)

    def test_capped_lower_bound(self) -> None:
        """Past the cap, the shortest delay is cap/2."""
        assert Backoff(0.1, 2.0, rand=lambda: 0.0).delay(20) == pytest.approx(1.0)

    def test_huge_attempt_does_not_overflow(self) -> None:
        """A huge attempt number gives the capped delay, not an OverflowError."""
        assert Backoff(0.1, 3.0, rand=lambda: 1.0).delay(10**9) == pytest.approx(3.0)

    def test_returns_float(self) -> None:
        """The delay is a float."""
        assert isinstance(Backoff(1, 2, rand=lambda: 0.5).delay(0), float)

    def test_uses_injected_random(self) -> None:
        """The injected random source is what sets the jitter."""
        values = iter([0.0, 0.5, 1.0])
        backoff = Backoff(1.0, 1.0, rand=lambda: next(values))
        assert [backoff.delay(0) for _ in range(3)] == [0.5, 0.75, 1.0]

    @settings(max_examples=300, database=None)
    @given(base=st.floats(0.001, 10), cap_factor=st.floats(1, 1000), attempt=st.integers(0, 200),
           jitter=st.floats(0, 1, exclude_max=True))
    def test_always_between_half_and_full_ceiling(self, base: float, cap_factor: float, attempt: int,
                                                  jitter: float) -> None:
        """For any base, cap, attempt and random value, d/2 <= delay <= d with d = min(cap, base * 2**n)."""
        cap = base * cap_factor
        d = min(cap, base * 2.0 ** min(attempt, 62))
        delay = Backoff(base, cap, rand=lambda: jitter).delay(attempt)
        assert d / 2 * (1 - 1e-12) <= delay <= d * (1 + 1e-12)

    def test_real_random_within_bounds(self) -> None:
        """With the real random source (seeded), 1000 delays all lie within [d/2, d]."""
        rng = random.Random(1234)
        backoff = Backoff(0.1, 5.0, rand=rng.random)
        for attempt in range(1000):
            d = ceiling(0.1, 5.0, min(attempt, 62))
            assert d / 2 <= backoff.delay(attempt) <= d

    def test_real_random_spreads(self) -> None:
        """Jitter spreads delays: 200 draws for the same attempt are not all equal."""
        backoff = Backoff(1.0, 1.0, rand=random.Random(7).random)
        assert len({backoff.delay(0) for _ in range(200)}) > 100
