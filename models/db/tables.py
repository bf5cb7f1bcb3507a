"""The database schema: SQLAlchemy 2.0 typed mappings, the same on SQLite and Postgres.

Exactly-once is the database's job, not the workers': every "at most one" in the design is a
named unique constraint here (one deadline per case and kind, one breach per case and kind,
one compensation per idempotency key, one ledger entry per key, one inbox row per event id).
Partial indexes keep the sweeper's queries proportional to the rows that are due, not to the
millions that are pending.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    literal_column,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from slamon.models.audit import Action
from slamon.models.db.types import StatusType, UTCDateTime
from slamon.models.states import (
    BreachStatus,
    CaseStatus,
    CompensationStatus,
    DeadlineState,
    InboxOutcome,
    OutboxState,
    values,
)

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BigInteger ids on Postgres, but INTEGER on SQLite: only "INTEGER PRIMARY KEY" is a rowid alias
# there, which is what makes it autoincrement.
Id = BigInteger().with_variant(Integer(), "sqlite")
ID = 64  # bounded identifiers (case, event, order, account ids)

PENDING = text(f"state = '{DeadlineState.PENDING}'")
UNPUBLISHED = text("published_at IS NULL")
# The index predicate as each planner matches the query's ``monitored = true`` (SQLite: = 1).
MONITORED_PG = text("monitored")
MONITORED_SQLITE = text("monitored = 1")


def allowed(column: str, states: type[StrEnum]) -> CheckConstraint:
    """``ck_<table>_<column>``: the column holds only the lifecycle's values."""
    listed = ", ".join(f"'{value}'" for value in values(states))
    return CheckConstraint(f"{column} IN ({listed})", name=column)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class Case(Base):
    """A help request (求助单) and what is known of it."""

    __tablename__ = "cases"
    __table_args__ = (
        allowed("status", CaseStatus),
        # The dashboard's search: by order, by buyer, a merchant's newest cases.
        Index(None, "order_id"),
        Index(None, "buyer_account"),
        Index(None, "merchant_id", "opened_at"),
    )

    case_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    status: Mapped[CaseStatus] = mapped_column(StatusType(CaseStatus))
    monitored: Mapped[bool] = mapped_column(Boolean)
    not_monitored_reason: Mapped[str | None] = mapped_column(Text)
    policy_id: Mapped[str | None] = mapped_column(String(ID))
    opened_at: Mapped[datetime]
    order_id: Mapped[str] = mapped_column(String(ID))
    buyer_account: Mapped[str] = mapped_column(String(ID))
    merchant_id: Mapped[str] = mapped_column(String(ID))
    provider_id: Mapped[str | None] = mapped_column(String(ID))
    city: Mapped[str | None] = mapped_column(String(ID))
    category: Mapped[str] = mapped_column(String(ID))
    services: Mapped[list[Any]]
    item_price: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    responded_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    # Instants that let late, out-of-order events be applied exactly (slamon.models.case_state).
    assigned_at: Mapped[datetime | None]
    reopened_at: Mapped[datetime | None]
    last_resolved_at: Mapped[datetime | None]
    last_event_at: Mapped[datetime]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Deadline(Base):
    """One promise of a case (response, resolution, …) and its judgement.

    ``judge_at`` = due + grace is what the sweeper polls; ``claimed_until`` is a lease so that a
    crashed scheduler's claim expires and another replica takes the row.
    """

    __tablename__ = "deadlines"
    __table_args__ = (
        UniqueConstraint("case_id", "kind"),
        allowed("state", DeadlineState),
        Index(
            "ix_deadlines_due_pending", "judge_at", postgresql_where=PENDING, sqlite_where=PENDING
        ),
        Index(
            "ix_deadlines_at_risk_pending",
            "at_risk_at",
            postgresql_where=text(f"state = '{DeadlineState.PENDING}' AND at_risk_sent = false"),
            sqlite_where=text(f"state = '{DeadlineState.PENDING}' AND at_risk_sent = 0"),
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    clock: Mapped[str] = mapped_column(String(32))
    policy_id: Mapped[str] = mapped_column(String(ID))
    due_at: Mapped[datetime]
    at_risk_at: Mapped[datetime]
    judge_at: Mapped[datetime]
    points: Mapped[int] = mapped_column(Integer)
    state: Mapped[DeadlineState] = mapped_column(
        StatusType(DeadlineState), default=DeadlineState.PENDING
    )
    met_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    at_risk_sent: Mapped[bool] = mapped_column(Boolean, default=False)
    claimed_until: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(ID))
    judged_at: Mapped[datetime | None]
    # When the row last became pending (its case opened or reopened), as received. A deadline
    # whose judge instant had passed by then was late before the scheduler could see it, so
    # the scheduler's fire lag leaves it out (slamon.api.metric_counts).
    pending_since: Mapped[datetime]


# Filters on the statuses the sweeper, at-risk and redispatch poll, as SQL literals rather than
# bound parameters: the planners of both databases match a partial index
# (``ix_deadlines_due_pending``: WHERE state = 'pending') only against the same constant.
DEADLINE_PENDING = Deadline.state == literal_column(f"'{DeadlineState.PENDING}'")
class InboxEvent(Base):
    """Every event received, keyed by its id, with what became of it."""

    __tablename__ = "events"
    __table_args__ = (Index(None, "case_id", "occurred_at"), allowed("outcome", InboxOutcome))

    event_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(ID))
    type: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]]
    outcome: Mapped[InboxOutcome] = mapped_column(StatusType(InboxOutcome))
    detail: Mapped[str | None] = mapped_column(Text)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    # Copies of this event id with other content (each one a dead letter of cause conflict).
    conflicts: Mapped[int] = mapped_column(Integer, default=0)


