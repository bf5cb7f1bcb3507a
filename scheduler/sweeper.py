"""The sweeper: claims the deadlines that are due and records their judgement, exactly once.

Deadlines live in the database, not in Celery countdowns: a deadline is due when its
``judge_at`` (due instant + grace) has passed, and the sweeper finds it with one indexed query
however many deadlines are pending. Several scheduler replicas may sweep at once:

* **Claim** (:func:`claim_due`, its own short transaction): a lease (``claimed_until``,
  ``claimed_by``) on up to ``batch`` due rows. On Postgres the rows are picked with
  ``FOR UPDATE SKIP LOCKED``, so replicas take disjoint rows without waiting for each other;
  SQLite serialises writers (``BEGIN IMMEDIATE``), so the claim is atomic there too. A
  claimer that dies leaves its lease to expire; then another replica claims the rows again.
  That is what makes catch-up after a crash automatic.
* **Judge** (:func:`judge_claimed`, one transaction per chunk of rows): judgement by event
  time (:func:`slamon.models.judge.judge`) and, in the same transaction, the deadline's new state,
  the breach, its compensation and the outbox rows (:mod:`slamon.scheduler.breach_records`). Rows
  are written only if still pending and still claimed by this claimer, and the breach insert is
  guarded by the unique (case, kind) constraint, so a run repeated after any crash cannot
  record or pay a breach twice.

The sweeper takes the same per-case lock as ingest (:mod:`slamon.models.db.locks`) so that evidence
arriving during the judgement is either seen by it or sees its result.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, or_, select, update
from sqlalchemy.orm import Session

from slamon.models.db.bulk import among, chunks
from slamon.models.db.case_facts import refresh_case_facts
from slamon.models.db.claims import claim_rows
from slamon.models.db.engine import transaction
from slamon.models.db.locks import lock_cases
from slamon.models.db.tables import DEADLINE_PENDING, Case, Deadline
from slamon.models.decisions import Decision, decision
from slamon.models.instants import as_read
from slamon.models.judge import DeadlineView, Outcome, judge
from slamon.models.states import DEADLINE, DeadlineState
from slamon.scheduler.breach_records import BreachRow, RecordedBreach, record_breaches

log = logging.getLogger("slamon.sweeper")

PENDING = DEADLINE_PENDING

# Rows judged per transaction: bounded so a large batch never exceeds SQLite's parameter
# limit and never holds the per-case locks (which ingest waits on) for long. Postgres takes
# the ids as one array whatever their number (slamon.models.db.bulk), and a whole default batch
# (1,000) in one transaction costs less than two transactions of half as many rows.
JUDGE_CHUNK = 500
POSTGRES_JUDGE_CHUNK = 1000


@dataclass(frozen=True)
class SweepResult:
    """What one sweep did: how many rows it claimed, the verdicts it recorded, the breaches."""

    claimed: int
    verdicts: dict[Outcome, int] = field(default_factory=dict)
    breaches: tuple[RecordedBreach, ...] = ()

    @property
    def compensation_ids(self) -> list[int]:
        """The compensations created by this sweep, to dispatch once it has committed."""
        return [b.compensation_id for b in self.breaches if b.compensation_id is not None]


def claim_due(
    engine: Engine,
    now: datetime,
    claimer: str,
    batch: int,
    lease: timedelta,
    horizon: datetime | None = None,
) -> list[int]:
    """Claim up to ``batch`` due deadlines for ``claimer`` until ``now + lease``; their ids.

    1. Pick pending rows with ``judge_at <= now`` and, given the ingest watermark's
       ``horizon`` (:mod:`slamon.models.watermark`), ``judge_at < horizon`` (no message
       accepted before ``judge_at`` is still unapplied), whose lease is absent or expired,
       earliest first, skipping rows another replica is claiming
       (:func:`slamon.models.db.claims.claim_rows`).
    2. Set the lease on them, in the same transaction.
    """
    due_by = [Deadline.judge_at <= now]
    if horizon is not None:
        due_by.append(Deadline.judge_at < horizon)
    due = (
        select(Deadline.id)
        .where(
            PENDING,
            *due_by,
            or_(Deadline.claimed_until.is_(None), Deadline.claimed_until < now),
        )
        .order_by(Deadline.judge_at)
        .limit(batch)
    )
    with transaction(engine) as session:
        return claim_rows(
            session, Deadline, due, claimed_until=now + lease, claimed_by=claimer
        )


def judge_claimed(
    engine: Engine,
    deadline_ids: Sequence[int],
    now: datetime,
    claimer: str,
    redispatch_after: timedelta,
) -> SweepResult:
    """Judge the deadlines ``claimer`` holds among ``deadline_ids`` and record the verdicts;
    a compensation created is due for dispatch again after ``redispatch_after``."""
    verdicts: dict[Outcome, int] = {}
    breaches: list[RecordedBreach] = []
    size = POSTGRES_JUDGE_CHUNK if engine.dialect.name == "postgresql" else JUDGE_CHUNK
    for chunk in chunks(deadline_ids, size):
        with transaction(engine) as session:
            counts, recorded = _judge_chunk(session, chunk, now, claimer, redispatch_after)
        for outcome, count in counts.items():
            verdicts[outcome] = verdicts.get(outcome, 0) + count
        breaches.extend(recorded)
        for breach in recorded:
            log.info(
                "case %s: %s deadline breached (due %s, detected %s): %s; %s",
                breach.case_id, breach.kind, as_read(breach.due_at), as_read(now),
                breach.reason,
                f"compensation {breach.compensation_id} owes {breach.points} points"
                if breach.compensation_id is not None else "no points owed",
                extra=decision(Decision.BREACH_RECORDED, case_id=breach.case_id,
                               kind=breach.kind, deadline_id=breach.deadline_id,
                               breach_id=breach.breach_id,
                               compensation_id=breach.compensation_id, points=breach.points),
            )
    return SweepResult(len(deadline_ids), verdicts, tuple(breaches))


def sweep(
    engine: Engine,
    now: datetime,
    claimer: str,
    batch: int,
    lease: timedelta,
    redispatch_after: timedelta,
    horizon: datetime | None = None,
) -> SweepResult:
    """One sweep: claim up to ``batch`` due deadlines (below the ingest watermark's
    ``horizon`` when given), then judge and record them."""
    ids = claim_due(engine, now, claimer, batch, lease, horizon)
    if not ids:
        return SweepResult(0)
    return judge_claimed(engine, ids, now, claimer, redispatch_after)


def _log_judged(row: BreachRow, outcome: Outcome) -> None:
    log.info("case %s: %s deadline %s judged %s: %s", row.case_id, row.kind, row.deadline_id,
             outcome, row.reason, extra=decision(
                 Decision.DEADLINE_JUDGED, case_id=row.case_id, kind=row.kind,
                 deadline_id=row.deadline_id, outcome=str(outcome)))


def _judge_chunk(
    session: Session,
    ids: Sequence[int],
    now: datetime,
    claimer: str,
    redispatch_after: timedelta,
) -> tuple[dict[Outcome, int], list[RecordedBreach]]:
    """Judge one chunk in the caller's transaction.

    1. Lock the chunk's cases (ingest holds the same locks while it applies evidence), then
       read the rows: only those still pending and still claimed by us.
    2. Judge each by event time as of ``now``.
    3. Write each outcome with a conditional UPDATE (pending and ours), which returns the rows
       that really changed; a "wait" (the clock moved back) just gives the claim up.
    4. For the rows that changed to breached: the breach, its compensation, the outbox rows.
    """
    case_ids = session.scalars(
        select(Deadline.case_id).where(among(session, Deadline.id, ids))
    ).all()
    lock_cases(session, case_ids)
    rows = session.execute(
        select(
            Deadline.id, Deadline.case_id, Deadline.kind, Deadline.policy_id, Deadline.due_at,
            Deadline.judge_at, Deadline.met_at, Deadline.cancelled_at, Deadline.points,
            Case.buyer_account, Case.merchant_id, Case.provider_id,
        )
        .join(Case, Case.case_id == Deadline.case_id)
        .where(among(session, Deadline.id, ids), PENDING, Deadline.claimed_by == claimer)
        .order_by(Deadline.judge_at)
    ).all()

    by_outcome: dict[Outcome, list[BreachRow]] = {}
    for row in rows:
        verdict = judge(
            DeadlineView(row.kind, row.due_at, row.judge_at, row.met_at, row.cancelled_at), now
        )
        by_outcome.setdefault(verdict.outcome, []).append(
            BreachRow(
                deadline_id=row.id, case_id=row.case_id, kind=row.kind, policy_id=row.policy_id,
                due_at=row.due_at, judge_at=row.judge_at, points=row.points,
                buyer_account=row.buyer_account, merchant_id=row.merchant_id,
                provider_id=row.provider_id, reason=verdict.reason,
            )
        )

    counts: dict[Outcome, int] = {}
    breached: list[BreachRow] = []
    judged: set[str] = set()
    for outcome, group in by_outcome.items():
        changed = set(_set_state(session, [r.deadline_id for r in group], outcome, now, claimer))
        counts[outcome] = len(changed)
        for judged_row in group:
            if outcome != "wait" and judged_row.deadline_id in changed:
                _log_judged(judged_row, outcome)
        if outcome != "wait":
            judged.update(r.case_id for r in group if r.deadline_id in changed)
        if outcome == DeadlineState.BREACHED:
            breached = [r for r in group if r.deadline_id in changed]
    recorded = record_breaches(session, breached, now, redispatch_after) if breached else []
    if judged:
        refresh_case_facts(session, judged)  # what the reports count, under the same locks
    return counts, recorded


def _set_state(
    session: Session, ids: list[int], outcome: Outcome, now: datetime, claimer: str
) -> Sequence[int]:
    values: dict[str, object] = {"claimed_until": None, "claimed_by": None}
    if outcome != "wait":
        values.update(state=DEADLINE.move(DeadlineState.PENDING, DeadlineState(outcome)),
                      judged_at=now)
    statement = (
        update(Deadline)
        .where(among(session, Deadline.id, ids), PENDING, Deadline.claimed_by == claimer)
        .values(**values)
        .returning(Deadline.id)
    )
    return session.scalars(statement, execution_options={"synchronize_session": False}).all()
