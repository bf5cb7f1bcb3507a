"""Opening many new cases at once: the fast path of a batch of ``help.opened`` events.

A producer's batch is mostly openings of cases never seen before. One by one, each costs a
savepoint, a case lookup and three INSERTs (six round trips and a flush of the unit of work);
here a whole group costs one lookup and one batched INSERT per table (an ``executemany``,
pipelined by psycopg), which is what lets a batch ingest faster than Celery runs one no-op
task per message (benchmarks/bench_ingest.py).

The outcome is exactly what the one-by-one path (:func:`slamon.worker.case_apply.apply_event`) would
record, because the rows come from the same functions (:func:`slamon.worker.case_apply.inbox_row`,
:func:`slamon.worker.case_apply.opening_rows`) and only openings whose outcome depends on nothing
else are taken:
- its ``event_id`` is new to the inbox and occurs once in the batch;
- its case is not stored and has no parked events (nothing to retry after the opening);
- no other event of the batch belongs to its case (so event-time order within the case is
  moot, and the opening is independent of every other event of the batch).

Steps (:func:`open_new_cases`; the caller holds the batch's case locks):
1. Drop the candidates whose case is already stored (one query per chunk of ids).
2. Plan each opening: its inbox row (``applied``, or ``rejected`` when no policy covers it),
   its case row and its deadline rows. An opening whose planning fails for another reason is
   left out, for the one-by-one path to dead-letter it with that error.
3. In one savepoint, insert the inbox, case and deadline rows, each table in one statement.
4. If the database refuses anything (a concurrent duplicate ``event_id``, a value it cannot
   store, a ``ProgrammingError``), roll the savepoint back and return nothing: the caller then
   applies those events one by one, which gives each its own outcome or dead letter.
   Transient database trouble propagates: the task retries the message.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from slamon.models.db.bulk import chunks
from slamon.models.db.tables import Case, Deadline, InboxEvent
from slamon.models.events import HelpEvent, HelpOpened
from slamon.models.policy.policy import PolicyError, PolicySet
from slamon.models.states import InboxOutcome
from slamon.worker.case_apply import (
    APPLIED,
    REJECTED,
    inbox_row,
    opening_detail,
    opening_rows,
)
from slamon.worker.task_base import TRANSIENT_DATABASE_ERRORS

log = logging.getLogger("slamon.ingest")


@dataclass(frozen=True)
class Opened:
    """What the inbox recorded for one opening of the bulk path."""

    outcome: InboxOutcome  # applied | rejected
    detail: str | None


def independent_openings(
    events: Sequence[HelpEvent], known_ids: Collection[str], parked_cases: Collection[str]
) -> list[HelpOpened]:
    """The openings of ``events`` that the bulk path may take (module docstring), in order."""
    per_case = Counter(e.case_id for e in events)
    per_id = Counter(e.event_id for e in events)
    return [
        e
        for e in events
        if isinstance(e, HelpOpened)
        and per_case[e.case_id] == 1
        and per_id[e.event_id] == 1
        and e.event_id not in known_ids
        and e.case_id not in parked_cases
    ]


def open_new_cases(
    session: Session, policies: PolicySet, openings: Sequence[HelpOpened], now: datetime
) -> dict[str, Opened]:
    """Steps 1-4 of the module docstring; returns the outcome per ``event_id`` it recorded."""
    stored = _stored_cases(session, [e.case_id for e in openings])
    outcomes: dict[str, Opened] = {}
    inbox_rows: list[dict[str, Any]] = []
    case_rows: list[dict[str, Any]] = []
    deadline_rows: list[dict[str, Any]] = []
    for event in openings:
        if event.case_id in stored:
            continue  # a second opening: the one-by-one path rejects it with the reason
        try:
            case, deadlines = opening_rows(policies, event, now)
        except PolicyError as exc:
            # No policy covers the opening instant: a configuration gap, not a bad event.
            opened = Opened(REJECTED, str(exc))
        except Exception:
            continue  # a defect: the one-by-one path dead-letters it with the error
        else:
            opened = Opened(
                APPLIED, opening_detail(case["monitored"], case["not_monitored_reason"])
            )
            case_rows.append(case)
            deadline_rows.extend(deadlines)
        inbox_rows.append(inbox_row(event, now, opened.outcome, opened.detail))
        outcomes[event.event_id] = opened
    if not inbox_rows:
        return {}
    try:
        with session.begin_nested():
            for entity, rows in (
                (InboxEvent, inbox_rows),
                (Case, case_rows),
                (Deadline, deadline_rows),
            ):
                if rows:
                    # render_nulls: every row has the same columns, so each table is one
                    # executemany instead of one statement per distinct set of non-null keys.
                    session.execute(insert(entity).execution_options(render_nulls=True), rows)
    except TRANSIENT_DATABASE_ERRORS:
        raise  # the database, not the events: the task retries the message
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise
        log.info("bulk opening of %d cases refused (%s); one by one", len(inbox_rows), exc.orig)
        return {}
    except Exception:
        log.exception("bulk opening of %d cases failed; one by one", len(inbox_rows))
        return {}
    return outcomes


def _stored_cases(session: Session, case_ids: list[str]) -> set[str]:
    stored: set[str] = set()
    for chunk in chunks(case_ids):
        stored.update(session.scalars(select(Case.case_id).where(Case.case_id.in_(chunk))))
    return stored