class DeadLetter(Base):
    """A message that could not be read or validated: kept with the raw text and the reason."""

    __tablename__ = "dead_letters"
    # A case's history lists the conflicting copies of its events (cause conflict) by event id.
    __table_args__ = (Index(None, "event_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(16))  # queue | http | cli | replay
    raw: Mapped[str] = mapped_column(Text)
    error: Mapped[str] = mapped_column(Text)
    # The kind of problem (slamon.models.dead_letter_causes.Cause), as it was when the message
    # was dead-lettered: a replay that fails again rewrites ``error``, never the cause.
    cause: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str | None] = mapped_column(String(ID))
    replayed_at: Mapped[datetime | None]
    # An operator's latest correction, replayed in place of ``raw`` (kept as received).
    corrected_raw: Mapped[str | None] = mapped_column(Text)


class Breach(Base):
    """A broken promise: recorded once per case and kind, whatever is retried."""

    __tablename__ = "breaches"
    __table_args__ = (UniqueConstraint("case_id", "kind"), allowed("status", BreachStatus))

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.case_id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    policy_id: Mapped[str] = mapped_column(String(ID))
    due_at: Mapped[datetime]
    judge_at: Mapped[datetime]
    detected_at: Mapped[datetime]
    points: Mapped[int] = mapped_column(Integer)
    status: Mapped[BreachStatus] = mapped_column(
        StatusType(BreachStatus), default=BreachStatus.OPEN
    )
    evidence_at: Mapped[datetime | None]
    # Why the promise counts as broken (no evidence, evidence after due, cancelled after due).
    reason: Mapped[str | None] = mapped_column(Text)


class Compensation(Base):
    """The penalty owed for a breach; its idempotency key travels to the points service."""

    __tablename__ = "compensations"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        UniqueConstraint("breach_id"),
        Index(None, "status", "next_attempt_at"),
        # The payout guard's windows: points approved in the last hour, penalties per account.
        Index(None, "approved_at"),
        Index(None, "account", "approved_at"),
        allowed("status", CompensationStatus),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    breach_id: Mapped[int] = mapped_column(ForeignKey("breaches.id", ondelete="CASCADE"))
    case_id: Mapped[str] = mapped_column(String(ID))
    kind: Mapped[str] = mapped_column(String(32))
    account: Mapped[str] = mapped_column(String(ID))
    points: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str] = mapped_column(String(2 * ID))
    status: Mapped[CompensationStatus] = mapped_column(
        StatusType(CompensationStatus), default=CompensationStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    reference: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime | None]
    issued_at: Mapped[datetime | None]
    # The payout guard (slamon.worker.payout_guard): when it let this one be paid (it counts
    # in the guard's windows from then on, unless an operator released it: ``released_by``),
    # or when and why it held it (``hold_limit``: a slamon.models.payout.Limit).
    approved_at: Mapped[datetime | None]
    released_by: Mapped[str | None] = mapped_column(String(ID))
    held_at: Mapped[datetime | None]
    hold_limit: Mapped[str | None] = mapped_column(String(32))
    hold_reason: Mapped[str | None] = mapped_column(Text)


COMPENSATION_PENDING = Compensation.status == literal_column(f"'{CompensationStatus.PENDING}'")


