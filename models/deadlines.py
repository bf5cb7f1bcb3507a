"""Deadline planning: from a case's facts and the policy in force, the timers it gets.

Pure: no clock is read here (``now`` only words notes such as "already past"), no I/O.
Every instant returned is aware and expressed in the policy calendar's zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, Decimal

from slamon.models.calendar.engine import BusinessCalendar, calendar_for
from slamon.models.instants import as_read
from slamon.models.policy.policy import Metric, NoPolicyInForceError, Policy, PolicySet


def deadline_key(case_id: str, kind: str) -> str:
    """``case_id:kind``: a case has at most one deadline of each kind, and what must happen once
    per deadline is keyed by it: the compensation's idempotency key at the points service (one
    payment per broken promise, whatever is retried) and the key of each announcement about the
    deadline (its message id is ``topic:case_id:kind``, :mod:`slamon.models.announcements`)."""
    return f"{case_id}:{kind}"


@dataclass(frozen=True)
class CaseFacts:
    """What the opening event says about a case, as far as planning needs it."""

    opened_at: datetime
    category: str
    services: tuple[str, ...]
    city: str | None = None
    item_price: Decimal | None = None

    def __post_init__(self) -> None:
        if self.opened_at.tzinfo is None or self.opened_at.utcoffset() is None:
            raise ValueError(f"opened_at {self.opened_at.isoformat()} must carry a UTC offset")
        if self.item_price is not None and (not self.item_price.is_finite() or self.item_price < 0):
            raise ValueError(f"item_price must be a non-negative amount, got {self.item_price}")


@dataclass(frozen=True)
class PlannedDeadline:
    """One promise of the policy applied to a case.

    ``due_at``: the promise is broken by an event later than this. ``at_risk_at``: the
    policy's share of the time is used (same clock). ``judge_at``: ``due_at`` plus the grace
    for late events, in real time; the breach is decided then. ``points``: the penalty.
    """

    kind: str
    clock: str
    due_at: datetime
    at_risk_at: datetime
    judge_at: datetime
    points: int


@dataclass(frozen=True)
class CasePlan:
    """The verdict for a case: monitored or why not, and its deadlines."""

    policy_id: str
    monitored: bool
    reason: str | None
    deadlines: tuple[PlannedDeadline, ...]
    notes: tuple[str, ...] = ()


def plan_case(
    facts: CaseFacts, policies: PolicySet, now: datetime, policy_id: str | None = None
) -> CasePlan:
    """Plan a case's deadlines.

    Steps:
    1. Choose the policy: ``policy_id`` if given, else the one in force at ``opened_at``,
       else the configured fallback (noted); with neither, NoPolicyInForceError.
    2. Judge eligibility; a case that does not qualify is not monitored, with the reason.
    3. For each metric: its due instant on its clock, the at-risk instant on the same clock,
       the judge instant (due + grace, real time) and the penalty for the case's qualifying
       services. A ``window_only`` metric gives no deadline to a case opened while closed.
    4. Note anything worth an operator's eye: a missing price, a deadline already past at
       ``now`` (a case entered late).
    """
    policy, notes = _choose_policy(facts.opened_at, policies, policy_id)
    verdict = policy.eligibility.judge(policy.id, facts.category, facts.services, facts.city)
    if not verdict.monitored:
        return CasePlan(policy.id, False, verdict.reason, (), tuple(notes))

    calendar = calendar_for(policy.calendar)
    deadlines: list[PlannedDeadline] = []
    for kind, metric in policy.metrics.items():
        quote = metric.penalty.quote(verdict.qualifying_services, facts.item_price)
        notes.extend(f"{kind}: {note}" for note in quote.notes)
        deadline = _plan_metric(kind, metric, policy, calendar, facts.opened_at, quote.points)
        if deadline is None:
            notes.append(
                f"{kind}: opened at {_local(facts.opened_at, calendar)} outside the calendar's "
                f"open hours, so policy {policy.id} sets no {kind} deadline (window_only)"
            )
            continue
        if deadline.due_at <= now:
            notes.append(
                f"{kind}: due at {_local(deadline.due_at, calendar)}, already past at "
                f"{_local(now, calendar)}"
            )
        deadlines.append(deadline)
    return CasePlan(policy.id, True, None, tuple(deadlines), tuple(notes))


def _choose_policy(
    opened_at: datetime, policies: PolicySet, policy_id: str | None
) -> tuple[Policy, list[str]]:
    if policy_id is not None:
        return policies.get(policy_id), []
    try:
        return policies.in_force_at(opened_at), []
    except NoPolicyInForceError:
        fallback = policies.fallback
        if fallback is None:
            raise
        return fallback, [
            f"no policy in force at {as_read(opened_at)}; using the configured default "
            f"{fallback.id}"
        ]


def _plan_metric(
    kind: str,
    metric: Metric,
    policy: Policy,
    calendar: BusinessCalendar,
    opened_at: datetime,
    points: int,
) -> PlannedDeadline | None:
    """The deadline of one metric, or None when a window_only case was opened while closed."""
    duration = metric.duration
    at_risk_share = _share(duration, policy.at_risk_ratio)
    if metric.clock == "business_hours":
        due_at = calendar.add(opened_at, duration)
        at_risk_at = calendar.add(opened_at, at_risk_share)
    else:
        if metric.clock == "window_only" and not calendar.is_open(opened_at):
            return None
        due_at = wall_clock_add(opened_at, duration)
        at_risk_at = wall_clock_add(opened_at, at_risk_share)
    judge_at = wall_clock_add(due_at, timedelta(seconds=policy.grace_seconds))
    return PlannedDeadline(
        kind=kind,
        clock=metric.clock,
        due_at=due_at.astimezone(calendar.zone),
        at_risk_at=at_risk_at.astimezone(calendar.zone),
        judge_at=judge_at.astimezone(calendar.zone),
        points=points,
    )


def wall_clock_add(start: datetime, duration: timedelta) -> datetime:
    """``start`` plus ``duration`` of real time.

    Python adds a timedelta to an aware datetime in *local wall time* (same tzinfo, no
    offset change), which is an hour off across a DST change; adding in UTC is not.
    """
    return (start.astimezone(UTC) + duration).astimezone(start.tzinfo)


def _share(duration: timedelta, ratio: Decimal) -> timedelta:
    # Rounded up to the microsecond so that the at-risk instant is never before the true
    # share of the time: a warning early by a microsecond would be a warning "before 75 %".
    microseconds = Decimal(duration // timedelta(microseconds=1)) * ratio
    return timedelta(microseconds=int(microseconds.to_integral_value(rounding=ROUND_CEILING)))


def _local(instant: datetime, calendar: BusinessCalendar) -> str:
    return as_read(instant, calendar.zone)
