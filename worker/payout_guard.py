"""The payout guard at payment time: decided in the transaction that claims the payments.

The rules are :mod:`slamon.models.payout`; this module gives them the facts, atomically:

1. Lock the guard's one row (``payout_guard``, ``FOR UPDATE`` on Postgres; on SQLite the
   writer's ``BEGIN IMMEDIATE`` already serialises). Every worker deciding a payment waits
   here for the one before it to commit, so each reads the windows *after* the other's
   approvals: concurrent workers cannot together pass a limit.
2. Read the windows: points approved automatically in the last hour (per-minute sums,
   :mod:`slamon.models.db.payout_minutes`), and penalties approved in the last 24 hours per
   buyer account of this batch (index on ``account, approved_at``); and the guard's trip.
3. Decide each compensation not decided yet, in id order (:func:`slamon.models.payout.decide`).
   One approved before (a retry, a redispatch, an operator's release) passes without being
   counted again.
4. Write the decisions in the same transaction: ``approved_at`` on the approved ones (and
   their points in their minute's sum); the held
   ones become ``held`` with the limit and the reason, each announced as ``compensation.held``;
   a trip is stored on the guard's row. The caller pays the approved ones after the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from slamon.models.announcements import outbox_row
from slamon.models.db.payout_minutes import (
    add_automatic_approvals,
    points_approved_automatically_after,
)
from slamon.models.db.tables import GUARD_ROW, Compensation, OutboxMessage, PayoutGuard
from slamon.models.db.upsert import insert_new
from slamon.models.decisions import Decision, decision
from slamon.models.payout import (
    DAY,
    HOUR,
    Hold,
    Limit,
    PayoutLimits,
    PayoutWindow,
    PolicyPayout,
    Trip,
    decide,
)
from slamon.models.states import COMPENSATION, CompensationStatus

log = logging.getLogger("slamon.payout_guard")

HELD_TOPIC = "compensation.held"
_TO_HELD = COMPENSATION.only_from((CompensationStatus.PENDING,), CompensationStatus.HELD)


@dataclass(frozen=True)
class GuardLimits:
    """The limits in force: the settings', with each policy's own ``[payout]`` ones."""

    base: PayoutLimits
    by_policy: tuple[tuple[str, PolicyPayout], ...] = ()

    def for_policy(self, policy_id: str) -> PayoutLimits:
        return self.base.for_policy(dict(self.by_policy).get(policy_id))


@dataclass(frozen=True)
class Candidate:
    """A pending compensation about to be paid, as the guard needs it."""

    id: int
    case_id: str
    kind: str
    account: str
    points: int
    idempotency_key: str
    policy_id: str
    approved_at: datetime | None


@dataclass(frozen=True)
class Decisions:
    approved: list[int]  # to pay now, in the order given
    held: dict[int, Hold]


def lock_guard(conn: Connection) -> Trip | None:
    """Take the guard's lock for this transaction (step 1); its trip, if tripped."""
    query = (
        select(PayoutGuard.tripped_at, PayoutGuard.tripped_limit, PayoutGuard.tripped_reason)
        .where(PayoutGuard.id == GUARD_ROW)
        .with_for_update()
    )
    row = conn.execute(query).first()
    if row is None:  # a schema made without the migrations: create the row, then lock it
        conn.execute(insert_new(conn, PayoutGuard, ["id"]), [{"id": GUARD_ROW}])
        row = conn.execute(query).one()
    if row.tripped_at is None:
        return None
    return Trip(row.tripped_at, Limit(row.tripped_limit), row.tripped_reason or "")


def decide_payments(
    conn: Connection,
    trip: Trip | None,
    candidates: Sequence[Candidate],
    limits: GuardLimits,
    now: datetime,
) -> Decisions:
    """Steps 2-4 for ``candidates`` (pending), under the lock :func:`lock_guard` took."""
    undecided = sorted((c for c in candidates if c.approved_at is None), key=lambda c: c.id)
    held: dict[int, Hold] = {}
    if undecided:
        window = _window(conn, {c.account for c in undecided}, now, trip)
        approved_now = []
        for candidate in undecided:
            hold = decide(
                window, candidate.account, candidate.points,
                limits.for_policy(candidate.policy_id), now,
            )
            if hold is None:
                approved_now.append(candidate.id)
            else:
                held[candidate.id] = hold
        _record(conn, undecided, approved_now, held, now)
        if window.trip is not None and trip is None:
            _trip(conn, window.trip)
    return Decisions([c.id for c in candidates if c.id not in held], held)


