"""Rows for the operators' views (summary, dashboard, metrics), inserted directly.

The ingest, scheduler and compensation paths are not involved: these tests are about what
the read side makes of rows in given states, at instants relative to a pinned ``now``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert

from slamon.models.db.case_facts import refresh_case_facts
from slamon.models.db.engine import transaction
from slamon.models.db.tables import Breach, Case, Compensation, DeadLetter, Deadline, OutboxMessage
from slamon.models.deadlines import deadline_key

GRACE = timedelta(seconds=60)


class OpsRows:
    """Insert helpers bound to one engine and one ``now``; ids are returned where needed."""

    def __init__(self, engine: Engine, now: datetime) -> None:
        self.engine = engine
        self.now = now

    def _insert(self, table: Any, values: dict[str, Any]) -> Any:
        with transaction(self.engine) as session:
            result = session.execute(insert(table).returning(*table.__table__.primary_key), values)
            if table is not OutboxMessage and "case_id" in values:
                # What a writer of these rows does in the same transaction.
                refresh_case_facts(session, [values["case_id"]])
            return result.scalar_one()

    def case(self, case_id: str, status: str = "open") -> str:
        at = self.now - timedelta(hours=2)
        self._insert(
            Case,
            {
                "case_id": case_id,
                "status": status,
                "monitored": True,
                "policy_id": "tmall-2022",
                "opened_at": at,
                "order_id": f"O-{case_id}",
                "buyer_account": f"tb-{case_id}",
                "merchant_id": "M1",
                "category": "furniture",
                "services": ["delivery_and_installation"],
                "last_event_at": at,
                "created_at": at,
                "updated_at": at,
            },
        )
        return case_id

    def deadline(
        self,
        case_id: str,
        kind: str,
        due_in: timedelta,
        at_risk_in: timedelta | None = None,
        state: str = "pending",
        grace: timedelta = GRACE,
        pending_since: datetime | None = None,
        judged_at: datetime | None = None,
    ) -> None:
        """``pending_since`` defaults to two hours ago (when :meth:`case` stores the case)."""
        due_at = self.now + due_in
        self._deadline(
            case_id, kind, due_at, due_at + grace,
            at_risk_at=self.now + (at_risk_in if at_risk_in is not None else due_in),
            points=5000, state=state,
            pending_since=pending_since or self.now - timedelta(hours=2), judged_at=judged_at,
        )

    def _deadline(
        self, case_id: str, kind: str, due_at: datetime, judge_at: datetime, **values: Any
    ) -> None:
        self._insert(
            Deadline,
            {"case_id": case_id, "kind": kind, "clock": "wall_clock", "policy_id": "tmall-2022",
             "due_at": due_at, "judge_at": judge_at, **values},
        )

    def breach(
        self,
        case_id: str,
        kind: str,
        detected_ago: timedelta,
        lag: timedelta,
        status: str = "open",
        points: int = 5000,
        pending_since: datetime | None = None,
    ) -> int:
        """A breach and its breached deadline; the deadline was pending since an hour before
        its judge instant (the scheduler's to fire on time) unless ``pending_since`` says."""
        detected_at = self.now - detected_ago
        judge_at = detected_at - lag
        self._deadline(
            case_id, kind, judge_at - GRACE, judge_at, at_risk_at=judge_at - GRACE,
            points=points, state="breached",
            pending_since=pending_since or judge_at - timedelta(hours=1), judged_at=detected_at,
        )
        return int(
            self._insert(
                Breach,
                {
                    "case_id": case_id,
                    "kind": kind,
                    "policy_id": "tmall-2022",
                    "due_at": judge_at - GRACE,
                    "judge_at": judge_at,
                    "detected_at": detected_at,
                    "points": points,
                    "status": status,
                },
            )
        )

    def compensation(
        self, breach_id: int, case_id: str, kind: str, points: int, status: str
    ) -> None:
        self._insert(
            Compensation,
            {
                "breach_id": breach_id,
                "case_id": case_id,
                "kind": kind,
                "account": f"tb-{case_id}",
                "points": points,
                "idempotency_key": deadline_key(case_id, kind),
                "status": status,
                "created_at": self.now,
            },
        )

    def outbox(self, message_id: str, created_ago: timedelta, published: bool) -> None:
        created_at = self.now - created_ago
        self._insert(
            OutboxMessage,
            {
                "message_id": message_id,
                "topic": "sla.breached",
                "case_id": "H-outbox",
                "payload": {"message_id": message_id},
                "created_at": created_at,
                "published_at": created_at + timedelta(seconds=1) if published else None,
            },
        )

    def dead_letter(self, raw: str, replayed: bool = False, cause: str = "not_json") -> None:
        self._insert(
            DeadLetter,
            {
                "received_at": self.now,
                "source": "queue",
                "raw": raw,
                "error": "not JSON",
                "cause": cause,
                "replayed_at": self.now if replayed else None,
            },
        )
