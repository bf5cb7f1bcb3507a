"""Read models: the JSON shapes that ``slamon case`` and ``GET /v1/cases/{id}`` print."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from slamon.models.db.tables import (
    Breach,
    Case,
    Compensation,
    DeadLetter,
    Deadline,
    InboxEvent,
    OutboxMessage,
)
from slamon.models.dead_letter_causes import Cause
from slamon.models.instants import as_read
from slamon.models.states import InboxOutcome

UTC_ZONE = ZoneInfo("UTC")


def iso(value: datetime | None, zone: tzinfo = UTC_ZONE) -> str | None:
    return as_read(value, zone) if value is not None else None


def case_view(
    session: Session, case_id: str, zone: tzinfo = UTC_ZONE, with_events: bool = True
) -> dict[str, Any] | None:
    """The case with its deadlines, breaches, compensations and event history, or None."""
    case = session.get(Case, case_id)
    if case is None:
        return _parked_view(session, case_id, zone) if with_events else None
    deadlines = session.scalars(
        select(Deadline).where(Deadline.case_id == case_id).order_by(Deadline.due_at)
    ).all()
    breaches = session.scalars(
        select(Breach).where(Breach.case_id == case_id).order_by(Breach.due_at)
    ).all()
    compensations = session.scalars(
        select(Compensation).where(Compensation.case_id == case_id).order_by(Compensation.id)
    ).all()
    history = _payment_history(session, case_id, zone) if compensations else {}
    view: dict[str, Any] = {
        "case_id": case.case_id,
        "status": case.status,
        "monitored": case.monitored,
        "not_monitored_reason": case.not_monitored_reason,
        "policy": case.policy_id,
        "opened_at": iso(case.opened_at, zone),
        "order_id": case.order_id,
        "buyer_account": case.buyer_account,
        "merchant_id": case.merchant_id,
        "provider_id": case.provider_id,
        "city": case.city,
        "category": case.category,
        "services": case.services,
        "item_price": str(case.item_price) if case.item_price is not None else None,
        "responded_at": iso(case.responded_at, zone),
        "resolved_at": iso(case.resolved_at, zone),
        "cancelled_at": iso(case.cancelled_at, zone),
        "deadlines": [
            {
                "kind": d.kind,
                "clock": d.clock,
                "due_at": iso(d.due_at, zone),
                "at_risk_at": iso(d.at_risk_at, zone),
                "judge_at": iso(d.judge_at, zone),
                "state": d.state,
                "met_at": iso(d.met_at, zone),
                "points": d.points,
            }
            for d in deadlines
        ],
        "breaches": [
            {
                "id": b.id,
                "kind": b.kind,
                "due_at": iso(b.due_at, zone),
                "detected_at": iso(b.detected_at, zone),
                "points": b.points,
                "status": b.status,
                "reason": b.reason,
                "evidence_at": iso(b.evidence_at, zone),
            }
            for b in breaches
        ],
        "compensations": [
            {
                "id": c.id,
                "kind": c.kind,
                "account": c.account,
                "points": c.points,
                "status": c.status,
                "idempotency_key": c.idempotency_key,
                "attempts": c.attempts,
                "last_error": c.last_error,
                "reference": c.reference,
                "created_at": iso(c.created_at, zone),
                "next_attempt_at": iso(c.next_attempt_at, zone),
                "issued_at": iso(c.issued_at, zone),
                "history": history.get(c.id, []),
            }
            for c in compensations
        ],
    }
    if with_events:
        view["events"] = _events(session, case_id, zone)
    return view


def _payment_history(
    session: Session, case_id: str, zone: tzinfo
) -> dict[int, list[dict[str, Any]]]:
    """Per compensation id, what its attempts announced (issued, failed, review), oldest first.

    The announcements are the outbox rows the compensation service writes with each outcome
    (``ix_outbox_case_id`` finds a case's); a retryable failure writes none, and shows in the
    compensation's ``attempts`` and ``last_error``.
    """
    rows = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.case_id == case_id, OutboxMessage.topic.startswith("compensation."))
        .order_by(OutboxMessage.id)
    ).all()
    history: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        compensation_id = row.payload.get("compensation_id")
        if isinstance(compensation_id, int):
            history.setdefault(compensation_id, []).append(
                {
                    "topic": row.topic,
                    "at": iso(row.created_at, zone),
                    "reason": row.payload.get("reason"),
                    "reference": row.payload.get("reference"),
                }
            )
    return history


def _parked_view(session: Session, case_id: str, zone: tzinfo) -> dict[str, Any] | None:
    # Events can arrive before help.opened; show them rather than claim the case is unknown.
    events = _events(session, case_id, zone)
    if not events:
        return None
    return {
        "case_id": case_id,
        "status": "not_opened",
        "monitored": False,
        "not_monitored_reason": "help.opened not received yet",
        "events": events,
        "deadlines": [],
        "breaches": [],
        "compensations": [],
    }


def _events(session: Session, case_id: str, zone: tzinfo) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(InboxEvent)
        .where(InboxEvent.case_id == case_id)
        .order_by(InboxEvent.occurred_at, InboxEvent.received_at)
    ).all()
    copies = _conflicting_copies(session, [e.event_id for e in rows if e.conflicts])
    history: list[dict[str, Any]] = []
    for e in rows:
        history.append(
            {
                "event_id": e.event_id,
                "type": e.type,
                "occurred_at": iso(e.occurred_at, zone),
                "received_at": iso(e.received_at, zone),
                "outcome": e.outcome,
                "detail": e.detail,
                "duplicates": e.duplicates,
                "conflicts": e.conflicts,
            }
        )
        # Each copy with other content follows the event it conflicts with (the first stands).
        history.extend(
            {
                "event_id": e.event_id,
                "type": e.type,
                "occurred_at": iso(e.occurred_at, zone),
                "received_at": iso(letter.received_at, zone),
                "outcome": InboxOutcome.CONFLICT,
                "detail": letter.error,
                "dead_letter_id": letter.id,
            }
            for letter in copies.get(e.event_id, [])
        )
    return history


def _conflicting_copies(session: Session, event_ids: list[str]) -> dict[str, list[DeadLetter]]:
    """The dead letters of the copies that conflicted with these events, by event id."""
    copies: dict[str, list[DeadLetter]] = {}
    if not event_ids:
        return copies
    letters = session.scalars(
        select(DeadLetter)
        .where(DeadLetter.event_id.in_(event_ids), DeadLetter.cause == Cause.CONFLICT)
        .order_by(DeadLetter.received_at, DeadLetter.id)
    )
    for letter in letters:
        if letter.event_id is not None:
            copies.setdefault(letter.event_id, []).append(letter)
    return copies
