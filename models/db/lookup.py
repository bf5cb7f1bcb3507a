"""What the dashboard looks up: a case by any id a person holds, and the deadlines at risk now.

* :func:`search_cases`: exact matches on the case id, order id, buyer account or merchant id
  (each an index: the primary key, ``ix_cases_order_id``, ``ix_cases_buyer_account``,
  ``ix_cases_merchant_id_opened_at``), newest first; a case id known only from parked events
  (its help.opened has not arrived) is found through the inbox.
* :func:`at_risk_now`: pending deadlines past their at-risk instant, soonest judged first,
  read in ``judge_at`` order from the partial index of pending deadlines, so the scan stops
  at ``limit`` rows; those already past due and waiting for their grace to end come first.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import literal_column, or_, select
from sqlalchemy.orm import Session

from slamon.models.db.tables import Case, Deadline, InboxEvent
from slamon.models.db.views import iso

SEARCH_FIELDS = ("case_id", "order_id", "buyer_account", "merchant_id")
# A literal, so that both planners match the partial index ``ix_deadlines_due_pending``.
_PENDING = Deadline.state == literal_column("'pending'")


def search_cases(session: Session, text: str, limit: int, zone: tzinfo) -> list[dict[str, Any]]:
    """Cases whose case, order, buyer or merchant id is ``text``; each says which matched."""
    columns = [getattr(Case, name) for name in SEARCH_FIELDS]
    cases = session.scalars(
        select(Case)
        .where(or_(*(column == text for column in columns)))
        .order_by(Case.opened_at.desc(), Case.case_id)
        .limit(limit)
    ).all()
    found = [
        {
            "case_id": c.case_id,
            "matched": [name for name in SEARCH_FIELDS if getattr(c, name) == text],
            "status": c.status,
            "monitored": c.monitored,
            "opened_at": iso(c.opened_at, zone),
            "order_id": c.order_id,
            "buyer_account": c.buyer_account,
            "merchant_id": c.merchant_id,
            "provider_id": c.provider_id,
            "city": c.city,
        }
        for c in cases
    ]
    if not found:
        parked = session.scalar(
            select(InboxEvent.case_id).where(InboxEvent.case_id == text).limit(1)
        )
        if parked is not None:
            found.append({"case_id": parked, "matched": ["case_id"], "status": "not_opened",
                          "monitored": False, "opened_at": None, "order_id": None,
                          "buyer_account": None, "merchant_id": None, "provider_id": None,
                          "city": None})
    return found


def at_risk_now(session: Session, now: datetime, limit: int, zone: tzinfo) -> list[dict[str, Any]]:
    """Pending deadlines with ``at_risk_at <= now``, soonest judged first."""
    rows = session.execute(
        select(
            Deadline.case_id, Deadline.kind, Deadline.due_at, Deadline.at_risk_at,
            Deadline.judge_at, Deadline.points, Case.merchant_id, Case.provider_id, Case.city,
        )
        .join(Case, Case.case_id == Deadline.case_id)
        .where(_PENDING, Deadline.at_risk_at <= now)
        .order_by(Deadline.judge_at, Deadline.id)
        .limit(limit)
    ).all()
    return [
        {
            "case_id": r.case_id,
            "kind": r.kind,
            "due_at": iso(r.due_at, zone),
            "at_risk_at": iso(r.at_risk_at, zone),
            "judge_at": iso(r.judge_at, zone),
            "seconds_left": (r.due_at - now).total_seconds(),
            "points": r.points,
            "merchant_id": r.merchant_id,
            "provider_id": r.provider_id,
            "city": r.city,
        }
        for r in rows
    ]
