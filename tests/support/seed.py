"""Bulk-insert cases with deadlines for timer, sweeper and compensation tests.

Ingest is not involved on purpose: these tests are about what happens *after* a deadline is
stored, and thousands of cases are inserted in a few statements.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, insert

from slamon.models.db.engine import transaction
from slamon.models.db.tables import Case, Deadline


@dataclass(frozen=True)
class SeedDeadline:
    kind: str = "response"
    due_in: timedelta = timedelta(0)  # due_at = base + due_in
    grace: timedelta = timedelta(minutes=2)
    at_risk_before_due: timedelta = timedelta(minutes=15)
    points: int = 5000


def seed_cases(
    engine: Engine,
    count: int,
    base: datetime,
    deadlines: tuple[SeedDeadline, ...] = (SeedDeadline(),),
    prefix: str = "H",
    policy_id: str = "tmall-2022",
    chunk: int = 5000,
) -> list[str]:
    """Insert ``count`` open cases, each with ``deadlines`` relative to ``base``; the case ids."""
    case_ids = [f"{prefix}{i:07d}" for i in range(count)]
    for start in range(0, count, chunk):
        ids = case_ids[start : start + chunk]
        with transaction(engine) as session:
            session.execute(insert(Case), [_case(case_id, base, policy_id) for case_id in ids])
            session.execute(
                insert(Deadline),
                [
                    _deadline(case_id, d, base, policy_id)
                    for case_id in ids
                    for d in deadlines
                ],
            )
    return case_ids


def _case(case_id: str, base: datetime, policy_id: str) -> dict[str, object]:
    opened = base - timedelta(hours=1)
    return {
        "case_id": case_id, "status": "open", "monitored": True, "policy_id": policy_id,
        "opened_at": opened, "order_id": f"O-{case_id}", "buyer_account": f"tb_{case_id}",
        "merchant_id": "M1", "provider_id": "P1", "city": "杭州", "category": "furniture",
        "services": ["delivery_and_installation"], "item_price": None, "reopen_count": 0,
        "last_event_at": opened, "created_at": opened, "updated_at": opened,
    }


def _deadline(case_id: str, d: SeedDeadline, base: datetime, policy_id: str) -> dict[str, object]:
    due = base + d.due_in
    return {
        "case_id": case_id, "kind": d.kind, "clock": "wall_clock", "policy_id": policy_id,
        "due_at": due, "at_risk_at": due - d.at_risk_before_due, "judge_at": due + d.grace,
        "points": d.points, "state": "pending", "at_risk_sent": False,
        "pending_since": base - timedelta(hours=1),  # when the case was stored (_case)
    }
