"""Ingest: turn a stream of help events into exactly the right case history.

A message (one event, or a JSON list of events) is ingested in one transaction, each event in
its own savepoint (:func:`ingest_in_session`):
  1. Read it: whatever is not JSON, not an object, or not a valid event is dead-lettered with
     its raw text and the reason; so is an event further in the future than the allowed
     clock skew. The valid events of a batch go on.
  2. Take the locks of the batch's cases, in key order (:mod:`slamon.models.db.locks`), so two
     workers never interleave one case and two batches cannot deadlock. Then find which event ids
     the inbox already holds and which cases have parked events, one query each for the batch.
  3. Openings that depend on nothing else (a new event id, a new case with nothing parked and
     no other event in the batch) are recorded together, a few statements for the whole group
     (:mod:`slamon.worker.bulk_open`), with the outcome the steps below would give each of them.
     Each other event, in ``occurred_at`` order: record it in the inbox keyed by ``event_id``
     (a second copy is counted as a duplicate and changes nothing; a copy with other content
     is a **conflict**: the first one stands, the copy is counted on the first one's row and
     kept as a dead letter of cause ``conflict`` for an operator), then apply it to its case
     (:mod:`slamon.worker.case_apply`): applied, parked (its case is not opened yet, or it is legal
     only once an earlier, late event arrives) or rejected with the reason. Evidence is
     judged by ``occurred_at`` whenever it arrives (:mod:`slamon.worker.evidence`).
  4. After an event is applied, retry that case's parked events (in ``occurred_at`` order,
     until none applies).
  5. An event whose processing fails for a reason of its own is rolled back to its savepoint
     and dead-lettered with the error, so one bad event never blocks its batch: a value the
     database refuses, a ``ProgrammingError`` (SQL or a schema the code does not match: it
     would fail the same way on every retry; the letter is replayed once that is fixed), a
     bug. Transient database trouble (``OperationalError``, ``InterfaceError``) propagates:
     the task retries the whole message (:class:`slamon.worker.task_base.SlamonTask`). Any
     other error that cost the connection propagates too, since the batch's transaction is
     gone with it: the task dead-letters the message as a whole.

Nothing here raises on bad input: every event ends applied, parked, duplicate, rejected or
dead-lettered, and the outcomes come back in input order.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from slamon.models.db.bulk import chunks
from slamon.models.db.case_facts import refresh_case_facts
from slamon.models.db.engine import transaction
from slamon.models.db.locks import lock_cases
from slamon.models.db.tables import DeadLetter, InboxEvent
from slamon.models.dead_letter_causes import Cause
from slamon.models.decisions import Decision, decision
from slamon.models.event_fields import json_type
from slamon.models.events import (
    EventError,
    HelpEvent,
    check_not_future,
    event_to_json,
    parse_event,
)
from slamon.models.states import InboxOutcome
from slamon.worker.bulk_open import independent_openings, open_new_cases
from slamon.worker.case_apply import APPLIED, PARKED, apply_event, inbox_row, retry_parked
from slamon.worker.runtime import Runtime
from slamon.worker.task_base import TRANSIENT_DATABASE_ERRORS

log = logging.getLogger("slamon.ingest")

MAX_RAW_CHARS = 1_000_000  # a dead letter keeps at most this much of a hostile payload


@dataclass(frozen=True)
class IngestOutcome:
    event_id: str | None
    case_id: str | None
    outcome: str  # an InboxOutcome, or "dead_lettered"
    detail: str | None = None
    dead_letter_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class Unreadable:
    """An item of a message that is not a valid event: it becomes a dead letter."""

    raw: str
    error: str
    cause: Cause
    event_id: str | None = None


Item = HelpEvent | Unreadable


def decode(raw: str | bytes) -> list[Item]:
    """The items of a message body: events, and what could not be read as one (with why)."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return [Unreadable(text, f"not JSON: {exc}", Cause.NOT_JSON)]
    if isinstance(data, list):
        if not data:
            return [
                Unreadable(
                    text, "an empty batch: a batch must hold at least one event", Cause.EMPTY_BATCH
                )
            ]
        return [_decode_item(item, _dumps(item)) for item in data]
    return [_decode_item(data, text)]


def _decode_item(item: Any, raw: str) -> Item:
    if not isinstance(item, dict):
        return Unreadable(
            raw, f"an event must be a JSON object, got {json_type(item)}", Cause.NOT_AN_OBJECT
        )
    event_id = item.get("event_id")
    try:
        return parse_event(item)
    except EventError as exc:
        return Unreadable(
            raw, str(exc), Cause.INVALID_EVENT, event_id if isinstance(event_id, str) else None
        )


def ingest_raw(runtime: Runtime, raw: str | bytes, source: str = "queue") -> list[IngestOutcome]:
    """Ingest one message body (an event or a JSON list of events); never raises on bad input.

    A batch with one invalid event dead-letters that event alone; the valid ones are applied.
    """
    return ingest_items(runtime, decode(raw), source)


def ingest_events(
    runtime: Runtime, events: Iterable[HelpEvent], source: str = "queue"
) -> list[IngestOutcome]:
    """Ingest validated events in one transaction (see the module docstring)."""
    return ingest_items(runtime, list(events), source)


