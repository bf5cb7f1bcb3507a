"""The naive timers side by side with ours: worker memory, and executions per timer.

* Memory: a worker of :mod:`benchmarks.countdown` is sent ``timers`` tasks with
  ``apply_async(countdown=…)``; Celery reserves every one (an ETA task is held in the worker
  until it is due, whatever the prefetch limit) and the memory of the worker is read once the
  queue is empty and all of them sit unacknowledged in the worker. Ours is the memory of a
  ``slamon worker`` and a ``slamon scheduler`` while the database holds the pending deadlines.
* Executions: with a visibility timeout shorter than the countdown, Redis hands every
  reserved message out again; each copy runs at its ETA. The task counts its runs per task id.
  The same number of deadlines, due at the same instant, go through our scheduler.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis
from sqlalchemy import Engine

from benchmarks.countdown import (
    COUNTDOWN_QUEUE,
    COUNTDOWN_TASK,
    NAIVE_VISIBILITY_TIMEOUT_SECONDS,
    RUNS_KEY,
    build_app,
)
from benchmarks.timers_procs import (
    Alive,
    Memory,
    Roles,
    kill_tree,
    started,
    tree_memory,
    wait_until,
    worker_pid,
)
from benchmarks.timers_seed import DeadlineSet, count_breaches, count_ledger, seed

DUP_PREFIX = "td-"
UNACKED = "unacked"  # kombu's Redis transport: delivered, not yet acknowledged


@dataclass(frozen=True)
class NaiveMemory:
    timers: int
    idle: Memory  # the worker before any timer was sent
    held: Memory  # with every timer reserved
    broker_mib: float  # what the reserved timers add to Redis's used memory
    send_seconds: float
    hold_seconds: float  # from the first send until every timer was reserved


def naive_memory(roles: Roles, timers: int, countdown: float, stall: float) -> NaiveMemory:
    """Memory of a countdown worker holding ``timers`` timers due in ``countdown`` s.

    The worker runs the production visibility timeout, so nothing is redelivered meanwhile;
    it is killed afterwards (a warm shutdown would hand every timer back one by one) and the
    caller empties the broker.
    """
    broker = redis.Redis.from_url(roles.broker_url)
    app = build_app(roles.broker_url)
    worker = roles.countdown_worker("memory", NAIVE_VISIBILITY_TIMEOUT_SECONDS, None)
    with started(worker) as alive:
        try:
            time.sleep(0.5)  # let the pool settle before the baseline
            idle = tree_memory(worker_pid(worker))
            broker_before = _used_memory(broker)
            task = app.tasks[COUNTDOWN_TASK]
            begun = time.perf_counter()
            for deadline_id in range(timers):
                task.apply_async(args=[deadline_id], countdown=countdown)
            sent = time.perf_counter() - begun

            def held() -> int:
                return int(broker.hlen(UNACKED))

            wait_until(lambda: held() >= timers and broker.llen(COUNTDOWN_QUEUE) == 0, held,
                       alive, stall, f"{timers} timers reserved", interval=0.5)
            holding = time.perf_counter() - begun
            time.sleep(0.5)  # let the worker finish filing the last ones
            memory = tree_memory(worker_pid(worker))
            broker_mib = _used_memory(broker) - broker_before
            if broker.hlen(RUNS_KEY):
                raise RuntimeError("a countdown timer fired during the memory measurement")
        finally:
            kill_tree(worker_pid(worker))
    app.close()
    return NaiveMemory(timers, idle, memory, broker_mib, sent, holding)


def _used_memory(broker: redis.Redis[bytes]) -> float:
    return int(broker.info("memory")["used_memory"]) / 2**20


@dataclass(frozen=True)
class Executions:
    timers: int
    runs: Counter[int]  # times a timer ran -> how many timers ran that often
    ours_breaches: int
    ours_ledger: int
    ours_ledger_keys: int

    @property
    def duplicates(self) -> int:
        """Executions beyond the first, over every timer."""
        return sum((times - 1) * n for times, n in self.runs.items() if times > 1)

    @property
    def never_ran(self) -> int:
        return self.timers - sum(self.runs.values())


@dataclass(frozen=True)
class DuplicateOptions:
    timers: int
    countdown: float
    visibility_timeout: float
    restore_interval: int
    stall: float


def executions(
    engine: Engine, roles: Roles, ours: Alive, o: DuplicateOptions
) -> Executions:
    """Run ``timers`` countdown tasks and ``timers`` deadlines due at the same instant.

    1. Start a countdown worker with the short visibility timeout; send the tasks.
    2. Seed as many deadlines for our running scheduler, ``judge_at`` at the tasks' ETA.
    3. After the ETA, wait until the countdown queue and the unacknowledged set stay empty
       (then no copy is left to run) and every deadline has its breach and its ledger entry.
    4. Count the task's runs per task id, our breaches and ledger entries.
    """
    broker = redis.Redis.from_url(roles.broker_url)
    app = build_app(roles.broker_url, o.visibility_timeout, o.restore_interval)
    worker = roles.countdown_worker("duplicates", o.visibility_timeout, o.restore_interval)
    with started(worker) as alive:
        task = app.tasks[COUNTDOWN_TASK]
        first = datetime.now(UTC)
        for deadline_id in range(o.timers):
            task.apply_async(args=[deadline_id], countdown=o.countdown)
        last = datetime.now(UTC)
        # Ours come due when the tasks do: judge_at spread over the same instants.
        due = first + timedelta(seconds=o.countdown)
        spread = last - first + timedelta(microseconds=1)
        seed(engine, DeadlineSet(DUP_PREFIX, o.timers, due, spread))
        both = Alive(*alive.processes, *ours.processes)
        time.sleep(max(0.0, (last - datetime.now(UTC)).total_seconds() + o.countdown))

        def left() -> int:
            return int(broker.llen(COUNTDOWN_QUEUE)) + int(broker.hlen(UNACKED))

        while True:
            wait_until(lambda: left() == 0, lambda: -left(), both, o.stall,
                       "the countdown copies to run")
            # A copy may be in flight between the queue and the unacknowledged set.
            time.sleep(0.5)
            if left() == 0:
                break

        def ours_done() -> int:
            with engine.connect() as conn:
                return count_breaches(conn, DUP_PREFIX) + count_ledger(conn, DUP_PREFIX)[0]

        wait_until(lambda: ours_done() >= 2 * o.timers, ours_done, both, o.stall,
                   f"{o.timers} breaches and payments")
    app.close()
    runs = Counter(int(v) for v in broker.hvals(RUNS_KEY))
    with engine.connect() as conn:
        breaches = count_breaches(conn, DUP_PREFIX)
        entries, keys = count_ledger(conn, DUP_PREFIX)
    return Executions(o.timers, runs, breaches, entries, keys)
