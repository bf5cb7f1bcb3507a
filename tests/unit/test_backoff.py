"""backoff_delay: exponential growth, the cap, and full jitter."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slamon.worker.points.backoff import backoff_delay


def top(attempt: int, base: float = 1.0, cap: float = 300.0) -> float:
    """The ceiling itself: the delay with rng at 1.0, the (excluded) top of the jitter."""
    return backoff_delay(attempt, base, cap, rng=lambda: 1.0)


def test_ceiling_doubles_per_attempt_from_base() -> None:
    assert [top(a, base=0.5) for a in range(5)] == [0.5, 1.0, 2.0, 4.0, 8.0]


def test_ceiling_stops_at_the_cap() -> None:
    assert top(8) == 256.0
    assert top(9) == 300.0
    assert top(10_000) == 300.0  # no float overflow for absurd attempt numbers


def test_jitter_scales_the_ceiling() -> None:
    assert backoff_delay(3, rng=lambda: 0.25) == 2.0
    assert backoff_delay(3, rng=lambda: 0.0) == 0.0


@given(
    attempt=st.integers(min_value=0, max_value=200),
    base=st.floats(min_value=0.01, max_value=10),
    cap=st.floats(min_value=0.01, max_value=3600),
)
def test_real_random_delay_stays_within_zero_and_the_ceiling(
    attempt: int, base: float, cap: float
) -> None:
    delay = backoff_delay(attempt, base, cap)
    assert 0.0 <= delay < min(cap, base * 2.0 ** min(attempt, 64))


@pytest.mark.parametrize(
    ("attempt", "base", "cap"), [(-1, 1.0, 300.0), (0, 0.0, 300.0), (0, 1.0, -5.0)]
)
def test_invalid_arguments_are_refused(attempt: int, base: float, cap: float) -> None:
    with pytest.raises(ValueError):
        backoff_delay(attempt, base, cap)
