"""One scheduler step: catch-up sweeps, dispatch after commit, at-risk, redispatch, relay; a
broken broker or a failing sub-step does not stop the rest."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select

from slamon.models.db.engine import transaction
from slamon.models.db.tables import Breach, Compensation
from slamon.scheduler.loop import LoopConfig, SchedulerLoop
from tests.support.seed import SeedDeadline, seed_cases

DUE = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
CONFIG = LoopConfig(claimer="loop-1", batch=10, lease=timedelta(seconds=60),
                    redispatch_after=timedelta(minutes=2), dispatch_chunk=4)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def pending_in_db(engine: Engine) -> set[int]:
    with transaction(engine) as session:
        return set(session.scalars(select(Compensation.id).where(Compensation.status == "pending")))


def test_a_step_catches_up_a_backlog_and_dispatches_after_commit(engine: Engine) -> None:
    seed_cases(engine, 35, DUE)
    seed_cases(engine, 4, DUE, (SeedDeadline(due_in=timedelta(minutes=10)),), prefix="R")
    dispatched: list[int] = []

    def dispatch(compensation_ids: Sequence[int]) -> None:
        # Dispatch only after the transaction that created the compensations has committed.
        assert set(compensation_ids) <= pending_in_db(engine)
        assert 0 < len(compensation_ids) <= CONFIG.dispatch_chunk
        dispatched.extend(compensation_ids)

    relayed: list[int] = []
    loop = SchedulerLoop(engine, CONFIG, Clock(DUE + timedelta(minutes=5)), dispatch,
                         relay=lambda: relayed.append(1) or 0)
    report = loop.step()
    assert (report.judged, report.breached, report.dispatched) == (35, 35, 35)
    assert report.at_risk == 4  # the R cases: 5 min before due, inside their 15 min window
    assert sorted(dispatched) == sorted(pending_in_db(engine)) and len(relayed) == 1
    assert report.errors == []
    assert loop.step().judged == 0


def test_a_broker_outage_leaves_compensations_for_redispatch(engine: Engine) -> None:
    seed_cases(engine, 5, DUE)
    calls: list[Sequence[int]] = []

    def broker_down(compensation_ids: Sequence[int]) -> None:
        calls.append(compensation_ids)
        raise ConnectionError("redis: connection refused")

    clock = Clock(DUE + timedelta(minutes=5))
    report = SchedulerLoop(engine, CONFIG, clock, broker_down).step()
    assert report.breached == 5 and report.dispatched == 0
    assert len(calls) == 1  # gave up at the first failure instead of waiting out each one

    sent: list[int] = []
    loop = SchedulerLoop(engine, CONFIG, clock, sent.extend)
    assert loop.step().redispatched == 0  # not before redispatch_after
    clock.now += CONFIG.redispatch_after
    assert loop.step().redispatched == 5
    assert sorted(sent) == sorted(pending_in_db(engine))


def test_a_failing_sub_step_is_reported_and_the_others_still_run(engine: Engine) -> None:
    seed_cases(engine, 3, DUE)

    def relay() -> int:
        raise RuntimeError("stream unavailable")

    sent: list[int] = []
    report = SchedulerLoop(engine, CONFIG, Clock(DUE + timedelta(minutes=5)), sent.extend,
                           relay).step()
    assert report.breached == 3 and len(sent) == 3
    assert report.errors == ["relay: stream unavailable"]


def test_run_stops_when_asked_after_finishing_its_step(engine: Engine) -> None:
    seed_cases(engine, 3, DUE)
    stop = threading.Event()
    loop = SchedulerLoop(engine, CONFIG, lambda: datetime.now(UTC), lambda _ids: stop.set())
    runner = threading.Thread(target=loop.run, args=(stop, 0.05))
    runner.start()
    runner.join(timeout=30)
    assert not runner.is_alive()
    with transaction(engine) as session:
        # The step that dispatched (and so set stop) still finished recording all breaches.
        assert session.scalar(select(func.count()).select_from(Breach)) == 3


def test_while_tasks_are_queued_only_long_overdue_compensations_are_sent_again(
    engine: Engine,
) -> None:
    seed_cases(engine, 2, DUE)
    clock = Clock(DUE + timedelta(minutes=5))
    queued: list[int] = []
    SchedulerLoop(engine, CONFIG, clock, queued.extend).step()  # dispatched, not yet run
    sent: list[int] = []
    loop = SchedulerLoop(engine, CONFIG, clock, sent.extend, backlog=lambda: len(queued))
    clock.now += CONFIG.redispatch_after
    assert loop.step().redispatched == 0  # overdue, but the queue is busy: probably queued
    clock.now += CONFIG.redispatch_after * 9
    assert loop.step().redispatched == 2  # ten thresholds overdue: lost, queue or not
    queued.clear()
    clock.now += CONFIG.redispatch_after
    assert loop.step().redispatched == 2
    assert sorted(sent) == sorted(list(pending_in_db(engine)) * 2)


def test_each_completed_sweep_is_stamped_and_a_failed_stamp_changes_nothing(
    engine: Engine,
) -> None:
    seed_cases(engine, 25, DUE)  # 3 sweeps of 10: two full batches, then the rest
    stamps: list[int] = []
    loop = SchedulerLoop(engine, CONFIG, Clock(DUE + timedelta(minutes=5)), lambda _ids: None,
                         swept=lambda: stamps.append(1))
    assert loop.step().judged == 25
    assert len(stamps) == 3  # a long catch-up still says, sweep by sweep, that it progresses

    def broker_down() -> None:
        raise ConnectionError("broker away")

    seed_cases(engine, 2, DUE, prefix="S")
    report = SchedulerLoop(engine, CONFIG, Clock(DUE + timedelta(minutes=5)),
                           lambda _ids: None, swept=broker_down).step()
    assert (report.judged, report.errors) == (2, [])


def test_a_sweep_that_fails_is_not_stamped(engine: Engine) -> None:
    def no_clock() -> datetime:
        raise RuntimeError("clock unavailable")

    stamps: list[int] = []
    report = SchedulerLoop(engine, CONFIG, no_clock, lambda _ids: None,
                           swept=lambda: stamps.append(1)).step()
    assert report.errors[0] == "sweep: clock unavailable"
    assert stamps == []
