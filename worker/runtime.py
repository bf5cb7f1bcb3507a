"""What the tasks run with: the database, the policies, the clock, the points issuer.

The shell (:mod:`slamon.bootstrap`) builds one :class:`Runtime` from the settings and installs
it before a worker or scheduler starts; tests install their own. Tasks never read settings or
the environment themselves, so the same task code runs embedded, in compose and under test.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from slamon.models.db.engine import engine_for
from slamon.worker.message_gate import Limits
from slamon.worker.payout_guard import GuardLimits

if TYPE_CHECKING:
    from slamon.models.policy.policy import PolicySet
    from slamon.worker.points.port import PointsIssuer


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    """``max_clock_skew``: an event further ahead of ``clock`` is refused
    (SLAMON_MAX_CLOCK_SKEW_SECONDS); ``redispatch_after``: a pending compensation untouched
    this long has lost its task (SLAMON_COMPENSATION_REDISPATCH_SECONDS)."""

    database_url: str
    policies: PolicySet
    max_clock_skew: timedelta
    redispatch_after: timedelta
    # The payout guard's limits (SLAMON_PAYOUT_MAX_* and the policies' own).
    payout_limits: GuardLimits
    # What the worker's gate lets through (SLAMON_MAX_BODY_BYTES, SLAMON_MAX_TASK_DELAY_SECONDS).
    message_limits: Limits
    clock: Callable[[], datetime] = utcnow
    issuer_factory: Callable[[Engine], PointsIssuer] | None = None
    # The issuer each process built, by pid (see issuer()).
    _issuers: dict[int, PointsIssuer] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def engine(self) -> Engine:
        # Looked up per call: engine_for keys by pid, so a forked pool child gets its own pool.
        return engine_for(self.database_url)

    def now(self) -> datetime:
        return self.clock()

    def issuer(self) -> PointsIssuer:
        """This process's points issuer, built once per process: a pool child forked after it
        was built makes its own, since two processes must not share an HTTP adapter's
        connections."""
        pid = os.getpid()
        issuer = self._issuers.get(pid)
        if issuer is None:
            if self.issuer_factory is None:
                raise RuntimeError("the runtime has no points issuer (see slamon.bootstrap)")
            issuer = self._issuers[pid] = self.issuer_factory(self.engine)
        return issuer


_current: Runtime | None = None


def install(runtime: Runtime) -> Runtime:
    global _current
    _current = runtime
    return runtime


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("no runtime installed: start workers with `slamon worker`")
    return _current
