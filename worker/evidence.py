"""What an event's evidence does to a deadline row, judged by event time.

The state machine says "the response happened at T" or "the help was withdrawn at T"; this
module decides what that means for the stored deadline, whenever the message arrives. The
row keeps the facts (``met_at``: the earliest evidence that counts; ``cancelled_at``: the
withdrawal) and its state follows from them by :func:`slamon.models.judge.settlement`, the
first two rules of the sweeper's judgement, so any delivery order of the same facts gives the
same row:

1. evidence at or before ``due_at`` → ``met`` (even if its message arrives after the due
   instant, inside the grace period, before the sweeper judged);
2. otherwise, withdrawn at or before ``due_at`` → ``cancelled``;
3. otherwise ``pending``: late evidence (``met_at`` after due) or a withdrawal after the due
   instant leaves the deadline to the sweeper, which records the breach at ``judge_at`` with
   honest times. A promise already broken when the help was withdrawn stays to be judged.

A reopen (the consumer rejected the resolution) clears the evidence: the deadline is pending
again with its *original* due time, so if that is already past the sweeper judges it on its
next pass. A deadline the sweeper already judged ``breached`` is final; timely evidence or a
withdrawal before the due instant that arrives after that *contests* the breach: its unpaid
compensation is cancelled, a paid one is flagged for review. Nothing is deleted, so the
history stays auditable.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from slamon.models.announcements import outbox_row
from slamon.models.case_state import DeadlineEffect
from slamon.models.db.tables import Breach, Compensation, Deadline, OutboxMessage
from slamon.models.deadlines import deadline_key
from slamon.models.decisions import Decision, decision
from slamon.models.instants import as_read
from slamon.models.judge import in_time, settlement
from slamon.models.states import (
    BREACH,
    COMPENSATION,
    DEADLINE,
    BreachStatus,
    CompensationStatus,
    DeadlineState,
)

log = logging.getLogger("slamon.evidence")

_P = CompensationStatus
_UNPAID = COMPENSATION.only_from((_P.PENDING, _P.FAILED, _P.HELD), _P.CANCELLED)


def apply_effect(
    session: Session, deadline: Deadline, effect: DeadlineEffect, now: datetime
) -> None:
    """Record what ``effect`` says about ``deadline`` and settle its state (module docstring)."""
    if deadline.state == DeadlineState.BREACHED:
        if effect.action in ("met", "cancel") and in_time(effect.at, deadline.due_at):
            if effect.action == "met":
                deadline.met_at = effect.at
            else:
                deadline.cancelled_at = effect.at
            contest_breach(session, deadline, effect.at, now)
        return
    if effect.action == "met":
        # Keep the earliest evidence: a second response does not move the first one.
        if deadline.met_at is None or effect.at < deadline.met_at:
            deadline.met_at = effect.at
    elif effect.action == "cancel":
        if deadline.cancelled_at is None or effect.at < deadline.cancelled_at:
            deadline.cancelled_at = effect.at
    elif effect.action == "reopen":
        # The rejected resolution no longer counts; a later one will be new evidence.
        deadline.met_at = None
    _settle(deadline, now)


def _settle(deadline: Deadline, now: datetime) -> None:
    settled = settlement(deadline.due_at, deadline.met_at, deadline.cancelled_at)
    state = DeadlineState(settled) if settled is not None else DeadlineState.PENDING
    if state == deadline.state:
        return
    deadline.state = DEADLINE.move(deadline.state, state)
    if state == DeadlineState.PENDING:
        # Open again (a reopen): a claim or judgement from before no longer applies, and the
        # scheduler's lag on it counts from now (its judge instant may be long past).
        deadline.judged_at = deadline.claimed_until = deadline.claimed_by = None
        deadline.pending_since = now
    else:
        deadline.judged_at = now


def contest_breach(
    session: Session, deadline: Deadline, evidence_at: datetime, now: datetime
) -> None:
    """Contest the deadline's breach: ``evidence_at`` (timely evidence, or a withdrawal before
    the due instant) shows the promise was not broken after all."""
    breach = session.scalars(
        select(Breach).where(Breach.case_id == deadline.case_id, Breach.kind == deadline.kind)
    ).one_or_none()
    if breach is None or breach.status == BreachStatus.CONTESTED:
        return
    breach.status = BREACH.move(breach.status, BreachStatus.CONTESTED)
    breach.evidence_at = evidence_at
    compensation = session.scalars(
        select(Compensation).where(Compensation.breach_id == breach.id)
    ).one_or_none()
    if compensation is not None:
        # Not paid yet: not owed after all. Paid already: a person must look.
        if compensation.status in _UNPAID:
            compensation.status = COMPENSATION.move(compensation.status, _P.CANCELLED)
        elif compensation.status == _P.ISSUED:
            compensation.status = COMPENSATION.move(compensation.status, _P.REVIEW)
        compensation.last_error = f"contested: evidence at {as_read(evidence_at)}"
    session.add(
        OutboxMessage(
            **outbox_row(
                "sla.breach_contested",
                deadline_key(deadline.case_id, deadline.kind),
                deadline.case_id,
                now,
                kind=deadline.kind,
                due_at=deadline.due_at.isoformat(),
                evidence_at=evidence_at.isoformat(),
                compensation_status=compensation.status if compensation else None,
            )
        )
    )
    log.warning(
        "case %s: %s breach contested by evidence at %s",
        deadline.case_id,
        deadline.kind,
        as_read(evidence_at),
        extra=decision(Decision.BREACH_CONTESTED, case_id=deadline.case_id, kind=deadline.kind,
                       deadline_id=deadline.id, breach_id=breach.id,
                       compensation_id=compensation.id if compensation else None),
    )
