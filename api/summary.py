"""The operators' overview: the read model behind ``GET /v1/summary``, the dashboard and part
of ``/metrics``.

Each figure is one query, and each query is bounded by an index or a limit wherever the figure
itself is bounded:

* pending deadlines, the oldest of them, those overdue and those due within the hour use the
  partial index ``ix_deadlines_due_pending`` (``judge_at`` where pending). "Due within the
  hour" is a ``due_at`` condition; it is searched as a ``judge_at`` range widened by the
  largest grace of the loaded policies (``judge_at = due_at + grace``), then filtered exactly.
* the outbox backlog and its oldest message use ``ix_outbox_unpublished``.
* the newest breaches and the breach-fire lag read the newest rows by primary key, at most
  ``LAG_SAMPLE_LIMIT`` of them, so an hour without breaches does not scan the whole history.

The counts by status (cases, breaches, compensations, dead letters) have no index that
bounds them and read their table, as ``/metrics`` always has; "at risk" (pending, past
``at_risk_at``, before ``due_at``) reads every pending deadline. Measured with 200,000 cases
and 250,000 pending deadlines, the whole summary takes about 200 ms on Postgres and 250-450 ms
on SQLite, nearly all of it those two; every other figure takes 0.5-20 ms. A partial index on
``at_risk_at`` where pending would bound "at risk" to the deadlines past their at-risk
instant; a counter table would bound the counts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import Connection, func, select

from slamon.models.db.tables import (
    DEADLINE_PENDING,
    GUARD_ROW,
    Breach,
    Case,
    Compensation,
    DeadLetter,
    Deadline,
    OutboxMessage,
    PayoutGuard,
)
from slamon.models.db.views import iso
from slamon.models.states import (
    PAID_COMPENSATIONS,
    BreachStatus,
    CaseStatus,
    CompensationStatus,
    DeadlineState,
    values,
)

PENDING = DEADLINE_PENDING
UNPUBLISHED = OutboxMessage.published_at.is_(None)

DUE_SOON = timedelta(hours=1)
# A deadline still pending this long after its judge instant means the scheduler is behind
# (one sweep period is about a second; this leaves room for a slow sweep, not for an outage).
OVERDUE_AFTER = timedelta(seconds=30)
LAG_WINDOW = timedelta(hours=1)
LAG_SAMPLE_LIMIT = 5000
LIST_LIMIT = 10

# Display order: each lifecycle's declaration order.
CASE_STATUSES = values(CaseStatus)
DEADLINE_STATES = values(DeadlineState)
BREACH_STATUSES = values(BreachStatus)
COMPENSATION_STATUSES = values(CompensationStatus)


@dataclass(frozen=True)
class PointsTotal:
    """How many compensations are in one status, and the points they carry."""

    count: int
    points: int


@dataclass(frozen=True)
class FireLag:
    """Breach-fire lag (``detected_at - judge_at``) of the breaches detected in the window
    that the scheduler could have fired on time (see :func:`fire_lag`)."""

    seconds: tuple[float, ...]  # ascending

    def quantile(self, q: float) -> float | None:
        return quantile(self.seconds, q)


def quantile(ascending: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q``-quantile of sorted values (an observed value, never interpolated)."""
    if not 0 < q <= 1:
        raise ValueError(f"quantile {q} is not in (0, 1]")
    if not ascending:
        return None
    return ascending[max(0, math.ceil(q * len(ascending)) - 1)]


# -- figures, one query each ---------------------------------------------------------------


def counts_by(conn: Connection, column: Any, known: Iterable[str] = ()) -> dict[str, int]:
    """Rows per value of ``column``; every ``known`` value appears, with 0 if absent."""
    counts = dict.fromkeys(known, 0)
    for value, count in conn.execute(select(column, func.count()).group_by(column)):
        counts[str(value)] = int(count)
    return counts


def pending_deadlines(conn: Connection) -> int:
    return _count(conn, select(func.count()).select_from(Deadline).where(PENDING))


