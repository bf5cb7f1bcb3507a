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

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from models.db import transaction
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
    """
    with transaction(engine) as session:
        row = session.execute(
            select(Compensation, Breach.due_at)
            .join(Breach, Breach.id == Compensation.breach_id)
            .where(Compensation.id == compensation_id)
        ).one_or_none()
    if row is None:
        return CompensationOutcome(compensation_id, "missing", "no such compensation")
    comp: Compensation = row[0]
    if comp.status != "pending":
        return CompensationOutcome(compensation_id, "skipped", f"already {comp.status}")
    request = IssueRequest(
        account=comp.account,
        points=comp.points,
        idempotency_key=comp.idempotency_key,
        reason=f"一键求助违约金: case {comp.case_id} {comp.kind} promise broken "
        f"(due {row[1].isoformat()})",
        case_id=comp.case_id,
        kind=comp.kind,
    )
    try:
        result = issuer.issue(request)
    except RetryableIssueError as exc:
        return _record_retry(engine, comp, exc, clock(), redispatch_after)
    except RejectedIssueError as exc:
        return _record_failure(engine, comp, exc.reason, clock())
    return _record_issue(engine, comp, result, clock())


def _record_issue(
    engine: Engine, comp: Compensation, result: IssueResult, now: datetime
) -> CompensationOutcome:
    with transaction(engine) as session:
        lock_cases(session, [comp.case_id])
        # "failed" too: an earlier refusal followed by a payment (an operator's retry racing a
        # late reply) still means the consumer was paid.
        issued = _conditional_update(
            session, comp.id, ("pending", "failed"),
            status="issued", issued_at=now, reference=result.reference,
            attempts=Compensation.attempts + 1, next_attempt_at=None,
        )
        if issued:
            session.execute(
                update(Breach)
                .where(Breach.id == comp.breach_id, Breach.status == "open")
                .values(status="settled")
            )
            _announce(session, comp, "compensation.issued", now,
                      reference=result.reference, issued_at=now.isoformat())
            log.info("case %s: %s compensation %s issued, %d points to %s (%s)", comp.case_id,
                     comp.kind, comp.id, comp.points, comp.account, result.status)
            return CompensationOutcome(comp.id, "issued", result.status)
        # Late evidence cancelled it while the points were being paid: keep both facts.
        flagged = _conditional_update(
            session, comp.id, ("cancelled",),
            status="review", issued_at=now, reference=result.reference,
            attempts=Compensation.attempts + 1, next_attempt_at=None,
            last_error=f"points were issued ({result.reference or result.status}) after the "
            "breach was contested and the compensation cancelled; review",
        )
        if flagged:
            _announce(session, comp, "compensation.review", now, reference=result.reference)
            log.warning("case %s: %s compensation %s paid after it was cancelled; flagged for "
                        "review", comp.case_id, comp.kind, comp.id)
            return CompensationOutcome(comp.id, "review", "issued after cancellation")
    return CompensationOutcome(comp.id, "skipped", "already recorded by another attempt")


def _record_retry(
    engine: Engine,
    comp: Compensation,
    error: RetryableIssueError,
    now: datetime,
    redispatch_after: timedelta,
) -> CompensationOutcome:
    delay = retry_delay(comp.attempts + 1, error.retry_after)
    with transaction(engine) as session:
        # Dispatched again by the scheduler only if this retry is lost too.
        pending = _conditional_update(
            session, comp.id, ("pending",),
            attempts=Compensation.attempts + 1, last_error=error.reason,
            next_attempt_at=now + timedelta(seconds=delay) + redispatch_after,
        )
    if not pending:
        return CompensationOutcome(comp.id, "skipped", "no longer pending")
    log.warning("case %s: %s compensation %s not issued yet (%s); retry in %.1f s",
                comp.case_id, comp.kind, comp.id, error.reason, delay)
    return CompensationOutcome(comp.id, "retry", error.reason, retry_in=delay)


def _record_failure(
    engine: Engine, comp: Compensation, reason: str, now: datetime
) -> CompensationOutcome:
    with transaction(engine) as session:
        failed = _conditional_update(
            session, comp.id, ("pending",),
            status="failed", attempts=Compensation.attempts + 1, last_error=reason,
            next_attempt_at=None,
        )
        if failed:
            # The attempt number keeps the id stable per failure and distinct across retries.
            _announce(session, comp, "compensation.failed", now, reason=reason,
                      suffix=f":{comp.attempts + 1}")
    if not failed:
        return CompensationOutcome(comp.id, "skipped", "no longer pending")
    log.error("case %s: %s compensation %s failed: %s", comp.case_id, comp.kind, comp.id, reason)
    return CompensationOutcome(comp.id, "failed", reason)


def _conditional_update(
    session: Session, compensation_id: int, statuses: tuple[str, ...], **values: Any
) -> bool:
    changed = session.scalars(
        update(Compensation)
        .where(Compensation.id == compensation_id, Compensation.status.in_(statuses))
        .values(**values)
        .returning(Compensation.id),
        execution_options={"synchronize_session": False},
    ).all()
    return bool(changed)


def _announce(
    session: Session, comp: Compensation, topic: str, now: datetime, suffix: str = "",
    **fields: Any,
) -> None:
    message_id = f"{topic}:{comp.idempotency_key}{suffix}"
    payload = {
        "message_id": message_id,
        "case_id": comp.case_id,
        "kind": comp.kind,
        "compensation_id": comp.id,
        "account": comp.account,
        "points": comp.points,
        "idempotency_key": comp.idempotency_key,
        **fields,
    }
    session.execute(
        insert_new(session, OutboxMessage, ["message_id"]),
        [{"message_id": message_id, "topic": topic, "case_id": comp.case_id,
          "payload": payload, "created_at": now, "attempts": 0}],
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
