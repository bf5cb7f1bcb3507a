"""Celery tasks: adapters that decode, call one service function, and map retryable errors.

Tasks are idempotent (the inbox dedupes, unique rows guard breaches and payments), which is
what makes ``acks_late`` safe: a message redelivered after a crash does nothing twice.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from celery import Task
from sqlalchemy.exc import InterfaceError, OperationalError

from slamon.worker import compensation, ingest, runtime
from slamon.worker.app import app

log = logging.getLogger("slamon.tasks")

# Database trouble (a restart, a lock timeout, a dropped connection) is worth waiting out; the
# message stays unacknowledged meanwhile, so nothing is lost even if the worker dies. Other
# database errors (a constraint, a bad value) would fail the same way on every retry.
RETRYABLE_DB_ERRORS = (OperationalError, InterfaceError)


@app.task(name="sla.ingest", bind=True, max_retries=None, acks_late=True)
def ingest_task(self: Task, body: Any) -> None:
    """Apply one message: an event, or a batch of events (a JSON list), as JSON text."""
    raw = body if isinstance(body, str) else _to_json(body)
    try:
        ingest.ingest_raw(runtime.current(), raw, source="queue")
    except RETRYABLE_DB_ERRORS as exc:
        delay = min(60, 2 ** min(self.request.retries, 6))
        log.warning(
            "ingest: database error, retry %s in %ss: %s", self.request.retries + 1, delay, exc
        )
        raise self.retry(exc=exc, countdown=delay) from exc
    except Exception as exc:
        # A bug must not cost an event: keep the message as a dead letter (replayable once
        # fixed) and ack it, rather than let Celery log the failure and drop the message.
        log.exception("ingest: unexpected error; dead-lettering the message")
        ingest.dead_letter(runtime.current(), raw, f"internal error: {exc!r}", "queue")


def _to_json(body: Any) -> str:
    try:
        return json.dumps(body, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(body)


@app.task(name="sla.compensate", bind=True, max_retries=None, acks_late=True)
def compensate_task(self: Task, compensation_id: int) -> None:
    """Pay one compensation; retry later (a few minutes at most) while the outcome is unknown."""
    rt = runtime.current()
    try:
        outcome = compensation.compensate(
            rt.engine, compensation.issuer_for(rt), int(compensation_id), rt.now,
            redispatch_after=rt.redispatch_after,
        )
    except RETRYABLE_DB_ERRORS as exc:
        # The outcome was not recorded; the points port is idempotent, so trying again is safe.
        delay = min(60, 2 ** min(self.request.retries, 6))
        log.warning("compensate %s: database error, retry in %ss: %s", compensation_id, delay, exc)
        raise self.retry(exc=exc, countdown=delay) from exc
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)


@app.task(name="sla.compensate_batch", bind=True, max_retries=None, acks_late=True)
def compensate_batch_task(self: Task, compensation_ids: list[int]) -> None:
    """Pay a chunk of compensations (as the scheduler dispatches them); each one still waiting
    for a retry goes on as its own ``sla.compensate`` task with its own countdown."""
    rt = runtime.current()
    try:
        outcomes = compensation.compensate_many(
            rt.engine, compensation.issuer_for(rt), [int(i) for i in compensation_ids], rt.now,
            redispatch_after=rt.redispatch_after,
        )
    except RETRYABLE_DB_ERRORS as exc:
        # Nothing of the failed step was recorded; paying again is safe (idempotency keys).
        delay = min(60, 2 ** min(self.request.retries, 6))
        log.warning("compensate batch: database error, retry in %ss: %s", delay, exc)
        raise self.retry(exc=exc, countdown=delay) from exc
    for outcome in outcomes:
        if outcome.retry_in is None:
            continue
        try:
            compensate_task.apply_async(args=[outcome.compensation_id], countdown=outcome.retry_in)
        except Exception as exc:  # broker gone: the scheduler dispatches it again later
            log.warning("compensation %s: retry not queued (%s); the scheduler will send it "
                        "again", outcome.compensation_id, exc)
