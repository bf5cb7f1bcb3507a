"""The scheduler says it sweeps: after each completed sweep it stamps itself in a Redis sorted
set, so ``/readyz`` on any API replica can tell a scheduler that judges deadlines from one that
is down, wedged, or failing every sweep (a database it cannot write, a bug).

The stamp is written only once a sweep returned (committed), never at a mere loop step; a
replica that stops leaves a stamp that ages out. The broker holds it because every role
already reaches it, and a database outage must not also hide whether the scheduler runs.
"""

from __future__ import annotations

import redis

SWEEPS_KEY = "slamon:sweeps"
FORGET_AFTER_SECONDS = 3600.0  # replicas gone this long are dropped from the set


def record_sweep(client: redis.Redis, claimer: str, now: float) -> None:
    """Stamp ``claimer`` (a scheduler replica) as having completed a sweep at ``now``."""
    pipe = client.pipeline()
    pipe.zadd(SWEEPS_KEY, {claimer: now})
    pipe.zremrangebyscore(SWEEPS_KEY, "-inf", now - FORGET_AFTER_SECONDS)
    pipe.execute()


def latest_sweep(client: redis.Redis) -> float | None:
    """When (Unix time) any scheduler last completed a sweep, or None if none is known."""
    newest = client.zrevrange(SWEEPS_KEY, 0, 0, withscores=True)
    return float(newest[0][1]) if newest else None
