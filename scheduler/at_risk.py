"""At-risk warnings: one ``sla.at_risk`` event per deadline when the policy's share of its
time is used (``at_risk_at``), while there is still time to keep the promise.

Sent once: the flag ``at_risk_sent`` is set by a conditional UPDATE in the transaction that
writes the outbox row (whose message id is unique as well), and only pending deadlines are
picked, through the partial index ``ix_deadlines_at_risk_pending``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, false, select, true

from slamon.models.announcements import outbox_row
from slamon.models.db.claims import claim_rows
from slamon.models.db.engine import transaction
from slamon.models.db.tables import DEADLINE_PENDING, Case, Deadline, OutboxMessage
from slamon.models.db.upsert import insert_new
from slamon.models.deadlines import deadline_key

log = logging.getLogger("slamon.at_risk")

AT_RISK_TOPIC = "sla.at_risk"
# Literals so that the planners match the partial index predicate (see DEADLINE_PENDING).
_AT_RISK_PENDING = DEADLINE_PENDING & (
    Deadline.at_risk_sent == false()
)


@dataclass(frozen=True)
class AtRiskResult:
    warned: int  # sla.at_risk events written
    stale: int  # flagged without a warning: already past due when first seen


def warn_at_risk(engine: Engine, now: datetime, batch: int) -> AtRiskResult:
    """Flag up to ``batch`` pending deadlines whose at-risk instant has passed, and warn.

    1. Claim and flag them (:func:`slamon.models.db.claims.claim_rows` keeps replicas apart).
    2. For each flagged deadline still before its due instant, write an ``sla.at_risk``
       outbox row. One already past due (the scheduler was down meanwhile) is flagged
       without a warning: it can no longer be kept, and its breach event follows.
    """
    due = (
        select(Deadline.id)
        .where(_AT_RISK_PENDING, Deadline.at_risk_at <= now)
        .order_by(Deadline.at_risk_at)
        .limit(batch)
    )
    with transaction(engine) as session:
        ids = claim_rows(session, Deadline, due, at_risk_sent=true())
        if not ids:
            return AtRiskResult(0, 0)
        rows = session.execute(
            select(
                Deadline.case_id, Deadline.kind, Deadline.policy_id, Deadline.due_at,
                Deadline.at_risk_at, Case.merchant_id, Case.provider_id,
            )
            .join(Case, Case.case_id == Deadline.case_id)
            .where(Deadline.id.in_(ids))
        ).all()
        warnings = [_message(row, now) for row in rows if now < row.due_at]
        if warnings:
            session.execute(insert_new(session, OutboxMessage, ["message_id"]), warnings)
    for message in warnings:
        log.info("case %s: %s deadline at risk (due %s)", message["case_id"],
                 message["payload"]["kind"], message["payload"]["due_at"])
    return AtRiskResult(len(warnings), len(rows) - len(warnings))


def _message(row: Any, now: datetime) -> dict[str, Any]:
    return outbox_row(
        AT_RISK_TOPIC,
        deadline_key(row.case_id, row.kind),
        row.case_id,
        now,
        kind=row.kind,
        policy=row.policy_id,
        merchant_id=row.merchant_id,
        provider_id=row.provider_id,
        at_risk_at=row.at_risk_at.isoformat(),
        due_at=row.due_at.isoformat(),
        detected_at=now.isoformat(),
    )
