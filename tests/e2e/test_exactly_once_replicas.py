"""Exactly once with replicas on one Postgres.

* 10,000 deadlines due at once, two schedulers (threads, each with its own claimer id and
  connections) racing for them, two worker processes running the compensation service (the
  function the ``sla.compensate_batch`` task calls) against the ledger → exactly 10,000 breaches,
  compensations and ledger entries.
* The same with real processes: two ``slamon scheduler`` and two ``slamon worker`` (Celery,
  prefork) on Postgres and Redis, dispatching through the broker.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from sqlalchemy import Engine, func, select

from slamon.models.db.engine import create_db_engine, transaction
from slamon.models.db.migrate import upgrade
from slamon.models.db.tables import Breach, Compensation, Deadline, LedgerEntry
from slamon.models.payout import PayoutLimits
from slamon.scheduler.loop import LoopConfig, SchedulerLoop
from slamon.worker.app import COMPENSATION_QUEUE
from slamon.worker.payout_guard import GuardLimits
from tests.support.compensation_workers import run_worker
from tests.support.processes import role_env, role_process, wait_for
from tests.support.runtime import DEFAULTS
from tests.support.seed import seed_cases

# 10,000 penalties at once: the guard decides each, with limits this test never reaches.
UNREACHED_LIMITS = GuardLimits(PayoutLimits(10**15, 10**9, 10**9))


def utcnow() -> datetime:
    return datetime.now(UTC)


def ledger_count(engine: Engine) -> int:
    with transaction(engine) as session:
        return int(session.scalar(select(func.count()).select_from(LedgerEntry)) or 0)


def assert_paid_exactly_once(engine: Engine, cases: int) -> None:
    with transaction(engine) as session:
        def count(entity: type, *where: object) -> int:
            return int(session.scalar(select(func.count()).select_from(entity).where(*where)) or 0)

        assert count(Deadline, Deadline.state == "breached") == cases
        assert count(Breach) == cases
        assert count(Breach, Breach.status == "settled") == cases
        assert count(Compensation) == cases
        assert count(Compensation, Compensation.status == "issued") == cases
        assert count(LedgerEntry) == cases
        keys = session.scalar(select(func.count(func.distinct(LedgerEntry.idempotency_key))))
        assert keys == cases


@pytest.mark.postgres
def test_two_schedulers_and_two_worker_processes_10000_deadlines(postgres_url: str) -> None:
    cases = 10_000
    engine = create_db_engine(postgres_url)
    upgrade(engine)
    seed_cases(engine, cases, utcnow() - timedelta(minutes=10))
    ctx = mp.get_context("spawn")
    todo: mp.Queue[list[int]] = ctx.Queue()
    outcomes: mp.Queue[str] = ctx.Queue()
    stop = threading.Event()
    workers_stop = ctx.Event()
    judged_by: dict[str, int] = {}

    def scheduler(name: str) -> None:
        config = LoopConfig(name, 500, DEFAULTS.claim_lease, DEFAULTS.redispatch_after)
        loop = SchedulerLoop(engine, config, utcnow, lambda ids: todo.put(list(ids)),
                             backlog=todo.qsize)
        judged_by[name] = 0
        while not stop.is_set():
            judged_by[name] += loop.step(stop).judged
            stop.wait(0.5)  # the production interval is 1 s

    started = time.monotonic()
    workers = [
        ctx.Process(target=run_worker,
                    args=(postgres_url, todo, outcomes, workers_stop, UNREACHED_LIMITS))
        for _ in range(2)
    ]
    schedulers = [threading.Thread(target=scheduler, args=(f"sched-{i}",)) for i in (1, 2)]
    for process in workers:
        process.start()
    for thread in schedulers:
        thread.start()
    try:
        wait_for(lambda: sum(judged_by.values()) >= cases, timeout=150, interval=0.2,
                 what=f"{cases} judgements")
        judged = time.monotonic() - started
        wait_for(lambda: ledger_count(engine) >= cases or not all(p.is_alive() for p in workers),
                 timeout=150, interval=0.5, what=f"{cases} ledger entries")
        assert all(p.is_alive() for p in workers), "a worker process died"
        # Drained before the workers are joined: a process does not exit while what it put
        # on a queue is still unread.
        statuses = [outcomes.get(timeout=30) for _ in range(cases)]
    finally:
        stop.set()
        workers_stop.set()
        for thread in schedulers:
            thread.join(timeout=30)
        for process in workers:
            process.join(timeout=30)
    elapsed = time.monotonic() - started
    assert_paid_exactly_once(engine, cases)
    # Each compensation was dispatched once and paid by that one attempt.
    assert set(statuses) == {"issued"} and outcomes.empty()
    # Both schedulers took a share of the rows.
    assert sum(judged_by.values()) == cases and min(judged_by.values()) > 0, judged_by
    print(f"\n{cases} deadlines judged in {judged:.1f} s and paid in {elapsed:.1f} s by 2 "
          f"schedulers + 2 worker processes (judged: {judged_by})")
    engine.dispose()


@pytest.mark.postgres
@pytest.mark.redis
def test_two_scheduler_and_two_worker_processes(
    postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    cases = 400
    engine = create_db_engine(postgres_url)
    upgrade(engine)
    scheduler_env = role_env(postgres_url, redis_url, tmp_path / "home",
                             SLAMON_SWEEP_BATCH="40", SLAMON_LOG_LEVEL="INFO")
    # 400 penalties of 5,000 points within a minute: more than the payout guard's default
    # hourly limit lets through; this test is about exactly once, not about the guard.
    worker_env = role_env(postgres_url, redis_url, tmp_path / "home", SLAMON_LOG_LEVEL="WARNING",
                          SLAMON_PAYOUT_MAX_POINTS_PER_HOUR=str(10**12))
    logs = [tmp_path / f"scheduler-{i}.log" for i in (1, 2)]
    with (
        role_process("worker", worker_env, tmp_path / "worker-1.log",
                     "-Q", "sla.compensation", "-c", "2", "-n", "w1@test"),
        role_process("worker", worker_env, tmp_path / "worker-2.log",
                     "-Q", "sla.compensation", "-c", "2", "-n", "w2@test"),
        role_process("scheduler", scheduler_env, logs[0]),
        role_process("scheduler", scheduler_env, logs[1]),
    ):
        # The deadlines come due only once both schedulers sweep: seeded earlier, the first to
        # start (on a loaded machine, seconds before the other) could catch up on all of them.
        wait_for(lambda: all("running" in log.read_text() for log in logs), timeout=60,
                 interval=0.2, what="both schedulers sweeping")
        seed_cases(engine, cases, utcnow() - timedelta(minutes=10))
        try:
            wait_for(lambda: ledger_count(engine) >= cases, timeout=90, interval=0.5,
                     what=f"{cases} ledger entries")
        except AssertionError as exc:  # say what the processes were doing
            tails = {p.name: p.read_text()[-3000:] for p in sorted(tmp_path.glob("*.log"))}
            raise AssertionError(f"{exc}; paid {ledger_count(engine)}; logs: {tails}") from exc
        # Anything paid twice would be paid by a task still queued or running: wait until
        # none is (the Redis transport keeps a fetched message in "unacked" until its task
        # has run, acks_late), then count.
        broker = redis.Redis.from_url(redis_url)
        wait_for(lambda: broker.llen(COMPENSATION_QUEUE) == 0 and broker.hlen("unacked") == 0,
                 timeout=30, interval=0.2, what="no compensation task queued or running")
    assert_paid_exactly_once(engine, cases)
    for log in logs:  # both schedulers recorded breaches
        assert "deadline breached" in log.read_text(), log.read_text()[-2000:]
    engine.dispose()
