"""What an event's evidence does to a deadline row, judged by event time.

The state machine says "the response happened at T"; this module decides what that means for
the stored deadline, whenever the message arrives:
- evidence at or before ``due_at`` meets the deadline, even if it arrives after the due
  instant but inside the grace period (the sweeper has not judged yet);
- evidence after ``due_at`` is kept (``met_at``) but leaves the deadline pending, so the
  sweeper records the breach at ``judge_at`` with honest times;
- evidence at or before ``due_at`` that arrives after the breach was recorded *contests* the
  breach: its unpaid compensation is cancelled, a paid one is flagged for review. Nothing is
  deleted, so the history stays auditable.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.case_state import DeadlineEffect
from models.tables import Breach, Compensation, Deadline, OutboxMessage

log = logging.getLogger("slamon.evidence")


def apply_effect(
    session: Session, deadline: Deadline, effect: DeadlineEffect, now: datetime
) -> None:
    if effect.action == "met":
        _met(session, deadline, effect.at, now)
    elif effect.action == "cancel":
        _cancel(deadline, effect.at, now)
    elif effect.action == "reopen":
        _reopen(deadline)


def _met(session: Session, deadline: Deadline, at: datetime, now: datetime) -> None:
    on_time = at <= deadline.due_at
    if deadline.state == "pending":
        # Keep the earliest evidence: a second response does not move the first one.
        if deadline.met_at is None or at < deadline.met_at:
            deadline.met_at = at
        if on_time:
            deadline.state, deadline.judged_at = "met", now
    elif deadline.state == "breached" and on_time:
        deadline.met_at = at
        contest_breach(session, deadline, at, now)


def _cancel(deadline: Deadline, at: datetime, now: datetime) -> None:
    if deadline.state != "pending":
        return
    deadline.cancelled_at = at
    # A promise already broken when the help was withdrawn stays to be judged (as breached).
    if at <= deadline.due_at and (deadline.met_at is None or deadline.met_at > deadline.due_at):
        deadline.state, deadline.judged_at = "cancelled", now


def _reopen(deadline: Deadline) -> None:
    # The consumer rejected the resolution: the promise is open again with its original due
    # time; if that is already past, the sweeper judges it on its next pass.
    if deadline.state == "met":
        deadline.state, deadline.met_at, deadline.judged_at = "pending", None, None
        deadline.claimed_until = deadline.claimed_by = None


def contest_breach(
    session: Session, deadline: Deadline, evidence_at: datetime, now: datetime
) -> None:
    breach = session.scalars(
        select(Breach).where(Breach.case_id == deadline.case_id, Breach.kind == deadline.kind)
    ).one_or_none()
    if breach is None or breach.status == "contested":
        return
    breach.status, breach.evidence_at = "contested", evidence_at
    compensation = session.scalars(
        select(Compensation).where(Compensation.breach_id == breach.id)
    ).one_or_none()
    if compensation is not None:
        if compensation.status in ("pending", "failed"):
            compensation.status = "cancelled"
        elif compensation.status == "issued":
            compensation.status = "review"
        compensation.last_error = f"contested: evidence at {evidence_at.isoformat()}"
    session.add(
        OutboxMessage(
            message_id=f"breach.contested:{deadline.case_id}:{deadline.kind}",
            topic="sla.breach_contested",
            case_id=deadline.case_id,
            payload={
                "case_id": deadline.case_id,
                "kind": deadline.kind,
                "due_at": deadline.due_at.isoformat(),
                "evidence_at": evidence_at.isoformat(),
                "compensation_status": compensation.status if compensation else None,
            },
            created_at=now,
        )
    )
    log.warning(
        "case %s: %s breach contested by evidence at %s",
        deadline.case_id,
        deadline.kind,
        evidence_at.isoformat(),
    )