def _window(conn: Connection, accounts: set[str], now: datetime, trip: Trip | None) -> PayoutWindow:
    automatic = Compensation.released_by.is_(None)  # a person's release is not the guard's
    points = points_approved_automatically_after(conn, now - HOUR)
    per_account = conn.execute(
        select(Compensation.account, func.count())
        .where(
            Compensation.account.in_(sorted(accounts)),
            Compensation.approved_at > now - DAY,
            automatic,
        )
        .group_by(Compensation.account)
    )
    return PayoutWindow(int(points), {account: int(n) for account, n in per_account}, trip)


_APPROVE = (
    update(Compensation)
    .where(
        Compensation.id.in_(bindparam("ids", expanding=True)),
        Compensation.status == CompensationStatus.PENDING,
    )
    .values(approved_at=bindparam("now"))
    .returning(Compensation.points)
)


def _record(
    conn: Connection,
    undecided: Sequence[Candidate],
    approved: list[int],
    held: dict[int, Hold],
    now: datetime,
) -> None:
    if approved:
        # The points of the rows really approved (one cancelled since it was loaded is not).
        points = conn.execute(_APPROVE, {"ids": approved, "now": now}).scalars().all()
        add_automatic_approvals(conn, sum(points), now)
    if not held:
        return
    for candidate in undecided:
        hold = held.get(candidate.id)
        if hold is None:
            continue
        # Conditional: late evidence may have cancelled it since it was loaded.
        changed = conn.execute(
            update(Compensation)
            .where(Compensation.id == candidate.id, Compensation.status.in_(_TO_HELD))
            .values(
                status=CompensationStatus.HELD, held_at=now, hold_limit=hold.limit,
                hold_reason=hold.reason, next_attempt_at=None,
            )
            .returning(Compensation.id)
        ).first()
        if changed is None:
            continue
        conn.execute(insert_new(conn, OutboxMessage, ["message_id"]), [_held_message(
            candidate, hold, now)])
        log.warning("case %s: %s compensation %s of %d points to %s held by the payout guard "
                    "(%s): %s", candidate.case_id, candidate.kind, candidate.id,
                    candidate.points, candidate.account, hold.limit, hold.reason,
                    extra=decision(Decision.COMPENSATION_HELD, case_id=candidate.case_id,
                                   kind=candidate.kind, compensation_id=candidate.id,
                                   points=candidate.points, limit=str(hold.limit)))


def _trip(conn: Connection, trip: Trip) -> None:
    conn.execute(
        update(PayoutGuard)
        .where(PayoutGuard.id == GUARD_ROW)
        .values(tripped_at=trip.at, tripped_limit=trip.limit, tripped_reason=trip.reason)
    )
    log.error("payout guard tripped (%s): %s; every compensation is held until an operator "
              "resets it (slamon guard reset)", trip.limit, trip.reason)


def _held_message(candidate: Candidate, hold: Hold, now: datetime) -> dict[str, Any]:
    return compensation_message(
        candidate, HELD_TOPIC, now, limit=str(hold.limit), limit_value=hold.value,
        reason=hold.reason, held_at=now.isoformat(),
    )


def compensation_message(
    candidate: Candidate, topic: str, now: datetime, suffix: str = "", **fields: Any
) -> dict[str, Any]:
    """The outbox row announcing something of a compensation (held, issued, failed, …)."""
    return outbox_row(
        topic,
        f"{candidate.idempotency_key}{suffix}",
        candidate.case_id,
        now,
        kind=candidate.kind,
        compensation_id=candidate.id,
        account=candidate.account,
        points=candidate.points,
        idempotency_key=candidate.idempotency_key,
        **fields,
    )
