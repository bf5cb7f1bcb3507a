"""Ingest: turn a stream of help events into exactly the right case history.

For each event, in one transaction (a batch shares one, each event in its own savepoint):
  1. Take the case's lock, so two workers never interleave one case (a Postgres advisory
     transaction lock keyed by the case id; SQLite serialises writers with BEGIN IMMEDIATE).
     A batch takes its locks in key order, so two batches cannot deadlock.
  2. Record the event in the inbox, keyed by ``event_id``; a second copy is counted as a
     duplicate and changes nothing.
  3. ``help.opened``: plan eligibility and deadlines from the policy in force at ``opened_at``,
     store the case, then apply the events that were parked waiting for it, in event-time order.
     Any other event for a case not opened yet is parked.
  4. Otherwise apply the pure state machine; an illegal transition is recorded with its
     reason (outcome ``rejected``) and never raised. Its effects update the deadlines:
     evidence is judged by ``occurred_at`` (met iff at or before the due instant), whenever it
     arrives.

Unreadable or invalid input never reaches step 1: it is dead-lettered with the raw text.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.case_state import CaseState, DeadlineEffect, apply, initial
from models.db import transaction
from models.events import EventError, HelpEvent, HelpOpened, event_to_json, parse_event
from models.policy import PolicyError
from models.tables import Case, DeadLetter, Deadline, InboxEvent
from scheduler.deadlines import CaseFacts, plan_case
from worker.evidence import apply_effect
from worker.runtime import Runtime

log = logging.getLogger("slamon.ingest")

MAX_RAW_CHARS = 1_000_000  # a dead letter keeps at most this much of a hostile payload


@dataclass(frozen=True)
class IngestOutcome:
    event_id: str | None
    case_id: str | None
    outcome: str  # applied | parked | duplicate | rejected | dead_lettered
    detail: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def ingest_raw(runtime: Runtime, raw: str | bytes, source: str = "queue") -> list[IngestOutcome]:
    """Ingest one message body (an event or a JSON list of events); never raises on bad input.

    A batch with one invalid event dead-letters that event alone; the valid ones are applied.
    """
    text_body = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    try:
        items = json.loads(text_body)
    except (ValueError, RecursionError) as exc:
        return [dead_letter(runtime, text_body, f"not JSON: {exc}", source)]
    if not isinstance(items, list):
        items = [items]
    events: list[HelpEvent] = []
    outcomes: list[IngestOutcome] = []
    for item in items:
        if not isinstance(item, dict):
            raw_item = json.dumps(item, ensure_ascii=False)
            error = f"an event must be a JSON object, got {type(item).__name__}"
            outcomes.append(dead_letter(runtime, raw_item, error, source))
            continue
        try:
            events.append(parse_event(item))
        except EventError as exc:
            raw_item = json.dumps(item, ensure_ascii=False, default=str)
            outcomes.append(dead_letter(runtime, raw_item, str(exc), source, item.get("event_id")))
    return outcomes + ingest_events(runtime, events, source=source)


def ingest_events(
    runtime: Runtime, events: Sequence[HelpEvent], source: str = "queue"
) -> list[IngestOutcome]:
    """Apply validated events in one transaction; see the module docstring for the steps."""
    now = runtime.now()
    outcomes: list[IngestOutcome] = []
    accepted: list[HelpEvent] = []
    for event in events:
        if event.occurred_at > now + runtime.max_clock_skew:
            reason = (
                f"occurred_at {event.occurred_at.isoformat()} is in the future "
                f"(more than {runtime.max_clock_skew.total_seconds():g} s after {now.isoformat()})"
            )
            raw = json.dumps(event_to_json(event), ensure_ascii=False)
            outcomes.append(dead_letter(runtime, raw, reason, source, event.event_id))
        else:
            accepted.append(event)
    if not accepted:
        return outcomes
    ordered = sorted(accepted, key=lambda e: (case_lock_key(e.case_id), e.occurred_at))
    with transaction(runtime.engine) as session:
        locked: set[str] = set()
        for event in ordered:
            if event.case_id not in locked:
                _lock_case(session, event.case_id)
                locked.add(event.case_id)
            outcomes.append(_ingest_one(session, runtime, event, now))
    for outcome in outcomes:
        log.info(
            "event %s case %s: %s%s",
            outcome.event_id,
            outcome.case_id,
            outcome.outcome,
            f" ({outcome.detail})" if outcome.detail else "",
        )
    return outcomes


def case_lock_key(case_id: str) -> int:
    """A stable signed 64-bit key for the case's advisory lock."""
    digest = hashlib.blake2b(case_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _lock_case(session: Session, case_id: str) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": case_lock_key(case_id)})


def _ingest_one(
    session: Session, runtime: Runtime, event: HelpEvent, now: datetime
) -> IngestOutcome:
    inbox = InboxEvent(
        event_id=event.event_id,
        case_id=event.case_id,
        type=event.type,
        occurred_at=event.occurred_at,
        received_at=now,
        payload=event_to_json(event),
        outcome="received",
        duplicates=0,
    )
    try:
        with session.begin_nested():
            session.add(inbox)
            session.flush()
    except IntegrityError:
        return _record_duplicate(session, event)

    case = session.get(Case, event.case_id)
    if isinstance(event, HelpOpened):
        if case is not None:
            return _finish(inbox, "rejected", "case was already opened by an earlier event")
        try:
            case = _open_case(session, runtime, event, now)
        except PolicyError as exc:
            # No policy covers the opening instant: a configuration gap, not a bad event.
            return _finish(inbox, "rejected", str(exc))
        outcome = _finish(inbox, "applied", None if case.monitored else case.not_monitored_reason)
        _apply_parked(session, case, now)
        return outcome
    if case is None:
        return _finish(inbox, "parked", "waiting for help.opened of this case")
    return _apply_to_case(session, case, event, inbox, now)


def _record_duplicate(session: Session, event: HelpEvent) -> IngestOutcome:
    existing = session.get(InboxEvent, event.event_id)
    detail = None
    if existing is not None:
        existing.duplicates += 1
        if existing.payload != event_to_json(event):
            detail = "same event_id with a different payload; the first one stands"
    return IngestOutcome(event.event_id, event.case_id, "duplicate", detail)


def _finish(inbox: InboxEvent, outcome: str, detail: str | None) -> IngestOutcome:
    inbox.outcome = outcome
    inbox.detail = detail
    return IngestOutcome(inbox.event_id, inbox.case_id, outcome, detail)


def _open_case(session: Session, runtime: Runtime, event: HelpOpened, now: datetime) -> Case:
    facts = CaseFacts(
        opened_at=event.occurred_at,
        category=event.category,
        services=tuple(event.services),
        city=event.city,
        item_price=event.item_price,
    )
    plan = plan_case(facts, runtime.policies, now)
    state = initial(event)
    case = Case(
        case_id=event.case_id,
        monitored=plan.monitored,
        not_monitored_reason=plan.reason,
        policy_id=plan.policy_id,
        opened_at=event.occurred_at,
        order_id=event.order_id,
        buyer_account=event.buyer_account,
        merchant_id=event.merchant_id,
        city=event.city,
        category=event.category,
        services=list(event.services),
        item_price=event.item_price,
        created_at=now,
        reopen_count=0,
        last_event_at=event.occurred_at,
        updated_at=now,
    )
    _store_state(case, state)
    session.add(case)
    for planned in plan.deadlines:
        session.add(
            Deadline(
                case_id=case.case_id,
                kind=planned.kind,
                clock=planned.clock,
                policy_id=plan.policy_id,
                due_at=planned.due_at,
                at_risk_at=planned.at_risk_at,
                judge_at=planned.judge_at,
                points=planned.points,
                state="pending",
                at_risk_sent=False,
            )
        )
    session.flush()
    return case


def _apply_parked(session: Session, case: Case, now: datetime) -> None:
    parked = session.scalars(
        select(InboxEvent)
        .where(InboxEvent.case_id == case.case_id, InboxEvent.outcome == "parked")
        .order_by(InboxEvent.occurred_at, InboxEvent.received_at)
    ).all()
    for inbox in parked:
        event = parse_event(inbox.payload)
        _apply_to_case(session, case, event, inbox, now)


def _apply_to_case(
    session: Session, case: Case, event: HelpEvent, inbox: InboxEvent, now: datetime
) -> IngestOutcome:
    transition = apply(_load_state(case), event)
    if not transition.ok:
        return _finish(inbox, "rejected", transition.reason)
    _store_state(case, transition.state)
    case.last_event_at = max(case.last_event_at, event.occurred_at)
    case.updated_at = now
    _apply_effects(session, case, transition.effects, now)
    return _finish(inbox, "applied", None)


def _apply_effects(
    session: Session, case: Case, effects: Iterable[DeadlineEffect], now: datetime
) -> None:
    for effect in effects:
        deadline = session.scalars(
            select(Deadline).where(Deadline.case_id == case.case_id, Deadline.kind == effect.kind)
        ).one_or_none()
        if deadline is not None:
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
    )


def _store_state(case: Case, state: CaseState) -> None:
    case.status = state.status
    case.responded_at = state.responded_at
    case.resolved_at = state.resolved_at
    case.cancelled_at = state.cancelled_at
    case.provider_id = state.provider_id
    case.reopen_count = state.reopen_count
    if state.merchant_id is not None:
        case.merchant_id = state.merchant_id
    case.assigned_at = state.assigned_at
    case.reopened_at = state.reopened_at
    case.last_resolved_at = state.last_resolved_at


def dead_letter(
    runtime: Runtime, raw: str, error: str, source: str, event_id: Any = None
) -> IngestOutcome:
    """Keep what could not be used, with the reason; a dead letter is never lost."""
    event_id = str(event_id)[:64] if isinstance(event_id, str | int) else None
    with transaction(runtime.engine) as session:
        session.add(
            DeadLetter(
                received_at=runtime.now(),
                source=source,
                raw=raw[:MAX_RAW_CHARS],
                error=error,
                event_id=event_id,
            )
        )
    log.warning("dead-lettered %s from %s: %s", event_id or "message", source, error)
    return IngestOutcome(event_id, None, "dead_lettered", error)
