"""What a fault test counts after the fault: events applied and doubled, breaches,
compensations and payments, read from the database that enforces exactly once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError

from slamon.models.db.engine import snapshot
from slamon.models.db.tables import (
    Breach,
    Case,
    Compensation,
    DeadLetter,
    Deadline,
    InboxEvent,
    LedgerEntry,
)
from slamon.models.states import CompensationStatus, DeadlineState


@dataclass(frozen=True)
class Ingested:
    inbox: int  # distinct events stored
    redelivered: int  # deliveries of an event already stored (recognised, not applied again)
    cases: int
    dead_letters: int


@dataclass(frozen=True)
class Paid:
    breaches: int
    compensations: int
    issued: int
    ledger: int
    distinct_ledger_keys: int


def ingested(engine: Engine) -> Ingested:
    with snapshot(engine) as s:
        inbox, redelivered = s.execute(
            select(func.count(), func.coalesce(func.sum(InboxEvent.duplicates), 0))
        ).one()
        cases = s.scalar(select(func.count()).select_from(Case)) or 0
        letters = s.scalar(select(func.count()).select_from(DeadLetter)) or 0
    return Ingested(int(inbox), int(redelivered), int(cases), int(letters))


def paid(engine: Engine) -> Paid:
    with snapshot(engine) as s:
        def count(*columns: object) -> int:
            return int(s.scalar(select(*columns)) or 0)  # type: ignore[call-overload]

        return Paid(
            breaches=count(func.count(Breach.id)),
            compensations=count(func.count(Compensation.id)),
            issued=count(func.count(Compensation.id).filter(
                Compensation.status == CompensationStatus.ISSUED)),
            ledger=count(func.count(LedgerEntry.id)),
            distinct_ledger_keys=count(func.count(func.distinct(LedgerEntry.idempotency_key))),
        )


def breached_deadlines(engine: Engine) -> int:
    with snapshot(engine) as s:
        return int(s.scalar(select(func.count()).select_from(Deadline)
                            .where(Deadline.state == DeadlineState.BREACHED)) or 0)


def reachable(read, default):  # type: ignore[no-untyped-def]
    """``read()``, or ``default`` while the database is down (a test polls through an outage)."""
    try:
        return read()
    except OperationalError:
        return default


def utcnow() -> datetime:
    return datetime.now(UTC)


def applied_with(engine: Engine, prefix: str) -> int:
    with snapshot(engine) as s:
        return int(s.scalar(select(func.count()).select_from(InboxEvent)
                            .where(InboxEvent.case_id.like(f"{prefix}%"))) or 0)
