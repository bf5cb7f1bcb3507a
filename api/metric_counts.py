"""The counters and histograms of ``/metrics``, counted in the database at scrape time.

Several API replicas serve ``/metrics`` and must agree, and no process sees all the work, so
nothing here is a per-process counter: each figure is a count over rows that every replica
reads alike. Prometheus requires a counter (and a histogram's buckets, count and sum) never to
go down except at a restart, so each query counts only rows that are **monotonic by
construction**: appended, never deleted, and never leaving the counted set once in it.

- events by type and outcome: inbox rows that are ``applied`` or ``rejected`` (final: only a
  ``parked`` row changes, into one of those), and the ``duplicates`` and ``conflicts`` tallies
  of each row, which only grow. Parked events are a gauge (:class:`EventCounts`).
- dead letters by cause: every dead-letter row; ``cause`` is written once (a failed replay
  rewrites the error, not the cause).
- breaches by kind: every breach row (one per case and kind, never deleted).
- compensations by final state: the outbox, which is the log of announcements: each payment
  (``compensation.issued``), refusal (``compensation.failed``, one per refused attempt) and
  late payment flagged for review (``compensation.review``) appends a row, and a contested
  breach appends ``sla.breach_contested`` naming what became of its compensation (cancelled,
  or review if it was paid). These count *transitions into* a final state: a compensation
  refused, retried by an operator and paid counts once as failed and once as issued, which is
  what ``rate()`` should see. The current states are the ``slamon_compensations`` gauge.
- points issued: the points of compensations with ``issued_at`` set; that is set once, when
  the points service confirmed the grant, and never cleared (a paid one flagged for review
  keeps it).
- fire lag: breached deadlines (final: a breached deadline never changes state again) that
  were pending before their judge instant (``pending_since <= judge_at``), so that the
  scheduler could have fired them on time; observed ``judged_at - judge_at``. A deadline that
  arrived already overdue (a late opening, a late reopen) measures the producer, not us.
- evidence lateness: every inbox row, observed ``received_at - occurred_at``.

The counts read their tables whole (no index bounds "all breaches ever"), so a scrape costs
time in proportion to the history: on Postgres with 200,000 cases (400,000 events and
deadlines, 200,000 breaches and compensations, 420,000 outbox rows) a whole scrape took
600 ms, the histograms and the counts by status most of it (``python -m
benchmarks.metrics_scrape --url …``). Were the tables ever pruned, or the history to grow
by orders of magnitude, these would move to counter rows updated in the same transactions.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, case, func, select

from slamon.models.db.intervals import approx_seconds_between
from slamon.models.db.tables import (
    COMPENSATION_PENDING,
    Breach,
    Compensation,
    DeadLetter,
    Deadline,
    InboxEvent,
    OutboxMessage,
)
from slamon.models.states import CompensationStatus, DeadlineState, InboxOutcome, values

COUNTED_OUTCOMES = (InboxOutcome.APPLIED, InboxOutcome.REJECTED)
EVENT_OUTCOMES = (*COUNTED_OUTCOMES, InboxOutcome.DUPLICATE, InboxOutcome.CONFLICT)
FINAL_COMPENSATION_STATES = tuple(
    s for s in values(CompensationStatus) if s != CompensationStatus.PENDING
)
_OUTCOME_TOPICS = {
    "compensation.issued": CompensationStatus.ISSUED,
    "compensation.failed": CompensationStatus.FAILED,
    "compensation.review": CompensationStatus.REVIEW,
}
_CONTESTED_TOPIC = "sla.breach_contested"

# Upper bounds (seconds). The scheduler sweeps about once a second, so its lag lives in the
# first buckets; evidence lateness ranges from a network hop to a provider's week-late batch.
FIRE_LAG_BUCKETS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0)
LATENESS_BUCKETS = (
    1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 86400.0, 7 * 86400.0,
)


@dataclass(frozen=True)
class Histogram:
    """Cumulative bucket counts (``le`` → observations at most that), count and sum."""

    buckets: tuple[tuple[float, int], ...]
    count: int
    sum: float

    @classmethod
    def empty(cls, bounds: Sequence[float]) -> Histogram:
        return cls(tuple((b, 0) for b in bounds), 0, 0.0)


@dataclass(frozen=True)
class EventCounts:
    totals: dict[tuple[str, str], int]  # (type, outcome) → events, for EVENT_OUTCOMES
    parked: dict[str, int]  # type → events parked now (a gauge)


def event_counts(conn: Connection, types: Iterable[str]) -> EventCounts:
    """Events by (type, final outcome, duplicate or conflict), and those parked now; known
    types at 0 (a conflict counts under the type of the event first received).

    One pass over the inbox: it is the largest table, read whole.
    """
    types = list(types)
    totals: dict[tuple[str, str], int] = {(t, o): 0 for t in types for o in EVENT_OUTCOMES}
    parked = dict.fromkeys(types, 0)
    rows = conn.execute(
        select(
            InboxEvent.type,
            *(func.count().filter(InboxEvent.outcome == o) for o in COUNTED_OUTCOMES),
            func.coalesce(func.sum(InboxEvent.duplicates), 0),
            func.coalesce(func.sum(InboxEvent.conflicts), 0),
            func.count().filter(InboxEvent.outcome == InboxOutcome.PARKED),
        ).group_by(InboxEvent.type)
    )
    for event_type, *counts in rows:
        *finals, duplicates, conflicts, parked_now = (int(c) for c in counts)
        for outcome, count in zip(COUNTED_OUTCOMES, finals, strict=True):
            totals[(event_type, outcome)] = count
        totals[(event_type, InboxOutcome.DUPLICATE)] = duplicates
        totals[(event_type, InboxOutcome.CONFLICT)] = conflicts
        parked[event_type] = parked_now
    return EventCounts(totals, parked)


def dead_letters_by_cause(conn: Connection, causes: Iterable[str]) -> dict[str, int]:
    return _counts(conn, DeadLetter.cause, causes)


def breaches_by_kind(conn: Connection, kinds: Iterable[str]) -> dict[str, int]:
    return _counts(conn, Breach.kind, kinds)


def compensation_outcomes(conn: Connection) -> dict[str, int]:
    """Transitions of compensations into each final state, read from the outbox log."""
    totals = dict.fromkeys(FINAL_COMPENSATION_STATES, 0)
    became = OutboxMessage.payload["compensation_status"].as_string()
    rows = conn.execute(
        select(OutboxMessage.topic, became, func.count())
        .where(OutboxMessage.topic.in_([*_OUTCOME_TOPICS, _CONTESTED_TOPIC]))
        .group_by(OutboxMessage.topic, became)
    )
    for topic, contested_into, count in rows:
        state = _OUTCOME_TOPICS.get(topic) or contested_into
        if state in totals:  # a contested breach without a compensation counts nowhere
            totals[state] += int(count)
    return totals


def points_issued(conn: Connection) -> int:
    return int(
        conn.execute(
            select(func.coalesce(func.sum(Compensation.points), 0)).where(
                Compensation.issued_at.is_not(None)
            )
        ).scalar_one()
    )


def fire_lag(conn: Connection) -> Histogram:
    """The scheduler's lag on the breaches it could fire on time (module docstring)."""
    lag = approx_seconds_between(Deadline.judge_at, Deadline.judged_at)
    observed = (
        select(lag.label("seconds"))
        .where(
            Deadline.state == DeadlineState.BREACHED,
            Deadline.pending_since <= Deadline.judge_at,
            Deadline.judged_at.is_not(None),
        )
        .subquery()
    )
    found = _histograms(conn, observed.c.seconds, FIRE_LAG_BUCKETS)
    return found.get(None, Histogram.empty(FIRE_LAG_BUCKETS))


