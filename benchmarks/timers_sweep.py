"""In-process phases: one sweep among a million pending deadlines, and the compensation service.

These call the production functions directly (:func:`slamon.scheduler.sweeper.claim_due`,
:func:`slamon.scheduler.sweeper.judge_claimed`, :func:`slamon.worker.compensation.compensate`) on
the benchmark's Postgres database, with nothing else running: what is timed is the database work
of one sweep and of one payment, not a process's scheduling.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, event

from benchmarks.timers_seed import DeadlineSet, pending_compensations, seed
from slamon.models.db.bulk import chunks
from slamon.models.payout import PayoutLimits
from slamon.scheduler.sweeper import claim_due, judge_claimed, sweep
from slamon.settings import Settings
from slamon.worker.compensation import compensate, compensate_many
from slamon.worker.payout_guard import GuardLimits
from slamon.worker.points.ledger import LedgerPointsIssuer

CLAIMER = "bench-sweep"
DEFAULTS = Settings.model_construct()
# The settings' defaults, as `slamon scheduler` and `slamon worker` run without SLAMON_* set.
LEASE = DEFAULTS.claim_lease
REDISPATCH = DEFAULTS.redispatch_after


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class SweepTiming:
    """One timed sweep of ``due`` rows, in milliseconds."""

    claim_ms: float
    judge_ms: float

    @property
    def total_ms(self) -> float:
        return self.claim_ms + self.judge_ms


@dataclass(frozen=True)
class SweepReport:
    timings: list[SweepTiming]
    explain: list[str]

    @property
    def claim_ms(self) -> float:
        return statistics.median(t.claim_ms for t in self.timings)

    @property
    def total_ms(self) -> float:
        return statistics.median(t.total_ms for t in self.timings)


def due_set(prefix: str, count: int) -> DeadlineSet:
    """``count`` response deadlines that came due 5 to 10 minutes ago."""
    return DeadlineSet(prefix, count, utcnow() - timedelta(minutes=10), timedelta(minutes=5))


def time_sweeps(engine: Engine, due: int, repeat: int, tag: str) -> SweepReport:
    """Median of ``repeat`` sweeps, each over ``due`` freshly seeded due rows.

    1. Warm-up (untimed): seed ``due`` rows and sweep them, capturing the claim's SQL as it
       is sent to the database.
    2. Each repeat: seed ``due`` new rows, then time :func:`claim_due` (the claim alone) and
       :func:`judge_claimed` (judgement and the breach, compensation and outbox writes).
       The first repeat first runs ``EXPLAIN ANALYZE`` of the captured claim, rolled back.
    3. Fail unless every sweep claimed and breached exactly ``due`` rows.
    """
    seed(engine, due_set(f"{tag}w-", due))
    now = utcnow()
    with _captured(engine) as statements:
        ids = claim_due(engine, now, CLAIMER, due, LEASE)
    _check(ids, due, "warm-up claim")
    judge_claimed(engine, ids, now, CLAIMER, REDISPATCH)
    explain: list[str] = []
    timings: list[SweepTiming] = []
    for r in range(repeat):
        seed(engine, due_set(f"{tag}{r}-", due))
        if r == 0:
            explain = explain_claim(engine, statements)
        now = utcnow()
        started = time.perf_counter()
        ids = claim_due(engine, now, CLAIMER, due, LEASE)
        claimed = time.perf_counter()
        result = judge_claimed(engine, ids, now, CLAIMER, REDISPATCH)
        judged = time.perf_counter()
        _check(ids, due, "claim")
        if len(result.breaches) != due:
            raise RuntimeError(f"sweep recorded {len(result.breaches)} breaches, expected {due}")
        timings.append(SweepTiming((claimed - started) * 1e3, (judged - claimed) * 1e3))
    return SweepReport(timings, explain)


def _check(ids: list[int], expected: int, what: str) -> None:
    if len(ids) != expected:
        raise RuntimeError(f"{what} took {len(ids)} rows, expected {expected}")


@contextmanager
def _captured(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The statements ``engine`` sends while the block runs, with their parameters."""
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", capture)


def explain_claim(engine: Engine, statements: list[tuple[str, Any]]) -> list[str]:
    """``EXPLAIN`` of the claim's two statements, as :func:`claim_due` sent them.

    The pick (``SELECT … FOR UPDATE SKIP LOCKED``) is run with ``ANALYZE`` on the rows now
    due, the lease ``UPDATE`` (ids captured in the warm-up) is only planned; both inside a
    transaction that is rolled back, so the claim that follows finds the same rows.
    """
    pick = next(s for s in statements if "SKIP LOCKED" in s[0])
    lease = next(s for s in statements if s[0].lstrip().upper().startswith("UPDATE"))
    lines: list[str] = []
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            for (sql, params), options in ((pick, "ANALYZE, BUFFERS"), (lease, "COSTS")):
                plan = conn.exec_driver_sql(f"EXPLAIN ({options}) {sql}", params).scalars()
                lines.append(f"-- {' '.join(sql.split())[:96]}…")
                lines.extend(_short(line) for line in plan)
        finally:
            trans.rollback()
    return lines


def _short(line: str, width: int = 120) -> str:
    return line if len(line) <= width else f"{line[: width - 1]}…"


# --- compensations ----------------------------------------------------------------------------


def prepare_compensations(engine: Engine, prefix: str, count: int, batch: int) -> list[int]:
    """``count`` pending compensations made the real way: due deadlines, then sweeps."""
    seed(engine, due_set(prefix, count))
    while sweep(engine, utcnow(), CLAIMER, batch, LEASE, REDISPATCH).claimed:
        pass
    ids = pending_compensations_of(engine, prefix)
    if len(ids) != count:
        raise RuntimeError(f"prepared {len(ids)} pending compensations, expected {count}")
    return ids


def pending_compensations_of(engine: Engine, prefix: str) -> list[int]:
    with engine.connect() as conn:
        return pending_compensations(conn, prefix)


@dataclass(frozen=True)
class PayReport:
    paid: int
    seconds: float
    detect_seconds: float = 0.0  # through the roles: first to last breach detected

    @property
    def rate(self) -> float:
        # A handful paid within the clock's resolution (the smoke test) is not an error.
        return self.paid / max(self.seconds, 1e-6)


# The benchmark pays far more than a real hour allows: the guard decides every payment as in
# production, with limits it never reaches.
UNREACHED_LIMITS = GuardLimits(PayoutLimits(10**15, 10**9, 10**9))


def pay_in_process(engine: Engine, ids: list[int], chunk: int = 1) -> PayReport:
    """Pay ``ids`` with the ledger adapter: one after the other with :func:`compensate`, or
    ``chunk`` at a time with :func:`compensate_many` (as the scheduler dispatches them)."""
    issuer = LedgerPointsIssuer(engine)
    started = time.perf_counter()
    statuses: dict[str, int] = {}
    for some in chunks(ids, chunk):
        if chunk == 1:
            outcomes = [compensate(engine, issuer, some[0], utcnow, REDISPATCH,
                                   limits=UNREACHED_LIMITS)]
        else:
            outcomes = compensate_many(engine, issuer, some, utcnow, REDISPATCH,
                                       limits=UNREACHED_LIMITS)
        for outcome in outcomes:
            statuses[outcome.status] = statuses.get(outcome.status, 0) + 1
    elapsed = time.perf_counter() - started
    if statuses != {"issued": len(ids)}:
        raise RuntimeError(f"in-process payments ended {statuses}, expected all issued")
    return PayReport(len(ids), elapsed)
