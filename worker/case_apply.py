"""Applying one help event to its stored case: the case row, its deadlines and the inbox row.

The caller (:mod:`slamon.worker.ingest`) holds the case's lock and has recorded the event in the
inbox; this module decides the event's outcome and writes it on that inbox row:

- ``help.opened`` plans eligibility and deadlines from the policy in force at ``opened_at`` and
  stores the case (``applied``; the detail says why an ineligible case is not monitored). A
  second opening, or one no policy covers, is ``rejected`` with the reason.
- any other event for a case not opened yet is ``parked``;
- otherwise the pure state machine (:func:`slamon.models.case_state.apply`) decides: ``applied``
  (the detail is the transition's note, e.g. why it changed nothing), ``rejected`` for good with the
  reason, or ``parked`` when it would be legal once an earlier, late event arrives.

After an event is applied, :func:`retry_parked` applies the case's parked events again.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from slamon.models.case_state import CaseState, DeadlineEffect, apply, initial
from slamon.models.db.tables import Case, Deadline, InboxEvent
from slamon.models.deadlines import CaseFacts, plan_case
from slamon.models.events import HelpEvent, HelpOpened, event_to_json, parse_event
from slamon.models.policy.policy import PolicyError, PolicySet
from slamon.models.states import INBOX, DeadlineState, InboxOutcome
from slamon.worker.evidence import apply_effect

APPLIED, PARKED, REJECTED = InboxOutcome.APPLIED, InboxOutcome.PARKED, InboxOutcome.REJECTED
NOT_OPENED = "waiting for help.opened of this case"


def apply_event(
    session: Session, policies: PolicySet, event: HelpEvent, inbox: InboxEvent, now: datetime
) -> InboxOutcome:
    """Decide ``event``'s outcome (see the module docstring), record it on ``inbox``, return it."""
    case = session.get(Case, event.case_id)
    if isinstance(event, HelpOpened):
        if case is not None:
            return _finish(inbox, REJECTED, "case was already opened by an earlier event")
        try:
            case = _open_case(session, policies, event, now)
        except PolicyError as exc:
            # No policy covers the opening instant: a configuration gap, not a bad event.
            return _finish(inbox, REJECTED, str(exc))
        return _finish(inbox, APPLIED, opening_detail(case.monitored, case.not_monitored_reason))
    if case is None:
        return _finish(inbox, PARKED, NOT_OPENED)
    return _apply_to_case(session, case, event, inbox, now)


def retry_parked(session: Session, case_id: str, now: datetime) -> bool:
    """Apply the case's parked events again; True if some are still parked.

    1. Load the case's parked events, in ``occurred_at`` order.
    2. Apply each to the case as it stands (each one applied changes what the next one sees).
    3. If any was applied, start again at 1: an event that waited earlier in this round may be
       legal now. Each such round leaves at least one event fewer parked, so there are at most
       as many rounds as events parked at the start.
    """
    case = session.get(Case, case_id)
    if case is None:
        return True
    parked = _parked(session, case_id)
    for _ in range(len(parked)):
        outcomes = [
            _apply_to_case(session, case, parse_event(row.payload), row, now) for row in parked
        ]
        if APPLIED not in outcomes:
            break
        parked = _parked(session, case_id)
    return bool(parked)


def _parked(session: Session, case_id: str) -> list[InboxEvent]:
    return list(
        session.scalars(
            select(InboxEvent)
            .where(InboxEvent.case_id == case_id, InboxEvent.outcome == PARKED)
            .order_by(InboxEvent.occurred_at, InboxEvent.received_at, InboxEvent.event_id)
        )
    )


def _finish(inbox: InboxEvent, outcome: InboxOutcome, detail: str | None) -> InboxOutcome:
    # A new row takes any outcome; a parked one being retried moves as its lifecycle allows.
    inbox.outcome = outcome if inbox.outcome is None else INBOX.move(inbox.outcome, outcome)
    inbox.detail = detail
    return outcome


def inbox_row(
    event: HelpEvent,
    received_at: datetime,
    outcome: InboxOutcome | None = None,
    detail: str | None = None,
) -> dict[str, Any]:
    """The inbox row of ``event``, as column values. The one-by-one path builds it without an
    outcome and lets :func:`apply_event` decide before the row is added to the session; the
    bulk path (:mod:`slamon.worker.bulk_open`) inserts it with its outcome already decided."""
    return {
        "event_id": event.event_id,
        "case_id": event.case_id,
        "type": event.type,
        "occurred_at": event.occurred_at,
        "received_at": received_at,
        "payload": event_to_json(event),
        "outcome": outcome,
        "detail": detail,
        "duplicates": 0,
        "conflicts": 0,
    }