class OutboxMessage(Base):
    """An outbound event, written in the same transaction as the change it announces."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("message_id"),
        Index(
            "ix_outbox_unpublished", "id", postgresql_where=UNPUBLISHED, sqlite_where=UNPUBLISHED
        ),
        # A case page's payment history (slamon.models.db.views).
        Index(None, "case_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(2 * ID))  # stable: consumers dedupe on it
    topic: Mapped[str] = mapped_column(String(32))
    case_id: Mapped[str] = mapped_column(String(ID))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    published_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # A relay's claim (lease) while it publishes, then the backoff after a failed attempt.
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)

    @property
    def state(self) -> OutboxState:
        """Derived, not stored: a row is published once ``published_at`` is set."""
        return OutboxState.UNPUBLISHED if self.published_at is None else OutboxState.PUBLISHED


class PayoutGuard(Base):
    """The payout guard's one row (id 1): its trip, and the lock every payment decision takes.

    Workers deciding whether to pay lock this row (``FOR UPDATE``) before they read what was
    paid in the guard's windows, so two of them cannot both see room for the last payment.
    """

    __tablename__ = "payout_guard"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    tripped_at: Mapped[datetime | None]
    tripped_limit: Mapped[str | None] = mapped_column(String(32))
    tripped_reason: Mapped[str | None] = mapped_column(Text)
    reset_at: Mapped[datetime | None]
    reset_by: Mapped[str | None] = mapped_column(String(ID))


GUARD_ROW = 1


class PayoutMinute(Base):
    """Points the payout guard approved automatically, per minute of approval.

    The guard's hourly window sums these (about sixty rows) plus the compensations of the one
    minute the window cuts through, instead of every compensation approved in the hour: with
    limits raised for a busy day that is tens of thousands of rows read on every payment.
    Written by :mod:`slamon.models.db.payout_minutes`, under the guard's lock.
    """

    __tablename__ = "payout_minutes"

    minute: Mapped[datetime] = mapped_column(primary_key=True)
    points: Mapped[int] = mapped_column(BigInteger)


class OperatorAction(Base):
    """The audit trail: one row per thing an operator did by hand (slamon.models.audit)."""

    __tablename__ = "operator_actions"
    __table_args__ = (Index(None, "compensation_id"), allowed("action", Action))

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(ID))  # a token's name or cli:<user>, never a token
    action: Mapped[Action] = mapped_column(StatusType(Action))
    compensation_id: Mapped[int | None] = mapped_column(Id)
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)


class LedgerEntry(Base):
    """The embedded points sink: one row per grant, unique by idempotency key."""

    __tablename__ = "points_ledger"
    __table_args__ = (UniqueConstraint("idempotency_key"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(2 * ID))
    account: Mapped[str] = mapped_column(String(ID))
    points: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    case_id: Mapped[str] = mapped_column(String(ID))
    kind: Mapped[str] = mapped_column(String(32))
    issued_at: Mapped[datetime]


class CaseFacts(Base):
    """What a compliance report counts of one case, kept beside it (one row per case).

    A projection of the case, its deadlines, breaches and compensations, rewritten from them by
    :func:`slamon.models.db.case_facts.refresh_case_facts` in every transaction that changes
    them (ingest, judgement, payment), under the case's lock. A report then reads one narrow
    row per case instead of joining four tables (benchmarks/bench_reports.py).
    """

    __tablename__ = "case_facts"
    __table_args__ = (
        Index(
            "ix_case_facts_opened_at",
            "opened_at",
            postgresql_where=MONITORED_PG,
            sqlite_where=MONITORED_SQLITE,
        ),
    )

    case_id: Mapped[str] = mapped_column(
        ForeignKey("cases.case_id", ondelete="CASCADE"), primary_key=True
    )
    opened_at: Mapped[datetime]
    monitored: Mapped[bool] = mapped_column(Boolean)
    policy_id: Mapped[str | None] = mapped_column(String(ID))
    merchant_id: Mapped[str] = mapped_column(String(ID))
    provider_id: Mapped[str | None] = mapped_column(String(ID))
    city: Mapped[str | None] = mapped_column(String(ID))
    category: Mapped[str] = mapped_column(String(ID))
    # 1 when the promise's deadline was judged (met or breached); kept: met, or its breach
    # contested by timely evidence. Integers, so that a report sums them.
    response_judged: Mapped[int] = mapped_column(Integer)
    response_kept: Mapped[int] = mapped_column(Integer)
    resolution_judged: Mapped[int] = mapped_column(Integer)
    resolution_kept: Mapped[int] = mapped_column(Integer)
    breaches_open: Mapped[int] = mapped_column(Integer)
    breaches_settled: Mapped[int] = mapped_column(Integer)
    breaches_contested: Mapped[int] = mapped_column(Integer)
    points_paid: Mapped[int] = mapped_column(Integer)  # compensations with an issue time
    response_seconds: Mapped[float | None] = mapped_column(Float)  # opened → first response
    resolution_seconds: Mapped[float | None] = mapped_column(Float)  # opened → resolution
