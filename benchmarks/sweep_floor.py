"""The floor of the sweep's write path: the same claim, state update and inserts, by hand, in
one statement and one round trip.

What :func:`slamon.scheduler.sweeper.sweep` does in two transactions (a claim, then the
judgement) is written here as one ``WITH`` statement that Postgres runs in one go:

1. pick up to ``batch`` due, pending, unclaimed deadlines, earliest first,
   ``FOR UPDATE SKIP LOCKED`` (the claim);
2. mark those without timely evidence ``breached`` (the state update; the floor's rows have
   none, so every claimed row is breached, as in the benchmark's sweeps);
3. insert their breaches (``ON CONFLICT DO NOTHING`` on case and kind), the pending
   compensations the breaches owe, and one ``sla.breached`` outbox row each, with the payload
   slamon writes (the case's merchant, provider and buyer joined in).

No per-case advisory locks, no lease (claim and judgement are one transaction here), no
Python: it is what the database needs for the same rows, the bound slamon's sweep is compared
with. The statement is sent through the driver as is (psycopg prepares it server-side after a
few executions, as it does slamon's fixed-shape statements).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select

from benchmarks.timers_seed import DeadlineSet, seed
from slamon.models.db.tables import Breach, Compensation, OutboxMessage

REDISPATCH_AFTER = timedelta(minutes=2)

SWEEP = """
WITH picked AS (
    SELECT id FROM deadlines
    WHERE state = 'pending' AND judge_at <= %(now)s
      AND (claimed_until IS NULL OR claimed_until < %(now)s)
    ORDER BY judge_at
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED
), judged AS (
    UPDATE deadlines AS d
    SET state = 'breached', judged_at = %(now)s, claimed_until = NULL, claimed_by = NULL
    FROM picked
    WHERE d.id = picked.id
      AND (d.met_at IS NULL OR d.met_at > d.due_at)
      AND (d.cancelled_at IS NULL OR d.cancelled_at > d.due_at)
    RETURNING d.case_id, d.kind, d.policy_id, d.due_at, d.judge_at, d.points
), facts AS (
    SELECT j.*, c.buyer_account, c.merchant_id, c.provider_id,
        'no ' || j.kind || ' evidence by the end of the grace period, none at or before '
            || 'the due instant ' || j.due_at AS reason
    FROM judged AS j JOIN cases AS c ON c.case_id = j.case_id
), breached AS (
    INSERT INTO breaches (case_id, kind, policy_id, due_at, judge_at, detected_at, points,
        status, reason)
    SELECT case_id, kind, policy_id, due_at, judge_at, %(now)s, points, 'open', reason
    FROM facts
    ON CONFLICT (case_id, kind) DO NOTHING
    RETURNING id, case_id, kind
), owed AS (
    INSERT INTO compensations (breach_id, case_id, kind, account, points, idempotency_key,
        status, attempts, created_at, next_attempt_at)
    SELECT b.id, b.case_id, b.kind, f.buyer_account, f.points, b.case_id || ':' || b.kind,
        'pending', 0, %(now)s, %(redispatch_at)s
    FROM breached AS b JOIN facts AS f USING (case_id, kind)
    WHERE f.points > 0
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id, breach_id
)
INSERT INTO outbox (message_id, topic, case_id, payload, created_at, attempts)
SELECT 'sla.breached:' || b.case_id || ':' || b.kind, 'sla.breached', b.case_id,
    json_build_object(
        'message_id', 'sla.breached:' || b.case_id || ':' || b.kind, 'case_id', b.case_id,
        'kind', b.kind, 'policy', f.policy_id, 'merchant_id', f.merchant_id,
        'provider_id', f.provider_id, 'due_at', f.due_at, 'judge_at', f.judge_at,
        'detected_at', %(now)s::timestamptz, 'points', f.points, 'reason', f.reason,
        'compensation_id', o.id),
    %(now)s, 0
FROM breached AS b JOIN facts AS f USING (case_id, kind) LEFT JOIN owed AS o ON o.breach_id = b.id
ON CONFLICT (message_id) DO NOTHING
"""


@dataclass(frozen=True)
class FloorReport:
    ms: list[float]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.ms)


def _due_set(prefix: str, count: int) -> DeadlineSet:
    now = datetime.now(UTC)
    return DeadlineSet(prefix, count, now - timedelta(minutes=10), timedelta(minutes=5))


def time_floor(engine: Engine, due: int, repeat: int, tag: str) -> FloorReport:
    """Median of ``repeat`` floor sweeps, each over ``due`` freshly seeded due rows, after an
    untimed warm-up; each must breach, owe and announce exactly ``due`` rows."""
    timings: list[float] = []
    raw = engine.raw_connection()
    try:
        for r in range(-1, repeat):
            prefix = f"{tag}{'w' if r < 0 else r}-"
            seed(engine, _due_set(prefix, due))
            now = datetime.now(UTC)
            params = {"now": now, "batch": due, "redispatch_at": now + REDISPATCH_AFTER}
            cursor = raw.cursor()
            started = time.perf_counter()
            cursor.execute(SWEEP, params)
            raw.commit()
            elapsed = (time.perf_counter() - started) * 1e3
            cursor.close()
            _check(engine, prefix, due)
            if r >= 0:
                timings.append(elapsed)
    finally:
        raw.close()
    return FloorReport(timings)


def _check(engine: Engine, prefix: str, due: int) -> None:
    with engine.connect() as conn:
        counts = [
            int(conn.scalar(select(func.count()).where(table.case_id.startswith(prefix))) or 0)
            for table in (Breach, Compensation, OutboxMessage)
        ]
    if counts != [due, due, due]:
        raise RuntimeError(f"floor sweep wrote breaches, compensations, outbox {counts}; "
                           f"expected {due} each")