def overdue_deadlines(conn: Connection, now: datetime) -> int:
    """Pending deadlines whose judge instant passed more than ``OVERDUE_AFTER`` ago."""
    return _count(
        conn,
        select(func.count()).where(PENDING, Deadline.judge_at < now - OVERDUE_AFTER),
    )


def deadlines_due_soon(conn: Connection, now: datetime, grace_bound: timedelta) -> int:
    """Pending deadlines with ``now < due_at <= now + DUE_SOON``.

    ``grace_bound`` is at least every deadline's grace (``judge_at - due_at``): it turns the
    ``due_at`` window into an indexed ``judge_at`` range that contains it.
    """
    return _count(
        conn,
        select(func.count()).where(
            PENDING,
            Deadline.judge_at > now,
            Deadline.judge_at <= now + DUE_SOON + grace_bound,
            Deadline.due_at > now,
            Deadline.due_at <= now + DUE_SOON,
        ),
    )


def deadlines_at_risk(conn: Connection, now: datetime) -> int:
    """Pending deadlines past their at-risk instant and not yet due (a warning, not a breach).

    No index bounds this yet, so it reads every pending deadline (see the module docstring).
    """
    return _count(
        conn,
        select(func.count()).where(PENDING, Deadline.at_risk_at <= now, Deadline.due_at > now),
    )


def fire_lag(conn: Connection, now: datetime) -> FireLag:
    """The scheduler's own lag on the breaches detected in the last ``LAG_WINDOW`` (among the
    newest ``LAG_SAMPLE_LIMIT``).

    Only deadlines that were pending before their judge instant count: one whose case (or
    reopen) arrived after that instant was overdue before the scheduler could see it, and its
    ``detected_at - judge_at`` measures how late the producer was, not the scheduler
    (``slamon_evidence_lateness_seconds`` shows that).
    """
    newest = (
        select(Breach.case_id, Breach.kind, Breach.detected_at, Breach.judge_at)
        .order_by(Breach.id.desc())
        .limit(LAG_SAMPLE_LIMIT)
        .subquery()
    )
    rows = conn.execute(
        select(newest.c.detected_at, newest.c.judge_at)
        .join(
            Deadline,
            (Deadline.case_id == newest.c.case_id) & (Deadline.kind == newest.c.kind),
        )
        .where(
            newest.c.detected_at >= now - LAG_WINDOW,
            Deadline.pending_since <= newest.c.judge_at,
        )
    )
    lags = sorted((detected - judge).total_seconds() for detected, judge in rows)
    return FireLag(tuple(lags))


def outbox_backlog(conn: Connection) -> int:
    return _count(conn, select(func.count()).select_from(OutboxMessage).where(UNPUBLISHED))


def oldest_unpublished_age(conn: Connection, now: datetime) -> float | None:
    """Seconds since the oldest unrelayed outbox message was written, or None if none is.

    Ids grow with insertion, so the lowest unpublished id is the oldest message, found by the
    partial index without sorting the backlog.
    """
    created = conn.execute(
        select(OutboxMessage.created_at).where(UNPUBLISHED).order_by(OutboxMessage.id).limit(1)
    ).scalar_one_or_none()
    return None if created is None else max(0.0, (now - created).total_seconds())


def compensation_totals(conn: Connection) -> dict[str, PointsTotal]:
    totals = dict.fromkeys(COMPENSATION_STATUSES, PointsTotal(0, 0))
    rows = conn.execute(
        select(
            Compensation.status, func.count(), func.coalesce(func.sum(Compensation.points), 0)
        ).group_by(Compensation.status)
    )
    for status, count, points in rows:
        totals[str(status)] = PointsTotal(int(count), int(points))
    return totals


def points_paid(totals: dict[str, PointsTotal]) -> PointsTotal:
    """What the points port paid: every compensation it paid, whatever happened after (a
    contest put it in review, a review found it paid in error): the ledger's figure."""
    paid = [totals[status] for status in PAID_COMPENSATIONS if status in totals]
    return PointsTotal(sum(t.count for t in paid), sum(t.points for t in paid))