def opening_rows(
    policies: PolicySet, event: HelpOpened, now: datetime
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The case row and its deadline rows that ``event`` opens, as column values.

    The one mapping from an opening to rows, shared by the one-by-one path here and the bulk
    path (:mod:`slamon.worker.bulk_open`). Raises PolicyError when no policy covers ``opened_at``.
    """
    facts = CaseFacts(
        opened_at=event.occurred_at,
        category=event.category,
        services=tuple(event.services),
        city=event.city,
        item_price=event.item_price,
    )
    plan = plan_case(facts, policies, now)
    case = {
        "case_id": event.case_id,
        "monitored": plan.monitored,
        "not_monitored_reason": plan.reason,
        "policy_id": plan.policy_id,
        "opened_at": event.occurred_at,
        "order_id": event.order_id,
        "buyer_account": event.buyer_account,
        "merchant_id": event.merchant_id,
        "city": event.city,
        "category": event.category,
        "services": list(event.services),
        "item_price": event.item_price,
        "created_at": now,
        "reopen_count": 0,
        "last_event_at": event.occurred_at,
        "updated_at": now,
        **_state_columns(initial(event)),
    }
    deadlines = [
        {
            "case_id": event.case_id,
            "kind": planned.kind,
            "clock": planned.clock,
            "policy_id": plan.policy_id,
            "due_at": planned.due_at,
            "at_risk_at": planned.at_risk_at,
            "judge_at": planned.judge_at,
            "points": planned.points,
            "state": DeadlineState.PENDING,
            "at_risk_sent": False,
            "pending_since": now,
        }
        for planned in plan.deadlines
    ]
    return case, deadlines


def opening_detail(monitored: bool, not_monitored_reason: str | None) -> str | None:
    """The inbox detail of an applied opening: why the case is not monitored, if it is not."""
    return None if monitored else not_monitored_reason


def _open_case(session: Session, policies: PolicySet, event: HelpOpened, now: datetime) -> Case:
    case_row, deadline_rows = opening_rows(policies, event, now)
    case = Case(**case_row)
    session.add(case)
    session.add_all(Deadline(**row) for row in deadline_rows)
    return case


def _apply_to_case(
    session: Session, case: Case, event: HelpEvent, inbox: InboxEvent, now: datetime
) -> InboxOutcome:
    transition = apply(_load_state(case), event)
    if transition.waiting:
        return _finish(inbox, PARKED, transition.reason)
    if not transition.ok:
        return _finish(inbox, REJECTED, transition.reason)
    _store_state(case, transition.state)
    case.last_event_at = max(case.last_event_at, event.occurred_at)
    case.updated_at = now
    _apply_effects(session, case.case_id, transition.effects, now)
    return _finish(inbox, APPLIED, transition.note)


def _apply_effects(
    session: Session, case_id: str, effects: Iterable[DeadlineEffect], now: datetime
) -> None:
    effects = tuple(effects)
    if not effects:
        return
    deadlines = {
        d.kind: d for d in session.scalars(select(Deadline).where(Deadline.case_id == case_id))
    }
    for effect in effects:
        deadline = deadlines.get(effect.kind)
        if deadline is not None:  # an unmonitored case, or a policy without this deadline
            apply_effect(session, deadline, effect, now)


def _load_state(case: Case) -> CaseState:
    return CaseState(
        status=case.status,
        responded_at=case.responded_at,
        resolved_at=case.resolved_at,
        cancelled_at=case.cancelled_at,
        provider_id=case.provider_id,
        reopen_count=case.reopen_count,
        merchant_id=case.merchant_id,
        assigned_at=case.assigned_at,
        reopened_at=case.reopened_at,
        last_resolved_at=case.last_resolved_at,
        opened_at=case.opened_at,
    )


def _state_columns(state: CaseState) -> dict[str, Any]:
    columns: dict[str, Any] = {
        "status": state.status,
        "responded_at": state.responded_at,
        "resolved_at": state.resolved_at,
        "cancelled_at": state.cancelled_at,
        "provider_id": state.provider_id,
        "reopen_count": state.reopen_count,
        "assigned_at": state.assigned_at,
        "reopened_at": state.reopened_at,
        "last_resolved_at": state.last_resolved_at,
    }  # opened_at is the opening's, written once by opening_rows
    if state.merchant_id is not None:
        columns["merchant_id"] = state.merchant_id
    return columns


def _store_state(case: Case, state: CaseState) -> None:
    for name, value in _state_columns(state).items():
        setattr(case, name, value)
