"""The compensation service: pay one breach's penalty in Tmall points, exactly once.

A compensation row is created pending by the sweeper, in the breach's transaction. This
service pays it through the points port and records the outcome:

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
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, Engine, select, update

from models.db import read_only
from models.locks import lock_cases
from models.tables import Breach, Compensation, OutboxMessage
from models.upsert import insert_new
from worker.points.backoff import backoff_delay
from worker.points.port import (
    IssueRequest,
    IssueResult,
    PointsIssuer,
    RejectedIssueError,
    RetryableIssueError,
)
from worker.runtime import Runtime

log = logging.getLogger("slamon.compensation")

# Celery countdowns stay a few minutes at most: a longer one outlives the broker's visibility
# timeout and runs twice; a compensation that needs longer is picked up again by the scheduler.
MAX_RETRY_DELAY = 300.0
DEFAULT_REDISPATCH_AFTER = timedelta(minutes=2)

Status = Literal["issued", "retry", "failed", "review", "skipped", "missing"]


@dataclass(frozen=True)
class CompensationOutcome:
    """What one attempt did; ``retry_in`` (seconds) is set when the caller should retry."""

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
    status: str
    attempts: int
    due_at: datetime


def compensate(
    engine: Engine,
    issuer: PointsIssuer,
    compensation_id: int,
    clock: Callable[[], datetime],
    redispatch_after: timedelta = DEFAULT_REDISPATCH_AFTER,
) -> CompensationOutcome:
    """Make one attempt at paying compensation ``compensation_id``.

    1. Load it; anything but ``pending`` (already issued, failed, cancelled) → ``skipped``.
    2. Ask the points port to pay, outside any transaction.
    3. Record the outcome (see the module docstring) in one transaction under the case's
       lock, the one ingest takes before it contests a breach.

    Core connections rather than ORM sessions: this runs once per payment, and the ORM's
    per-object bookkeeping would cost more than the statements themselves.
    """
    with read_only(engine).begin() as conn:  # a read: no write lock on SQLite
        row = conn.execute(
            select(
                Compensation.id, Compensation.breach_id, Compensation.case_id,
                Compensation.kind, Compensation.account, Compensation.points,
                Compensation.idempotency_key, Compensation.status, Compensation.attempts,
                Breach.due_at,
            )
            .join(Breach, Breach.id == Compensation.breach_id)
            .where(Compensation.id == compensation_id)
        ).one_or_none()
    if row is None:
        return CompensationOutcome(compensation_id, "missing", "no such compensation")
    owed = _Owed(**row._asdict())
    if owed.status != "pending":
        return CompensationOutcome(compensation_id, "skipped", f"already {owed.status}")
    request = IssueRequest(
        account=owed.account,
        points=owed.points,
        idempotency_key=owed.idempotency_key,
        reason=f"一键求助违约金: case {owed.case_id} {owed.kind} promise broken "
        f"(due {owed.due_at.isoformat()})",
        case_id=owed.case_id,
        kind=owed.kind,
    )
    try:
        result = issuer.issue(request)
    except RetryableIssueError as exc:
        return _record_retry(engine, owed, exc, clock(), redispatch_after)
    except RejectedIssueError as exc:
        return _record_failure(engine, owed, exc.reason, clock())
    return _record_issue(engine, owed, result, clock())


def _record_issue(
    engine: Engine, owed: _Owed, result: IssueResult, now: datetime
) -> CompensationOutcome:
    with engine.begin() as conn:
        lock_cases(conn, [owed.case_id])
        # "failed" too: an earlier refusal followed by a payment (an operator's retry racing a
        # late reply) still means the consumer was paid.
        issued = _conditional_update(
            conn, owed.id, ("pending", "failed"),
            status="issued", issued_at=now, reference=result.reference,
            attempts=Compensation.attempts + 1, next_attempt_at=None,
        )
        if issued:
            conn.execute(
                update(Breach)
                .where(Breach.id == owed.breach_id, Breach.status == "open")
                .values(status="settled")
            )
            _announce(conn, owed, "compensation.issued", now,
                      reference=result.reference, issued_at=now.isoformat())
            log.info("case %s: %s compensation %s issued, %d points to %s (%s)", owed.case_id,
                     owed.kind, owed.id, owed.points, owed.account, result.status)
            return CompensationOutcome(owed.id, "issued", result.status)
        # Late evidence cancelled it while the points were being paid: keep both facts.
        flagged = _conditional_update(
            conn, owed.id, ("cancelled",),
            status="review", issued_at=now, reference=result.reference,
            attempts=Compensation.attempts + 1, next_attempt_at=None,
            last_error=f"points were issued ({result.reference or result.status}) after the "
            "breach was contested and the compensation cancelled; review",
        )
        if flagged:
            _announce(conn, owed, "compensation.review", now, reference=result.reference)
            log.warning("case %s: %s compensation %s paid after it was cancelled; flagged for "
                        "review", owed.case_id, owed.kind, owed.id)
            return CompensationOutcome(owed.id, "review", "issued after cancellation")
    return CompensationOutcome(owed.id, "skipped", "already recorded by another attempt")


def _record_retry(
    engine: Engine,
    owed: _Owed,
    error: RetryableIssueError,
    now: datetime,
    redispatch_after: timedelta,
) -> CompensationOutcome:
    delay = retry_delay(owed.attempts + 1, error.retry_after)
    with engine.begin() as conn:
        # Dispatched again by the scheduler only if this retry is lost too.
        pending = _conditional_update(
            conn, owed.id, ("pending",),
            attempts=Compensation.attempts + 1, last_error=error.reason,
            next_attempt_at=now + timedelta(seconds=delay) + redispatch_after,
        )
    if not pending:
        return CompensationOutcome(owed.id, "skipped", "no longer pending")
    log.warning("case %s: %s compensation %s not issued yet (%s); retry in %.1f s",
                owed.case_id, owed.kind, owed.id, error.reason, delay)
    return CompensationOutcome(owed.id, "retry", error.reason, retry_in=delay)


def _record_failure(
    engine: Engine, owed: _Owed, reason: str, now: datetime
) -> CompensationOutcome:
    with engine.begin() as conn:
        failed = _conditional_update(
            conn, owed.id, ("pending",),
            status="failed", attempts=Compensation.attempts + 1, last_error=reason,
            next_attempt_at=None,
        )
        if failed:
            # The attempt number keeps the id stable per failure and distinct across retries.
            _announce(conn, owed, "compensation.failed", now, reason=reason,
                      suffix=f":{owed.attempts + 1}")
    if not failed:
        return CompensationOutcome(owed.id, "skipped", "no longer pending")
    log.error("case %s: %s compensation %s failed: %s", owed.case_id, owed.kind, owed.id, reason)
    return CompensationOutcome(owed.id, "failed", reason)


def _conditional_update(
    conn: Connection, compensation_id: int, statuses: tuple[str, ...], **values: Any
) -> bool:
    changed = conn.execute(
        update(Compensation)
        .where(Compensation.id == compensation_id, Compensation.status.in_(statuses))
        .values(**values)
        .returning(Compensation.id)
    ).first()
    return changed is not None


def _announce(
    conn: Connection, owed: _Owed, topic: str, now: datetime, suffix: str = "", **fields: Any
) -> None:
    message_id = f"{topic}:{owed.idempotency_key}{suffix}"
    payload = {
        "message_id": message_id,
        "case_id": owed.case_id,
        "kind": owed.kind,
        "compensation_id": owed.id,
        "account": owed.account,
        "points": owed.points,
        "idempotency_key": owed.idempotency_key,
        **fields,
    }
    conn.execute(
        insert_new(conn, OutboxMessage, ["message_id"]).values(
            message_id=message_id, topic=topic, case_id=owed.case_id, payload=payload,
            created_at=now, attempts=0,
        )
    )


_issuers: dict[tuple[int, int], PointsIssuer] = {}


def issuer_for(runtime: Runtime) -> PointsIssuer:
    """This process's points issuer for ``runtime``, built once (per process, after a fork)."""
    key = (os.getpid(), id(runtime))
    issuer = _issuers.get(key)
    if issuer is None:
        if runtime.issuer_factory is None:
            raise RuntimeError("the runtime has no points issuer; build it with slamon.bootstrap")
        issuer = _issuers[key] = runtime.issuer_factory(runtime.engine)
    return issuer