def payout_guard(conn: Connection, zone: tzinfo) -> dict[str, Any]:
    """Whether the payout guard tripped (when, which limit, why); its one row, by key."""
    row = conn.execute(
        select(PayoutGuard.tripped_at, PayoutGuard.tripped_limit, PayoutGuard.tripped_reason)
        .where(PayoutGuard.id == GUARD_ROW)
    ).first()
    tripped_at = row.tripped_at if row is not None else None
    return {
        "tripped": tripped_at is not None,
        "tripped_at": iso(tripped_at, zone),
        "tripped_limit": row.tripped_limit if row is not None else None,
        "tripped_reason": row.tripped_reason if row is not None else None,
    }


def dead_letters(conn: Connection) -> dict[str, int]:
    total, unreplayed = conn.execute(
        select(
            func.count(),
            func.count().filter(DeadLetter.replayed_at.is_(None)),
        ).select_from(DeadLetter)
    ).one()
    return {"total": int(total), "unreplayed": int(unreplayed)}


def recent_breaches(
    conn: Connection, zone: tzinfo, limit: int = LIST_LIMIT
) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(
            Breach.case_id,
            Breach.kind,
            Breach.due_at,
            Breach.detected_at,
            Breach.points,
            Breach.status,
        )
        .order_by(Breach.id.desc())
        .limit(limit)
    )
    return [
        {
            "case_id": r.case_id,
            "kind": r.kind,
            "due_at": iso(r.due_at, zone),
            "detected_at": iso(r.detected_at, zone),
            "points": r.points,
            "status": r.status,
        }
        for r in rows
    ]


def oldest_pending(
    conn: Connection, now: datetime, zone: tzinfo, limit: int = LIST_LIMIT
) -> list[dict[str, Any]]:
    """The pending deadlines judged first; ``late_seconds`` > 0 when the judge instant passed."""
    rows = conn.execute(
        select(Deadline.case_id, Deadline.kind, Deadline.due_at, Deadline.judge_at)
        .where(PENDING)
        .order_by(Deadline.judge_at, Deadline.id)
        .limit(limit)
    )
    return [
        {
            "case_id": r.case_id,
            "kind": r.kind,
            "due_at": iso(r.due_at, zone),
            "judge_at": iso(r.judge_at, zone),
            "late_seconds": max(0.0, (now - r.judge_at).total_seconds()),
        }
        for r in rows
    ]


# -- the whole overview --------------------------------------------------------------------


def build_summary(
    conn: Connection, now: datetime, zone: tzinfo, grace_bound: timedelta
) -> dict[str, Any]:
    """The JSON the dashboard renders; instants are ISO-8601 in ``zone``."""
    lag = fire_lag(conn, now)
    totals = compensation_totals(conn)
    paid = points_paid(totals)
    held = totals[CompensationStatus.HELD]
    return {
        "generated_at": iso(now, zone),
        "zone": str(zone),
        "cases": counts_by(conn, Case.status, CASE_STATUSES),
        "deadlines": {
            "pending": pending_deadlines(conn),
            "due_next_hour": deadlines_due_soon(conn, now, grace_bound),
            "at_risk": deadlines_at_risk(conn, now),
            "overdue": overdue_deadlines(conn, now),
        },
        "breaches": counts_by(conn, Breach.status, BREACH_STATUSES),
        "compensations": {
            status: {"count": t.count, "points": t.points} for status, t in totals.items()
        },
        "points_paid": {"count": paid.count, "points": paid.points},
        "payout_guard": {
            **payout_guard(conn, zone),
            "held": {"count": held.count, "points": held.points},
        },
        "dead_letters": dead_letters(conn),
        "outbox": {
            "backlog": outbox_backlog(conn),
            "oldest_age_seconds": oldest_unpublished_age(conn, now),
        },
        "breach_fire_lag": {
            "window_seconds": LAG_WINDOW.total_seconds(),
            "breaches": len(lag.seconds),
            "p50_seconds": lag.quantile(0.5),
            "p99_seconds": lag.quantile(0.99),
        },
        "recent_breaches": recent_breaches(conn, zone),
        "oldest_pending_deadlines": oldest_pending(conn, now, zone),
    }


def _count(conn: Connection, query: Any) -> int:
    return int(conn.execute(query).scalar_one())
