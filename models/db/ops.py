"""What operators ask of breaches and compensations: the JSON that ``slamon breaches``,
``slamon compensations`` and ``/v1/breaches``, ``/v1/compensations`` return. (What operators
may *do* to a compensation is :mod:`slamon.worker.compensation_actions`.)

Lists are newest first and bounded by ``limit``; instants are printed in ``zone``.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from slamon.models.db.payout_minutes import points_approved_automatically_after
from slamon.models.db.tables import GUARD_ROW, Breach, Compensation, OperatorAction, PayoutGuard
from slamon.models.db.views import UTC_ZONE, iso
from slamon.models.payout import HOUR
from slamon.models.states import CompensationStatus

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000


def breaches_view(
    session: Session,
    *,
    since: datetime | None = None,
    kind: str | None = None,
    status: str | None = None,
    limit: int = DEFAULT_LIMIT,
    zone: tzinfo = UTC_ZONE,
) -> list[dict[str, Any]]:
    """Breaches detected at or after ``since`` (all if None), of ``kind``/``status`` if given."""
    query = (
        select(Breach, Compensation.id, Compensation.status)
        .outerjoin(Compensation, Compensation.breach_id == Breach.id)
        .order_by(Breach.detected_at.desc(), Breach.id.desc())
        .limit(_bounded(limit))
    )
    if since is not None:
        query = query.where(Breach.detected_at >= since)
    if kind is not None:
        query = query.where(Breach.kind == kind)
    if status is not None:
        query = query.where(Breach.status == status)
    return [
        {
            "id": breach.id,
            "case_id": breach.case_id,
            "kind": breach.kind,
            "policy": breach.policy_id,
            "due_at": iso(breach.due_at, zone),
            "judge_at": iso(breach.judge_at, zone),
            "detected_at": iso(breach.detected_at, zone),
            "points": breach.points,
            "status": breach.status,
            "reason": breach.reason,
            "evidence_at": iso(breach.evidence_at, zone),
            "compensation": (
                {"id": compensation_id, "status": compensation_status}
                if compensation_id is not None
                else None
            ),
        }
        for breach, compensation_id, compensation_status in session.execute(query)
    ]


def compensations_view(
    session: Session,
    *,
    status: str | None = None,
    limit: int = DEFAULT_LIMIT,
    zone: tzinfo = UTC_ZONE,
) -> list[dict[str, Any]]:
    """Compensations with ``status`` (all if None), newest first."""
    query = select(Compensation).order_by(Compensation.id.desc()).limit(_bounded(limit))
    if status is not None:
        query = query.where(Compensation.status == status)
    return [compensation_view(c, zone) for c in session.scalars(query)]


def compensation_view(comp: Compensation, zone: tzinfo = UTC_ZONE) -> dict[str, Any]:
    return {
        "id": comp.id,
        "breach_id": comp.breach_id,
        "case_id": comp.case_id,
        "kind": comp.kind,
        "account": comp.account,
        "points": comp.points,
        "status": comp.status,
        "idempotency_key": comp.idempotency_key,
        "attempts": comp.attempts,
        "last_error": comp.last_error,
        "reference": comp.reference,
        "created_at": iso(comp.created_at, zone),
        "next_attempt_at": iso(comp.next_attempt_at, zone),
        "issued_at": iso(comp.issued_at, zone),
        "approved_at": iso(comp.approved_at, zone),
        "released_by": comp.released_by,
        "held_at": iso(comp.held_at, zone),
        "hold_limit": comp.hold_limit,
        "hold_reason": comp.hold_reason,
    }


def payout_guard_view(session: Session, now: datetime, zone: tzinfo = UTC_ZONE) -> dict[str, Any]:
    """The payout guard as operators see it: tripped or not (why, since when), what it holds,
    and the points it let through automatically in the last hour."""
    guard = session.get(PayoutGuard, GUARD_ROW)
    held_count, held_points = session.execute(
        select(func.count(), func.coalesce(func.sum(Compensation.points), 0)).where(
            Compensation.status == CompensationStatus.HELD
        )
    ).one()
    last_hour = points_approved_automatically_after(session.connection(), now - HOUR)
    tripped = guard is not None and guard.tripped_at is not None
    return {
        "tripped": tripped,
        "tripped_at": iso(guard.tripped_at, zone) if guard else None,
        "tripped_limit": guard.tripped_limit if guard else None,
        "tripped_reason": guard.tripped_reason if guard else None,
        "reset_at": iso(guard.reset_at, zone) if guard else None,
        "reset_by": guard.reset_by if guard else None,
        "held": {"count": int(held_count), "points": int(held_points)},
        "points_approved_last_hour": int(last_hour or 0),
    }


def operator_actions_view(
    session: Session,
    *,
    compensation_id: int | None = None,
    limit: int = DEFAULT_LIMIT,
    zone: tzinfo = UTC_ZONE,
) -> list[dict[str, Any]]:
    """The audit trail, newest first (of one compensation, if given)."""
    query = select(OperatorAction).order_by(OperatorAction.id.desc()).limit(_bounded(limit))
    if compensation_id is not None:
        query = query.where(OperatorAction.compensation_id == compensation_id)
    return [
        {
            "id": row.id,
            "at": iso(row.at, zone),
            "actor": row.actor,
            "action": row.action,
            "compensation_id": row.compensation_id,
            "from_status": row.from_status,
            "to_status": row.to_status,
            "note": row.note,
        }
        for row in session.scalars(query)
    ]


def _bounded(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    return limit
