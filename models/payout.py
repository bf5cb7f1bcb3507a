"""The payout guard's rules: when automatic payment stops and a person decides.

slamon pays penalties without asking anyone, so a flood of breaches (a bug, a replayed
backfill, or someone with a produce token minting backdated openings) would pay out as fast
as the workers run. The guard looks at each compensation just before it is paid, against what
was already paid automatically, and holds it when:

1. the guard has tripped: every compensation after a trip is held until an operator resets it;
2. it is larger than ``points_per_compensation`` (one penalty beyond any the rules allow);
3. its buyer account already received ``penalties_per_account_per_day`` automatic penalties
   in the last 24 hours;
4. paying it would take the points paid automatically in the last hour (service-wide) past
   ``points_per_hour``; this one also **trips** the guard (rule 1), since a rate that high
   means something is wrong with all of them, not with one.

A held compensation is never paid and never dropped: an operator releases it (paid, with its
original idempotency key, and not counted against the limits: a person decided) or cancels
it. Windows roll (the last hour, the last 24 hours from ``now``), and count what the guard
approved, paid or still being paid, so two workers deciding at once (serialised by the
caller's lock) cannot together exceed a limit.

Pure: the caller reads the window from the database under its lock and passes ``now``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from slamon.models.instants import as_read

HOUR = timedelta(hours=1)
DAY = timedelta(hours=24)


class Limit(StrEnum):
    """Which rule held a compensation (stored with it, shown to the operator)."""

    POINTS_PER_COMPENSATION = "points_per_compensation"
    PENALTIES_PER_ACCOUNT_PER_DAY = "penalties_per_account_per_day"
    POINTS_PER_HOUR = "points_per_hour"
    GUARD_TRIPPED = "guard_tripped"


class PolicyPayout(BaseModel):
    """A policy's own limits (the ``[payout]`` table of its file); unset ones use the settings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_points_per_compensation: int | None = Field(None, ge=1)
    max_penalties_per_account_per_day: int | None = Field(None, ge=1)


@dataclass(frozen=True)
class PayoutLimits:
    """The limits in force (SLAMON_PAYOUT_MAX_* in the settings, where the defaults live)."""

    points_per_hour: int
    penalties_per_account_per_day: int
    points_per_compensation: int

    def for_policy(self, payout: PolicyPayout | None) -> PayoutLimits:
        """These limits with a policy's own per-compensation and per-account ones in place."""
        if payout is None:
            return self
        return replace(
            self,
            points_per_compensation=payout.max_points_per_compensation
            or self.points_per_compensation,
            penalties_per_account_per_day=payout.max_penalties_per_account_per_day
            or self.penalties_per_account_per_day,
        )


@dataclass(frozen=True)
class Trip:
    """The guard tripped: since ``at``, every compensation is held until a reset."""

    at: datetime
    limit: Limit
    reason: str


@dataclass(frozen=True)
class Hold:
    """Why a compensation is held: the rule, the limit's value, and a sentence for people."""

    limit: Limit
    value: int
    reason: str


@dataclass
class PayoutWindow:
    """What the guard has let through automatically, as of one decision (updated as it goes).

    ``points_last_hour``: points approved in the last hour, service-wide;
    ``penalties_last_day``: per buyer account (only the accounts being decided), approved in
    the last 24 hours; ``trip``: the guard's trip, if it has tripped and was not reset.
    """

    points_last_hour: int
    penalties_last_day: dict[str, int] = field(default_factory=dict)
    trip: Trip | None = None


def decide(
    window: PayoutWindow, account: str, points: int, limits: PayoutLimits, now: datetime
) -> Hold | None:
    """Hold (why) or approve (None) one compensation; an approval is added to ``window``, a
    hold over the hourly limit trips it (module docstring, rules 1-4 in order)."""
    if window.trip is not None:
        return Hold(
            Limit.GUARD_TRIPPED,
            0,
            f"payout guard tripped at {as_read(window.trip.at)} ({window.trip.reason}); "
            "held until an operator resets the guard or releases it",
        )
    if points > limits.points_per_compensation:
        return Hold(
            Limit.POINTS_PER_COMPENSATION,
            limits.points_per_compensation,
            f"{points} points exceed the limit of {limits.points_per_compensation} per "
            "compensation",
        )
    paid_to_account = window.penalties_last_day.get(account, 0)
    if paid_to_account >= limits.penalties_per_account_per_day:
        return Hold(
            Limit.PENALTIES_PER_ACCOUNT_PER_DAY,
            limits.penalties_per_account_per_day,
            f"account {account} already received {paid_to_account} penalties in 24 h "
            f"(limit {limits.penalties_per_account_per_day})",
        )
    if window.points_last_hour + points > limits.points_per_hour:
        reason = (
            f"{window.points_last_hour} points paid in the last hour + {points} would exceed "
            f"the limit of {limits.points_per_hour} per hour"
        )
        window.trip = Trip(now, Limit.POINTS_PER_HOUR, reason)
        return Hold(Limit.POINTS_PER_HOUR, limits.points_per_hour, reason + "; guard tripped")
    window.points_last_hour += points
    window.penalties_last_day[account] = paid_to_account + 1
    return None