def evidence_lateness(conn: Connection, types: Iterable[str]) -> dict[str, Histogram]:
    """How long after it occurred each event was received, by event type."""
    late = approx_seconds_between(InboxEvent.occurred_at, InboxEvent.received_at)
    observed = select(InboxEvent.type, late.label("seconds")).subquery()
    found = _histograms(conn, observed.c.seconds, LATENESS_BUCKETS, observed.c.type)
    return {t: found.get(t, Histogram.empty(LATENESS_BUCKETS)) for t in (*types, *found)}


def oldest_pending_compensation_age(conn: Connection, now: datetime) -> float:
    """Seconds since the oldest compensation still waiting to be paid was created; 0 if none."""
    created = conn.execute(
        select(func.min(Compensation.created_at)).where(COMPENSATION_PENDING)
    ).scalar_one_or_none()
    return 0.0 if created is None else max(0.0, (now - created).total_seconds())


def _counts(conn: Connection, column: Any, known: Iterable[str]) -> dict[str, int]:
    counts = dict.fromkeys(known, 0)
    for value, count in conn.execute(select(column, func.count()).group_by(column)):
        counts[str(value)] = int(count)
    return counts


def _histograms(
    conn: Connection, seconds: Any, bounds: Sequence[float], group: Any = None
) -> dict[Any, Histogram]:
    """One pass over ``seconds`` (a subquery column): per ``group`` value (or one group), the
    cumulative bucket counts, the count and the sum.

    Each row is given the index of its bucket by one CASE and the rows are counted per index;
    the buckets are then cumulated here. That is about three times faster on Postgres than a
    ``count(*) FILTER (WHERE seconds <= bound)`` per bound, which compares every row with
    every bound. A negative value (two hosts' clocks a little apart) is observed as 0.
    """
    index = case(*((seconds <= bound, i) for i, bound in enumerate(bounds)), else_=len(bounds))
    clamped = case((seconds < 0, 0.0), else_=seconds)
    keys = [group] if group is not None else []
    query = select(
        *keys, index.label("bucket"), func.count(), func.coalesce(func.sum(clamped), 0.0)
    ).group_by(*keys, "bucket")
    per_bucket: dict[Any, list[int]] = {}
    sums: dict[Any, float] = {}
    for row in conn.execute(query):
        key = row[0] if group is not None else None
        bucket, count, total = row[-3:]
        per_bucket.setdefault(key, [0] * (len(bounds) + 1))[int(bucket)] += int(count)
        sums[key] = sums.get(key, 0.0) + float(total)
    found: dict[Any, Histogram] = {}
    for key, counts in per_bucket.items():
        cumulative = list(itertools.accumulate(counts))
        found[key] = Histogram(
            tuple(zip(bounds, cumulative[:-1], strict=True)), cumulative[-1], sums[key]
        )
    return found