def ingest_items(runtime: Runtime, items: Sequence[Item], source: str) -> list[IngestOutcome]:
    now = runtime.now()
    with transaction(runtime.engine) as session:
        outcomes = ingest_in_session(session, runtime, items, now, source)
    for outcome in outcomes:
        log.info(
            "event %s case %s: %s%s",
            outcome.event_id,
            outcome.case_id,
            outcome.outcome,
            f" ({outcome.detail})" if outcome.detail else "",
            extra=decision(Decision(f"event.{outcome.outcome}"), case_id=outcome.case_id,
                           event_id=outcome.event_id, dead_letter_id=outcome.dead_letter_id),
        )
    return outcomes


def future_error(runtime: Runtime, event: HelpEvent, now: datetime) -> str | None:
    """Why ``event`` is refused as coming from the future, or None: the intake's rule
    (:func:`slamon.models.events.check_not_future`) with the runtime's allowed clock skew."""
    try:
        check_not_future(event, now, runtime.max_clock_skew)
    except EventError as exc:
        return str(exc)
    return None


@dataclass
class _Batch:
    """What step 2 learned about the batch, kept up to date while it is applied."""

    session: Session
    runtime: Runtime
    now: datetime
    source: str
    known_ids: set[str] = field(default_factory=set)
    parked_cases: set[str] = field(default_factory=set)


def ingest_in_session(
    session: Session, runtime: Runtime, items: Sequence[Item], now: datetime, source: str
) -> list[IngestOutcome]:
    """Steps 1-5 of the module docstring inside the caller's transaction."""
    outcomes: list[IngestOutcome | None] = [None] * len(items)
    accepted: list[tuple[int, HelpEvent]] = []
    for index, item in enumerate(items):  # step 1
        if isinstance(item, Unreadable):
            outcomes[index] = add_dead_letter(
                session, item.raw, item.error, item.cause, source, now, item.event_id
            )
        elif (error := future_error(runtime, item, now)) is not None:
            raw = _dumps(event_to_json(item))
            outcomes[index] = add_dead_letter(
                session, raw, error, Cause.FUTURE_EVENT, source, now, item.event_id
            )
        else:
            accepted.append((index, item))
    if accepted:
        batch = _prepare(session, runtime, now, source, [e for _, e in accepted])  # step 2
        touched = {event.case_id for _, event in accepted}
        accepted = _open_in_bulk(batch, accepted, outcomes)  # step 3, independent openings
        for index, event in sorted(accepted, key=lambda pair: pair[1].occurred_at):
            outcomes[index] = _ingest_guarded(batch, event)  # steps 3-5
        _settle_parked(session, outcomes)
        refresh_case_facts(session, touched)  # what the reports count, still under the locks
    return [o for o in outcomes if o is not None]


def _settle_parked(session: Session, outcomes: list[IngestOutcome | None]) -> None:
    """Report what became of events parked earlier in this batch: a later event of the batch
    (their opening) may have applied or rejected them since (step 4)."""
    for index, outcome in enumerate(outcomes):
        if outcome is None or outcome.outcome != PARKED or outcome.event_id is None:
            continue
        row = session.get(InboxEvent, outcome.event_id)  # in the session: no query
        if row is not None and row.outcome != PARKED:
            outcomes[index] = replace(outcome, outcome=row.outcome, detail=row.detail)


def _prepare(
    session: Session, runtime: Runtime, now: datetime, source: str, events: list[HelpEvent]
) -> _Batch:
    case_ids = sorted({e.case_id for e in events})
    lock_cases(session, case_ids)
    batch = _Batch(session, runtime, now, source)
    # Looked up after the locks: a worker that held them has committed what it saw.
    event_ids = sorted({e.event_id for e in events})
    for chunk in chunks(event_ids):
        batch.known_ids.update(
            session.scalars(select(InboxEvent.event_id).where(InboxEvent.event_id.in_(chunk)))
        )
    for chunk in chunks(case_ids):
        batch.parked_cases.update(
            session.scalars(
                select(InboxEvent.case_id)
                .where(InboxEvent.case_id.in_(chunk), InboxEvent.outcome == PARKED)
                .distinct()
            )
        )
    return batch


def _open_in_bulk(
    batch: _Batch, accepted: list[tuple[int, HelpEvent]], outcomes: list[IngestOutcome | None]
) -> list[tuple[int, HelpEvent]]:
    """Record the batch's independent openings in bulk; return the events left to apply."""
    events = [event for _, event in accepted]
    candidates = independent_openings(events, batch.known_ids, batch.parked_cases)
    if not candidates:
        return accepted
    opened = open_new_cases(batch.session, batch.runtime.policies, candidates, batch.now)
    batch.known_ids.update(opened)
    rest: list[tuple[int, HelpEvent]] = []
    for index, event in accepted:
        if (done := opened.get(event.event_id)) is None:
            rest.append((index, event))
        else:
            outcomes[index] = IngestOutcome(
                event.event_id, event.case_id, done.outcome, done.detail
            )
    return rest


