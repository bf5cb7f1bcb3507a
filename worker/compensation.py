"""The compensation service: pay breaches' penalties in Tmall points, exactly once.

A compensation row is created pending by the sweeper, in the breach's transaction. This
service asks the payout guard first (:mod:`slamon.worker.payout_guard`, in the transaction
that claims the payments: over a limit it is ``held`` for a person, never paid), pays the
rest through the points port and records the outcome:

* paid (``issued`` or ``already_issued``, i.e. HTTP 2xx or 409) → ``issued``; the breach
  becomes ``settled`` (no longer a 违背承诺 violation); outbox ``compensation.issued``;
* retryable (timeout, 5xx, database down) → stays ``pending`` with ``attempts``,
  ``last_error`` and ``next_attempt_at``; the caller retries after :func:`retry_delay`;
* refused (other 4xx) → ``failed`` with the reason; outbox ``compensation.failed``.

Exactly once: the points port is idempotent by key (``case_id:kind``), so paying again after
a lost reply, a redelivered task or a redispatch never pays twice. The remote call is made
outside any database transaction (it may hang until its timeout), so the row can change
meanwhile: late evidence may have cancelled it. Every outcome is therefore written with a
conditional UPDATE, and points paid for a compensation cancelled in the meantime are flagged
``review`` for an operator instead of being forgotten.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import Connection, Engine, bindparam, literal_column, select, update

from slamon.models.db.case_facts import refresh_case_facts
from slamon.models.db.locks import lock_cases
from slamon.models.db.tables import Breach, Compensation, OutboxMessage
from slamon.models.db.upsert import insert_new
from slamon.models.decisions import Decision, decision
from slamon.models.instants import as_read
from slamon.models.states import BREACH, COMPENSATION, BreachStatus, CompensationStatus
from slamon.worker import redelivery
from slamon.worker.payout_guard import (
    Candidate,
    GuardLimits,
    compensation_message,
    decide_payments,
    lock_guard,
)
from slamon.worker.points.backoff import backoff_delay
from slamon.worker.points.port import (
    IssueRequest,
    IssueResult,
    PointsError,
    PointsIssuer,
    RejectedIssueError,
    RetryableIssueError,
)

log = logging.getLogger("slamon.compensation")

# The longest wait between two attempts. Only a short one is a Celery countdown (one that fits
# the broker's visibility timeout, slamon.worker.redelivery); a longer one is kept in the
# database as ``next_attempt_at``, and the scheduler's redispatch claim sends it when it comes.
MAX_RETRY_DELAY = 300.0

Status = Literal["issued", "retry", "failed", "review", "held", "skipped", "missing"]


@dataclass(frozen=True)
class CompensationOutcome:
    """What one attempt did; ``retry_in`` (seconds) is set when the caller should retry with
    a countdown (a retry too far off for one has ``status`` "retry" and no ``retry_in``: the
    scheduler sends it)."""

    compensation_id: int
    status: Status
    detail: str
    retry_in: float | None = None


def retry_delay(
    attempts: int, retry_after: float | None = None, rng: Callable[[], float] = random.random
) -> float:
    """Seconds before retrying a compensation that has failed ``attempts`` times so far.

    Exponential backoff with full jitter (:func:`backoff_delay`), at least what the service
    asked for (``Retry-After``), and never more than :data:`MAX_RETRY_DELAY`.
    """
    backoff = backoff_delay(max(attempts - 1, 0), cap=MAX_RETRY_DELAY, rng=rng)
    return min(MAX_RETRY_DELAY, max(backoff, retry_after or 0.0))


@dataclass(frozen=True)
class _Owed:
    """The compensation as loaded, with the breach's due instant for the grant's reason."""

    id: int
    breach_id: int
    case_id: str
    kind: str
    account: str
    points: int
    idempotency_key: str
    status: CompensationStatus
    attempts: int
    due_at: datetime
    policy_id: str
    approved_at: datetime | None

    def candidate(self) -> Candidate:
        return Candidate(self.id, self.case_id, self.kind, self.account, self.points,
                         self.idempotency_key, self.policy_id, self.approved_at)


# Every payment runs these; built once, they are found in SQLAlchemy's compiled cache instead
# of being rebuilt and hashed again per call (the ORM-free hot path of the service).
_LOAD = (
    select(
        Compensation.id, Compensation.breach_id, Compensation.case_id, Compensation.kind,
        Compensation.account, Compensation.points, Compensation.idempotency_key,
        Compensation.status, Compensation.attempts, Breach.due_at, Breach.policy_id,
        Compensation.approved_at,
    )
    .join(Breach, Breach.id == Compensation.breach_id)
    .where(Compensation.id.in_(bindparam("ids", expanding=True)))
)
_LOCK = (
    select(Compensation.id, Compensation.status)
    .where(Compensation.id.in_(bindparam("ids", expanding=True)))
    .with_for_update()
)
# "failed" too: an earlier refusal followed by a payment (an operator's retry racing a late
# reply) still means the consumer was paid.
_PAYABLE = COMPENSATION.only_from(
    (CompensationStatus.PENDING, CompensationStatus.FAILED), CompensationStatus.ISSUED
)
_MARK_ISSUED = (
    update(Compensation)
    .where(
        Compensation.id == bindparam("compensation_id"),
        # Literals: an expanding IN parameter cannot be used with executemany.
        Compensation.status.in_([literal_column(f"'{s}'") for s in _PAYABLE]),
    )
    .values(
        status=CompensationStatus.ISSUED, issued_at=bindparam("when"),
        reference=bindparam("grant_reference"),
        attempts=Compensation.attempts + 1, next_attempt_at=None,
    )
)
_SETTLE = (
    update(Breach)
    .where(
        Breach.id.in_(bindparam("breach_ids", expanding=True)),
        Breach.status.in_(BREACH.only_from((BreachStatus.OPEN,), BreachStatus.SETTLED)),
    )
    .values(status=BreachStatus.SETTLED)
)


def compensate(
    engine: Engine,
    issuer: PointsIssuer,
    compensation_id: int,
    clock: Callable[[], datetime],
    redispatch_after: timedelta,
    limits: GuardLimits,
) -> CompensationOutcome:
    """Make one attempt at paying compensation ``compensation_id`` (see :func:`compensate_many`)."""
    return compensate_many(engine, issuer, [compensation_id], clock, redispatch_after, limits)[0]


def compensate_many(
    engine: Engine,
    issuer: PointsIssuer,
    compensation_ids: Sequence[int],
    clock: Callable[[], datetime],
    redispatch_after: timedelta,
    limits: GuardLimits,
) -> list[CompensationOutcome]:
    """Make one attempt at paying each compensation; one outcome per id, in order. One that
    waits for a retry is dispatched again by the scheduler ``redispatch_after`` past its
    retry's countdown, if that retry is lost too.

    1. Claim them in one transaction under the payout guard's lock: load them (an unknown id
       → ``missing``; anything but ``pending`` → ``skipped``) and let the guard decide each
       pending one against ``limits``; one over a limit becomes ``held`` (→ ``held``).
    2. Ask the points port to pay each approved one, outside any transaction (all at once
       when the adapter can: the ledger then commits the chunk once).
    3. Record the payments in one transaction under the cases' locks (the ones ingest takes
       before it contests a breach): mark ``issued`` those still payable, settle their
       breaches, announce them; one cancelled meanwhile is flagged ``review``.
    4. Record each retryable or refused one (the rare case) in a short transaction of its own.

    Core connections rather than ORM sessions, and one transaction per batch for the common
    outcome: this runs for every payment, and per-object bookkeeping or per-row commits would
    cost more than the points call to the local ledger itself.
    """
    outcomes: dict[int, CompensationOutcome] = {}
    payable: list[_Owed] = []
    with engine.begin() as conn:
        trip = lock_guard(conn)  # first: what is loaded next reflects every earlier decision
        rows = conn.execute(_LOAD, {"ids": list(compensation_ids)}).all()
        loaded = {row.id: _Owed(**row._asdict()) for row in rows}
        for compensation_id in dict.fromkeys(compensation_ids):
            owed = loaded.get(compensation_id)
            if owed is None:
                outcomes[compensation_id] = CompensationOutcome(
                    compensation_id, "missing", "no such compensation")
            elif owed.status != CompensationStatus.PENDING:
                outcomes[compensation_id] = CompensationOutcome(
                    compensation_id, "skipped", f"already {owed.status}")
            else:
                payable.append(owed)
        if payable:
            decisions = decide_payments(
                conn, trip, [o.candidate() for o in payable], limits, clock())
            for compensation_id, hold in decisions.held.items():
                outcomes[compensation_id] = CompensationOutcome(
                    compensation_id, "held", hold.reason)
            payable = [o for o in payable if o.id not in decisions.held]
    paid: list[tuple[_Owed, IssueResult]] = []
    for owed, result in zip(payable, _pay(issuer, [_request(o) for o in payable]), strict=True):
        if isinstance(result, IssueResult):
            paid.append((owed, result))
        elif isinstance(result, RejectedIssueError):
            outcomes[owed.id] = _record_failure(engine, owed, result.reason, clock())
        else:  # retryable, or an error the port does not classify: ask again later
            error = (result if isinstance(result, RetryableIssueError)
                     else RetryableIssueError(f"{type(result).__name__}: {result}"))
            outcomes[owed.id] = _record_retry(engine, owed, error, clock(), redispatch_after)
    if paid:
        outcomes.update(_record_paid(engine, paid, clock()))
    return [outcomes[compensation_id] for compensation_id in compensation_ids]


def _pay(issuer: PointsIssuer, requests: list[IssueRequest]) -> list[IssueResult | PointsError]:
    """Each request's result or error: through ``issue_many`` when the adapter has one (the
    ledger pays a whole chunk in one commit), else one call each, in order."""
    if not requests:
        return []
    issue_many = getattr(issuer, "issue_many", None)
    if issue_many is not None:
        return cast(list[IssueResult | PointsError], issue_many(requests))
    results: list[IssueResult | PointsError] = []
    for request in requests:
        try:
            results.append(issuer.issue(request))
        except PointsError as exc:
            results.append(exc)
    return results


def _request(owed: _Owed) -> IssueRequest:
    return IssueRequest(
        account=owed.account,
        points=owed.points,
        idempotency_key=owed.idempotency_key,
        reason=f"一键求助违约金: case {owed.case_id} {owed.kind} promise broken "
        f"(due {as_read(owed.due_at)})",
        case_id=owed.case_id,
        kind=owed.kind,
    )


def _record_paid(
    engine: Engine, paid: list[tuple[_Owed, IssueResult]], now: datetime
) -> dict[int, CompensationOutcome]:
    outcomes: dict[int, CompensationOutcome] = {}
    with engine.begin() as conn:
        lock_cases(conn, {owed.case_id for owed, _ in paid})
        # Rows locked and their status read now: the remote calls took time, and late
        # evidence may have cancelled some meanwhile.
        locked = conn.execute(_LOCK, {"ids": [owed.id for owed, _ in paid]})
        statuses: dict[int, CompensationStatus] = {row.id: row.status for row in locked}
        issued = [(o, r) for o, r in paid if statuses.get(o.id) in _PAYABLE]
        if issued:
            conn.execute(_MARK_ISSUED, [
                {"compensation_id": o.id, "when": now, "grant_reference": r.reference}
                for o, r in issued
            ])
            conn.execute(_SETTLE, {"breach_ids": [o.breach_id for o, _ in issued]})
            _announce(conn, [
                _message(o, "compensation.issued", now, reference=r.reference,
                         issued_at=now.isoformat())
                for o, r in issued
            ])
        for owed, result in issued:
            log.info("case %s: %s compensation %s issued, %d points to %s (%s)", owed.case_id,
                     owed.kind, owed.id, owed.points, owed.account, result.status,
                     extra=_decided(Decision.COMPENSATION_PAID, owed, points=owed.points))
            outcomes[owed.id] = CompensationOutcome(owed.id, "issued", result.status)
        for owed, result in paid:
            if owed.id in outcomes:
                continue
            if statuses.get(owed.id) == CompensationStatus.CANCELLED:
                outcomes[owed.id] = _flag_review(conn, owed, result, now)
            else:  # issued or flagged by a concurrent attempt at the same compensation
                outcomes[owed.id] = CompensationOutcome(
                    owed.id, "skipped", "already recorded by another attempt")
        # Points paid and breaches settled are what the reports count; still under the locks.
        refresh_case_facts(conn, {owed.case_id for owed, _ in paid})
    return outcomes


def _flag_review(
    conn: Connection, owed: _Owed, result: IssueResult, now: datetime
) -> CompensationOutcome:
    # Late evidence cancelled it while the points were being paid: keep both facts.
    _conditional_update(
        conn, owed.id,
        COMPENSATION.only_from((CompensationStatus.CANCELLED,), CompensationStatus.REVIEW),
        status=CompensationStatus.REVIEW, issued_at=now, reference=result.reference,
        attempts=Compensation.attempts + 1, next_attempt_at=None,
        last_error=f"points were issued ({result.reference or result.status}) after the "
        "breach was contested and the compensation cancelled; review",
    )
    _announce(conn, [_message(owed, "compensation.review", now, reference=result.reference)])
    log.warning("case %s: %s compensation %s paid after it was cancelled; flagged for review",
                owed.case_id, owed.kind, owed.id,
                extra=_decided(Decision.COMPENSATION_REVIEW, owed, points=owed.points))
    return CompensationOutcome(owed.id, "review", "issued after cancellation")


def _record_retry(
    engine: Engine,
    owed: _Owed,
    error: RetryableIssueError,
    now: datetime,
    redispatch_after: timedelta,
) -> CompensationOutcome:
    delay = retry_delay(owed.attempts + 1, error.retry_after)
    countdown = redelivery.fits(delay)
    # A countdown retry is dispatched again by the scheduler only if it is lost too; a longer
    # wait is the scheduler's to send, once, when next_attempt_at comes (no task waits on it).
    next_attempt_at = now + timedelta(seconds=delay) + (redispatch_after if countdown
                                                         else timedelta(0))
    with engine.begin() as conn:
        pending = _conditional_update(
            conn, owed.id, (CompensationStatus.PENDING,),
            attempts=Compensation.attempts + 1, last_error=error.reason,
            next_attempt_at=next_attempt_at,
        )
    if not pending:
        return CompensationOutcome(owed.id, "skipped", "no longer pending")
    log.warning("case %s: %s compensation %s not issued yet (%s); retry in %.1f s%s",
                owed.case_id, owed.kind, owed.id, error.reason, delay,
                "" if countdown else " (the scheduler sends it)",
                extra=_decided(Decision.COMPENSATION_RETRY, owed, retry_in_seconds=delay))
    return CompensationOutcome(owed.id, "retry", error.reason,
                               retry_in=delay if countdown else None)


def _record_failure(
    engine: Engine, owed: _Owed, reason: str, now: datetime
) -> CompensationOutcome:
    with engine.begin() as conn:
        failed = _conditional_update(
            conn, owed.id,
            COMPENSATION.only_from((CompensationStatus.PENDING,), CompensationStatus.FAILED),
            status=CompensationStatus.FAILED, attempts=Compensation.attempts + 1, last_error=reason,
            next_attempt_at=None,
        )
        if failed:
            # The attempt number keeps the id stable per failure and distinct across retries.
            _announce(conn, [_message(owed, "compensation.failed", now,
                                      suffix=f":{owed.attempts + 1}", reason=reason)])
    if not failed:
        return CompensationOutcome(owed.id, "skipped", "no longer pending")
    log.error("case %s: %s compensation %s failed: %s", owed.case_id, owed.kind, owed.id, reason,
              extra=_decided(Decision.COMPENSATION_FAILED, owed))
    return CompensationOutcome(owed.id, "failed", reason)


def _decided(name: Decision, owed: _Owed, **more: Any) -> dict[str, dict[str, Any]]:
    return decision(name, case_id=owed.case_id, kind=owed.kind, breach_id=owed.breach_id,
                    compensation_id=owed.id, **more)


def _conditional_update(
    conn: Connection,
    compensation_id: int,
    statuses: tuple[CompensationStatus, ...],
    **values: Any,
) -> bool:
    changed = conn.execute(
        update(Compensation)
        .where(Compensation.id == compensation_id, Compensation.status.in_(statuses))
        .values(**values)
        .returning(Compensation.id)
    ).first()
    return changed is not None


def _message(
    owed: _Owed, topic: str, now: datetime, suffix: str = "", **fields: Any
) -> dict[str, Any]:
    return compensation_message(owed.candidate(), topic, now, suffix, **fields)


def _announce(conn: Connection, messages: list[dict[str, Any]]) -> None:
    conn.execute(insert_new(conn, OutboxMessage, ["message_id"]), messages)

