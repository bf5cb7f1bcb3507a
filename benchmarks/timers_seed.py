"""Bulk rows for the timer benchmark: open cases and their pending deadlines, made by Postgres.

A million deadlines through the ORM would take minutes; ``INSERT … SELECT … FROM
generate_series`` writes them server-side in seconds. The rows are shaped as ingest shapes
them (a furniture case with 送货入户并安装: a 5,000-point response deadline, a 30,000-point
resolution deadline, grace one minute), so the sweeper and the compensation service do their
real work on them. Postgres only, like the issue's benchmark.

Deadlines are spread evenly over a window, but inserted in a scattered order (the slot of row
``g`` is ``g * P mod n`` for a prime ``P``: a permutation), so the ``judge_at`` index is built
as it is in production, where cases are not opened in deadline order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, func, select, text

from slamon.models.db.tables import Breach, Compensation, Deadline, LedgerEntry

POLICY = "tmall-2022"
GRACE = timedelta(minutes=1)
KINDS = {"response": 5000, "resolution": 30000}  # points owed per kind (DOMAIN.md)
_SCATTER = 2654435761  # a prime: g * P mod n visits every slot of 0..n-1 once

_CASES = text(
    """
    INSERT INTO cases (case_id, status, monitored, policy_id, opened_at, order_id,
        buyer_account, merchant_id, provider_id, city, category, services, reopen_count,
        last_event_at, created_at, updated_at)
    SELECT :prefix || g, 'open', true, :policy, :opened, 'O-' || :prefix || g,
        'tb_buyer_' || (g % 9973), 'M' || (g % 97), 'P' || (g % 31), '杭州', 'furniture',
        '["delivery_and_installation"]'::json, 0, :opened, :opened, :opened
    FROM generate_series(0, :count - 1) AS g
    """
)

_DEADLINES = text(
    """
    INSERT INTO deadlines (case_id, kind, clock, policy_id, due_at, at_risk_at, judge_at,
        points, state, at_risk_sent, pending_since)
    SELECT :prefix || g, :kind, 'wall_clock', :policy, due, due - :at_risk_before,
        due + :grace, :points, 'pending', false, :opened
    FROM generate_series(0, :count - 1) AS g,
        LATERAL (SELECT :first_judge - :grace
            + ((g::bigint * :scatter) % :count) * :slot AS due) AS slot
    """
)


@dataclass(frozen=True)
class DeadlineSet:
    """``count`` cases named ``prefix0..prefixN-1``, their deadlines' ``judge_at`` spread
    evenly over ``[first_judge, first_judge + span)``."""

    prefix: str
    count: int
    first_judge: datetime
    span: timedelta
    kinds: tuple[str, ...] = ("response",)
    at_risk_before: timedelta = timedelta(minutes=15)  # before the due instant


def seed(engine: Engine, deadlines: DeadlineSet) -> int:
    """Insert the set's cases and pending deadlines in one transaction; the deadlines made."""
    d = deadlines
    if d.count < 1:
        return 0
    params = {"prefix": d.prefix, "count": d.count, "policy": POLICY}
    opened = d.first_judge - d.span - timedelta(hours=1)
    with engine.begin() as conn:
        conn.execute(_CASES, {**params, "opened": opened})
        for kind in d.kinds:
            conn.execute(
                _DEADLINES,
                {
                    **params,
                    "opened": opened,
                    "kind": kind,
                    "points": KINDS[kind],
                    "grace": GRACE,
                    "at_risk_before": d.at_risk_before,
                    "first_judge": d.first_judge,
                    "slot": d.span / d.count,
                    "scatter": _SCATTER,
                },
            )
    return d.count * len(d.kinds)


def vacuum_analyze(engine: Engine) -> None:
    """What autovacuum does on its own after a bulk load: fresh statistics, a visibility map."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("cases", "deadlines"):
            conn.execute(text(f"VACUUM ANALYZE {table}"))


def count_pending(conn: Connection) -> int:
    return int(conn.scalar(select(func.count()).where(Deadline.state == "pending")) or 0)


def deadlines_mib(conn: Connection) -> float:
    """The deadlines table on disk, with its indexes (where ours keeps its timers)."""
    return int(conn.scalar(text("SELECT pg_total_relation_size('deadlines')")) or 0) / 2**20


def count_breaches(conn: Connection, prefix: str) -> int:
    return int(conn.scalar(select(func.count()).where(Breach.case_id.startswith(prefix))) or 0)


def count_issued(conn: Connection, prefix: str) -> int:
    return int(
        conn.scalar(
            select(func.count()).where(
                Compensation.case_id.startswith(prefix), Compensation.status == "issued"
            )
        )
        or 0
    )


def count_ledger(conn: Connection, prefix: str) -> tuple[int, int]:
    """Ledger entries of the cases with ``prefix``, and how many distinct idempotency keys."""
    row = conn.execute(
        select(func.count(), func.count(func.distinct(LedgerEntry.idempotency_key))).where(
            LedgerEntry.case_id.startswith(prefix)
        )
    ).one()
    return int(row[0]), int(row[1])


def pending_compensations(conn: Connection, prefix: str) -> list[int]:
    return [
        int(i)
        for i in conn.scalars(
            select(Compensation.id)
            .where(Compensation.case_id.startswith(prefix), Compensation.status == "pending")
            .order_by(Compensation.id)
        )
    ]
