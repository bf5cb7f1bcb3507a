"""How long to wait before retrying a points call that failed with a retryable error."""

from __future__ import annotations

import random
from collections.abc import Callable

# 2.0 ** 1024 overflows a float; long before that the ceiling is already the cap.
_MAX_EXPONENT = 64


def backoff_delay(
    attempt: int,
    base: float = 1.0,
    cap: float = 300.0,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number ``attempt`` (0 for the first retry).

    Exponential backoff with "full jitter" (AWS Architecture Blog, "Exponential Backoff and
    Jitter"): the delay is uniform in ``[0, min(cap, base * 2**attempt))``. The jitter spreads
    the retries of many compensations that failed together (the points service was down), so
    they do not all come back in the same second and knock it over again.

    1. ceiling = min(cap, base * 2**attempt)
    2. delay = ceiling * rng(), with ``rng`` returning a float in [0, 1)

    ``cap`` stays a few minutes on purpose: a Celery countdown longer than the broker's
    visibility timeout gets the task delivered twice.
    """
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    if base <= 0 or cap <= 0:
        raise ValueError(f"base and cap must be positive, got base={base}, cap={cap}")
    ceiling = min(cap, base * 2.0 ** min(attempt, _MAX_EXPONENT))
    return ceiling * rng()
