"""What a breach leaves behind: the breach, the compensation it owes, the outbound event.

Written by the sweeper in the transaction that marks the deadline breached, so the three
appear together or not at all. Each insert is guarded by a unique constraint (breach per case
and kind, compensation per idempotency key, outbox row per message id): a repeated run
inserts nothing and only the rows really created are reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from slamon.models.announcements import outbox_row
from slamon.models.db.bulk import insert_new_rows
from slamon.models.db.tables import Breach, Compensation, OutboxMessage
from slamon.models.deadlines import deadline_key
from slamon.models.states import BreachStatus, CompensationStatus

BREACHED_TOPIC = "sla.breached"


@dataclass(frozen=True)
class BreachRow:
    """A deadline the sweeper has just marked breached, with the case facts the records need."""

    deadline_id: int
    case_id: str
    kind: str
    policy_id: str
    due_at: datetime
    judge_at: datetime
    points: int
    buyer_account: str
    merchant_id: str
    provider_id: str | None
    reason: str


@dataclass(frozen=True)
class RecordedBreach:
    """A breach this run created; ``compensation_id`` is None when the policy owes no points."""

    breach_id: int
    compensation_id: int | None
    deadline_id: int
    case_id: str
    kind: str
    due_at: datetime
    points: int
    reason: str


def record_breaches(
    session: Session, rows: Sequence[BreachRow], now: datetime, redispatch_after: timedelta
) -> list[RecordedBreach]:
    """Insert the breaches, compensations and outbox rows for ``rows``, in the caller's transaction.

    1. Breaches, skipping any (case, kind) already recorded; ``detected_at`` is ``now``.
    2. A pending compensation for each new breach whose policy owes points (a breach with a
       zero penalty is still recorded: it still counts as a broken promise). It is due for
       dispatch again at ``now + redispatch_after`` if its task is lost.
    3. One ``sla.breached`` outbox row per new breach, with a stable message id.
    """
    by_key = {(r.case_id, r.kind): r for r in rows}
    new_breaches = insert_new_rows(
        session,
        Breach,
        ["case_id", "kind"],
        [
            {
                "case_id": r.case_id, "kind": r.kind, "policy_id": r.policy_id,
                "due_at": r.due_at, "judge_at": r.judge_at, "detected_at": now,
                "points": r.points, "status": BreachStatus.OPEN, "reason": r.reason,
            }
            for r in rows
        ],
        returning=(Breach.id, Breach.case_id, Breach.kind),
    ).all()
    breach_ids = {(b.case_id, b.kind): b.id for b in new_breaches}

    owed = [by_key[key] for key in breach_ids if by_key[key].points > 0]
    compensation_ids: dict[int, int] = {}
    if owed:
        created = insert_new_rows(
            session,
            Compensation,
            ["idempotency_key"],
            [
                {
                    "breach_id": breach_ids[(r.case_id, r.kind)], "case_id": r.case_id,
                    "kind": r.kind, "account": r.buyer_account, "points": r.points,
                    "idempotency_key": deadline_key(r.case_id, r.kind),
                    "status": CompensationStatus.PENDING, "attempts": 0, "created_at": now,
                    "next_attempt_at": now + redispatch_after,
                }
                for r in owed
            ],
            returning=(Compensation.id, Compensation.breach_id),
        ).all()
        compensation_ids = {c.breach_id: c.id for c in created}

    recorded = [
        RecordedBreach(
            breach_id=breach_id,
            compensation_id=compensation_ids.get(breach_id),
            deadline_id=by_key[(case_id, kind)].deadline_id,
            case_id=case_id,
            kind=kind,
            due_at=by_key[(case_id, kind)].due_at,
            points=by_key[(case_id, kind)].points,
            reason=by_key[(case_id, kind)].reason,
        )
        for (case_id, kind), breach_id in breach_ids.items()
    ]
    if recorded:
        insert_new_rows(
            session,
            OutboxMessage,
            ["message_id"],
            [_breached_message(by_key[(b.case_id, b.kind)], b, now) for b in recorded],
        )
    return recorded


def _breached_message(row: BreachRow, breach: RecordedBreach, now: datetime) -> dict[str, Any]:
    return outbox_row(
        BREACHED_TOPIC,
        deadline_key(row.case_id, row.kind),
        row.case_id,
        now,
        kind=row.kind,
        policy=row.policy_id,
        merchant_id=row.merchant_id,
        provider_id=row.provider_id,
        due_at=row.due_at.isoformat(),
        judge_at=row.judge_at.isoformat(),
        detected_at=now.isoformat(),
        points=row.points,
        reason=row.reason,
        compensation_id=breach.compensation_id,
    )
