"""The timed phases of the ingest benchmark, each against a running worker process.

Every phase starts its clock at the first publish and stops it when the work is done, seen
from outside the worker: for a worker that acknowledges late (ours, and the production no-op)
when its queue and kombu's set of unacknowledged messages are both empty, which means every
message's task ran and committed; for early-acknowledging workers (the plain no-op, the naive
peer) when the worker's own count of tasks run, or the database, says so. The database is
then checked: a phase that did not do its work fails instead of reporting a rate.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from celery import Celery
from sqlalchemy import Engine, exists, func, select

from benchmarks.bench_workers import RoleWorker
from benchmarks.ingest_workload import MixedStream, batches, check_mixed, opened_events
from benchmarks.naive import NAIVE_INGEST, NAIVE_QUEUE, NAIVE_TIMERS
from benchmarks.noop import NOOP_QUEUE, NOOP_TASK
from slamon.models.db.tables import Case, Deadline, InboxEvent
from slamon.models.states import InboxOutcome
from slamon.sdk import Producer
from slamon.worker.app import EVENTS_QUEUE

POLL = 0.1  # seconds between looks at the broker or the database


@dataclass(frozen=True)
class Phase:
    """One timed phase: ``items`` tasks or events done in ``seconds``."""

    items: int
    seconds: float
    publish_seconds: float

    @property
    def rate(self) -> float:
        return self.items / self.seconds


def wait_until(
    done: Callable[[], bool], progress: Callable[[], int], worker: RoleWorker, stall: float
) -> None:
    """Poll ``done``; fail if the worker dies or ``progress`` stands still for ``stall`` s."""
    last, since = progress(), time.monotonic()
    while not done():
        time.sleep(POLL)
        worker.check_alive()
        moved = progress()
        if moved != last:
            last, since = moved, time.monotonic()
        elif time.monotonic() - since > stall:
            raise RuntimeError(f"{worker.node}: no progress for {stall:g} s\n{worker.tail()}")


def pending(broker: redis.Redis[bytes], queue: str) -> int:
    """Messages of ``queue`` not yet acknowledged: queued, or delivered and unacknowledged
    (kombu's Redis transport keeps those in the ``unacked`` hash, every queue together)."""
    pipe = broker.pipeline()
    pipe.llen(queue)
    pipe.hlen("unacked")
    queued, unacked = pipe.execute()
    return int(queued) + int(unacked)


def wait_drained(
    broker: redis.Redis[bytes], worker: RoleWorker, stall: float, complete: Callable[[], bool]
) -> None:
    """Until ``sla.events`` has nothing left unacknowledged and ``complete`` agrees (kombu
    moves a message into the unacknowledged set just after taking it off the queue, so an
    empty broker alone could be seen for an instant before the last message ran)."""
    wait_until(lambda: pending(broker, EVENTS_QUEUE) == 0 and complete(),
               lambda: -pending(broker, EVENTS_QUEUE), worker, stall)


def _passes(check: Callable[..., None], *args: object) -> bool:
    try:
        check(*args)
    except RuntimeError:
        return False
    return True


def time_noop(
    broker: redis.Redis[bytes], sender: Celery, worker: RoleWorker, tasks: int, stall: float
) -> Phase:
    """One message per no-op task, until every one was acknowledged and counted as run."""
    before = worker.tasks_done(NOOP_TASK)
    started = time.perf_counter()
    for _ in range(tasks):
        sender.send_task(NOOP_TASK, queue=NOOP_QUEUE)
    published = time.perf_counter() - started

    def ran() -> int:
        return worker.tasks_done(NOOP_TASK) - before

    wait_until(lambda: pending(broker, NOOP_QUEUE) == 0, lambda: -pending(broker, NOOP_QUEUE),
               worker, stall)
    # An early-acknowledging worker acknowledges a task when it starts it.
    wait_until(lambda: ran() >= tasks, ran, worker, stall)
    elapsed = time.perf_counter() - started
    if ran() != tasks:
        raise RuntimeError(f"the no-op worker ran {ran()} tasks, expected {tasks}")
    return Phase(tasks, elapsed, published)


def time_ingest(
    engine: Engine,
    broker: redis.Redis[bytes],
    publisher: Producer,
    worker: RoleWorker,
    prefix: str,
    events: int,
    batch: int,
    stall: float,
    now: datetime | None = None,
) -> Phase:
    """SDK batches of ``help.opened``, until every message was processed; then every event
    must be applied and every case monitored with its deadlines."""
    now = now or datetime.now(UTC)
    started = time.perf_counter()
    for chunk in batches(opened_events(prefix, events, now), batch):
        publisher.publish_many(chunk)
    published = time.perf_counter() - started
    wait_drained(broker, worker, stall, lambda: _passes(check_ingested, engine, prefix, events))
    elapsed = time.perf_counter() - started
    check_ingested(engine, prefix, events)
    return Phase(events, elapsed, published)


def time_mixed(
    engine: Engine,
    broker: redis.Redis[bytes],
    publisher: Producer,
    worker: RoleWorker,
    stream: MixedStream,
    stall: float,
) -> Phase:
    """The mixed stream's messages through the SDK, until every one was processed; then the
    database must hold the stream's exact end state."""
    started = time.perf_counter()
    for message in stream.messages:
        publisher.publish_many(message)
    published = time.perf_counter() - started
    wait_drained(broker, worker, stall, lambda: _passes(check_mixed, engine, stream))
    elapsed = time.perf_counter() - started
    check_mixed(engine, stream)
    return Phase(stream.events, elapsed, published)


def time_naive(
    engine: Engine,
    broker: redis.Redis[bytes],
    sender: Celery,
    worker: RoleWorker,
    prefix: str,
    events: int,
    stall: float,
) -> Phase:
    """One message per opening to the naive peer, until every case and every countdown
    message is stored; then the same check as ours."""
    now = datetime.now(UTC)
    timers_before = int(broker.llen(NAIVE_TIMERS))
    started = time.perf_counter()
    for event in opened_events(prefix, events, now):
        sender.send_task(NAIVE_INGEST, args=[event], queue=NAIVE_QUEUE)
    published = time.perf_counter() - started

    def stored() -> int:
        with engine.connect() as conn:
            return int(conn.scalar(
                select(func.count()).where(Case.case_id.startswith(f"{prefix}-"))) or 0)

    wait_until(lambda: stored() >= events, stored, worker, stall)
    with engine.connect() as conn:
        deadlines = int(conn.scalar(
            select(func.count()).where(Deadline.case_id.startswith(f"{prefix}-"))) or 0)

    def timers() -> int:
        return int(broker.llen(NAIVE_TIMERS)) - timers_before

    wait_until(lambda: timers() >= deadlines, timers, worker, stall)
    elapsed = time.perf_counter() - started
    check_ingested(engine, prefix, events)
    return Phase(events, elapsed, published)


def check_ingested(engine: Engine, prefix: str, events: int) -> None:
    """Every event of the run applied; every case monitored and with deadlines."""
    like = f"{prefix}-%"
    has_deadline = exists().where(Deadline.case_id == Case.case_id)
    with engine.connect() as conn:
        rows = conn.execute(
            select(InboxEvent.outcome, func.count())
            .where(InboxEvent.event_id.like(like))
            .group_by(InboxEvent.outcome)
        )
        outcomes = {outcome: n for outcome, n in rows}
        good = conn.scalar(
            select(func.count()).where(Case.case_id.like(like), Case.monitored, has_deadline)
        )
    if outcomes != {InboxOutcome.APPLIED: events} or good != events:
        raise RuntimeError(
            f"ingest went wrong: event outcomes {outcomes}; {good} of {events} cases "
            "monitored with deadlines"
        )