def _ingest_guarded(batch: _Batch, event: HelpEvent) -> IngestOutcome:
    session = batch.session
    try:
        with session.begin_nested():
            return _ingest_one(batch, event)
    except TRANSIENT_DATABASE_ERRORS:
        raise  # the database, not the event: the task retries the message
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise
        if isinstance(exc, IntegrityError) and session.get(InboxEvent, event.event_id) is not None:
            # Another worker recorded the same event_id under another case's lock meanwhile.
            return _record_duplicate(batch, event)
        error, cause = f"could not be stored: {exc.orig}", Cause.NOT_STORABLE
    except Exception as exc:
        # A defect must not block the batch or lose the event: keep it to replay once fixed.
        log.exception("ingest of event %s failed", event.event_id)
        error, cause = f"internal error: {type(exc).__name__}: {exc}", Cause.INTERNAL_ERROR
    batch.known_ids.discard(event.event_id)  # rolled back: the inbox does not hold it
    raw = _dumps(event_to_json(event))
    return add_dead_letter(session, raw, error, cause, batch.source, batch.now, event.event_id)


def _ingest_one(batch: _Batch, event: HelpEvent) -> IngestOutcome:
    session = batch.session
    if event.event_id in batch.known_ids:
        return _record_duplicate(batch, event)
    batch.known_ids.add(event.event_id)
    inbox = InboxEvent(**inbox_row(event, batch.now))
    outcome = apply_event(session, batch.runtime.policies, event, inbox, batch.now)
    # Added once its outcome is decided: the row never exists without one (the outcome's CHECK
    # constraint would refuse it at an autoflush while the event is being applied).
    session.add(inbox)
    if outcome == PARKED:
        batch.parked_cases.add(event.case_id)
    elif (
        outcome == APPLIED
        and event.case_id in batch.parked_cases
        and not retry_parked(session, event.case_id, batch.now)  # step 4
    ):
        batch.parked_cases.discard(event.case_id)
    return IngestOutcome(event.event_id, event.case_id, inbox.outcome, inbox.detail)


def _record_duplicate(batch: _Batch, event: HelpEvent) -> IngestOutcome:
    """A second copy of an event id: a duplicate if it says the same, else a conflict."""
    session = batch.session
    existing = session.get(InboxEvent, event.event_id)
    payload = event_to_json(event)
    if existing is None:
        return IngestOutcome(event.event_id, event.case_id, InboxOutcome.DUPLICATE)
    if existing.payload == payload:
        existing.duplicates += 1
        return IngestOutcome(event.event_id, event.case_id, InboxOutcome.DUPLICATE)
    existing.conflicts += 1
    letter = add_dead_letter(
        session, _dumps(payload), conflict_error(existing, payload), Cause.CONFLICT,
        batch.source, batch.now, event.event_id,
    )
    return IngestOutcome(
        event.event_id, event.case_id, InboxOutcome.CONFLICT, letter.detail, letter.dead_letter_id
    )


def conflict_error(first: InboxEvent, payload: dict[str, Any]) -> str:
    """Why a copy is a conflict: which fields differ from the event first received."""
    fields = sorted(
        k for k in first.payload.keys() | payload.keys() if first.payload.get(k) != payload.get(k)
    )
    return (
        f"conflict: event_id {first.event_id} was first received at "
        f"{first.received_at.isoformat()} with other content ({', '.join(fields)} differ); "
        "the first one stands. Replay with a new event_id if this is another event"
    )


def add_dead_letter(
    session: Session,
    raw: str,
    error: str,
    cause: Cause,
    source: str,
    now: datetime,
    event_id: Any = None,
) -> IngestOutcome:
    """Keep what could not be used, with the reason, in the caller's transaction."""
    event_id = storable(str(event_id))[:64] if isinstance(event_id, str | int) else None
    letter = DeadLetter(
        received_at=now,
        source=source,
        raw=storable(raw[:MAX_RAW_CHARS]),
        error=storable(error),
        cause=cause,
        event_id=event_id,
    )
    session.add(letter)
    session.flush()
    log.warning(
        "dead-lettered %s from %s as #%s: %s", event_id or "a message", source, letter.id, error
    )
    return IngestOutcome(event_id, None, "dead_lettered", letter.error, letter.id)


def dead_letter(
    runtime: Runtime, raw: str, error: str, cause: Cause, source: str, event_id: Any = None
) -> IngestOutcome:
    """Keep what could not be used, with the reason, in a transaction of its own."""
    with transaction(runtime.engine) as session:
        return add_dead_letter(session, raw, error, cause, source, runtime.now(), event_id)


def storable(text: str) -> str:
    """``text`` as both databases can store it: hostile input may hold NUL (which Postgres
    refuses in text) and lone surrogates (which are not UTF-8); both are kept as escapes."""
    if "\x00" in text:
        text = text.replace("\x00", "\\u0000")
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _dumps(data: Any) -> str:
    try:
        return json.dumps(data, ensure_ascii=False, default=str)
    except (ValueError, RecursionError):  # nested deeper than the encoder goes
        return f"<a {json_type(data)} that cannot be shown again as JSON>"


