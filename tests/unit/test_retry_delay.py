"""How long a compensation waits before its next attempt: backoff with jitter, at least the
service's Retry-After, never more than a few minutes (a longer Celery countdown would outlive
the broker's visibility timeout and run twice)."""

from __future__ import annotations

import pytest

from slamon.worker.compensation import MAX_RETRY_DELAY, retry_delay


@pytest.mark.parametrize(("attempts", "ceiling"), [(1, 1.0), (2, 2.0), (3, 4.0), (9, 256.0)])
def test_the_ceiling_doubles_with_each_failure(attempts: int, ceiling: float) -> None:
    assert retry_delay(attempts, rng=lambda: 0.5) == ceiling / 2
    assert retry_delay(attempts, rng=lambda: 0.0) == 0.0


def test_never_more_than_five_minutes() -> None:
    assert retry_delay(10_000, rng=lambda: 0.999999) < MAX_RETRY_DELAY == 300.0
    assert retry_delay(1, retry_after=3600, rng=lambda: 0.5) == MAX_RETRY_DELAY


def test_at_least_what_the_service_asked_for() -> None:
    assert retry_delay(1, retry_after=30, rng=lambda: 0.5) == 30
    assert retry_delay(9, retry_after=30, rng=lambda: 0.5) == 128.0
