"""Celery tasks: adapters that decode, call one service function, and leave retries to
:class:`slamon.worker.task_base.SlamonTask` (transient database errors, capped backoff).

Tasks are idempotent (the inbox dedupes, unique rows guard breaches and payments), which is
what makes ``acks_late`` safe: a message redelivered after a crash does nothing twice.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import redis
from celery import Task
from celery.exceptions import Reject

from slamon.models.dead_letter_causes import Cause
from slamon.worker import compensation, ingest, ingest_watermark, runtime
from slamon.worker.app import app
from slamon.worker.task_base import TRANSIENT_DATABASE_ERRORS, SlamonTask

log = logging.getLogger("slamon.tasks")

REQUEUE_PAUSE_SECONDS = 1.0


@app.task(name="sla.ingest", base=SlamonTask, bind=True)
def ingest_task(self: Task, body: Any) -> None:
    """Apply one message: an event, or a batch of events (a JSON list), as JSON text; then
    take it off the ingest watermark's ledger (:mod:`slamon.worker.ingest_watermark`)."""
    raw = body if isinstance(body, str) else _to_json(body)
    try:
        ingest.ingest_raw(runtime.current(), raw, source="queue")
    except TRANSIENT_DATABASE_ERRORS:
        raise  # waited out: SlamonTask retries the message, which stays unapplied
    except Exception as exc:
        # A bug must not cost an event: keep the message as a dead letter (replayable once
        # fixed) and ack it, rather than let Celery log the failure and drop the message.
        log.exception("ingest: unexpected error; dead-lettering the message")
        try:
            ingest.dead_letter(
                runtime.current(), raw, f"internal error: {exc!r}", Cause.INTERNAL_ERROR, "queue"
            )
        except Exception as lost:
            # Not even a dead letter: acknowledging now would lose the message. Reject it back
            # onto the queue (after a pause, not to spin on a database that is away).
            log.exception("ingest: the dead letter could not be written; requeueing")
            time.sleep(REQUEUE_PAUSE_SECONDS)
            raise Reject(lost, requeue=True) from lost
    _applied(self)


def _applied(task: Task) -> None:
    """Off the ledger, once committed. If the broker does not answer, run the message again
    (the inbox makes that a no-op) rather than leave an entry that would hold judgement."""
    try:
        ingest_watermark.forget(task.app.conf.broker_url, task.request.id)
    except redis.RedisError as exc:
        raise task.retry(exc=exc, countdown=1) from exc


def _to_json(body: Any) -> str:
    try:
        return json.dumps(body, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(body)


@app.task(name="sla.compensate", base=SlamonTask, bind=True)
def compensate_task(self: Task, compensation_id: int) -> None:
    """Pay one compensation; retry later (a few minutes at most) while the outcome is unknown.

    A transient database error is retried by SlamonTask: the outcome was not recorded, and the
    points port is idempotent, so paying again is safe."""
    rt = runtime.current()
    outcome = compensation.compensate(
        rt.engine, rt.issuer(), int(compensation_id), rt.now, rt.redispatch_after,
        rt.payout_limits,
    )
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)


@app.task(name="sla.compensate_batch", base=SlamonTask)
def compensate_batch_task(compensation_ids: list[int]) -> None:
    """Pay a chunk of compensations (as the scheduler dispatches them); each one still waiting
    for a retry goes on as its own ``sla.compensate`` task with its own countdown. A transient
    database error retries the chunk (SlamonTask): nothing of the failed step was recorded,
    and paying again is safe (idempotency keys)."""
    rt = runtime.current()
    outcomes = compensation.compensate_many(
        rt.engine, rt.issuer(), [int(i) for i in compensation_ids], rt.now,
        rt.redispatch_after, rt.payout_limits,
    )
    for outcome in outcomes:
        if outcome.retry_in is None:
            continue
        try:
            compensate_task.apply_async(args=[outcome.compensation_id], countdown=outcome.retry_in)
        except Exception as exc:  # broker gone: the scheduler dispatches it again later
            log.warning("compensation %s: retry not queued (%s); the scheduler will send it "
                        "again", outcome.compensation_id, exc)
