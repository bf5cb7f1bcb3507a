"""Two real ``slamon scheduler`` and three real ``slamon worker`` processes on 10,000 due
deadlines: zero duplicate breaches, compensations or payments."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import redis
from sqlalchemy import Engine

from slamon.worker.app import COMPENSATION_QUEUE
from tests.faults.counts import breached_deadlines, paid, utcnow
from tests.faults.servers import AofRedis
from tests.support.processes import role_env, role_process, wait_for
from tests.support.seed import seed_cases

CASES = 10_000


def test_two_schedulers_and_three_workers_pay_10000_deadlines_once(
    fault_db: tuple[str, Engine], broker: AofRedis, tmp_path: Path
) -> None:
    url, engine = fault_db
    env = role_env(url, broker.url, tmp_path / "home", SLAMON_LOG_LEVEL="INFO",
                   SLAMON_PAYOUT_MAX_POINTS_PER_HOUR=str(10**12))
    schedulers = [tmp_path / f"scheduler-{i}.log" for i in (1, 2)]
    with (
        role_process("worker", env, tmp_path / "worker-1.log", "-Q", "sla.compensation",
                     "-c", "1", "-n", "w1@faults"),
        role_process("worker", env, tmp_path / "worker-2.log", "-Q", "sla.compensation",
                     "-c", "1", "-n", "w2@faults"),
        role_process("worker", env, tmp_path / "worker-3.log", "-Q", "sla.compensation",
                     "-c", "1", "-n", "w3@faults"),
        role_process("scheduler", env, schedulers[0]),
        role_process("scheduler", env, schedulers[1]),
    ):
        # Due only once both sweep, so that both race for them.
        wait_for(lambda: all("running" in log.read_text() for log in schedulers), timeout=90,
                 what="both schedulers sweeping")
        seed_cases(engine, CASES, utcnow() - timedelta(minutes=10))
        started = time.monotonic()
        try:
            wait_for(lambda: paid(engine).ledger >= CASES, timeout=240, interval=1.0,
                     what=f"{CASES} payments")
        finally:
            elapsed = time.monotonic() - started
            print(f"\n2 schedulers + 3 workers: {paid(engine)} after {elapsed:.1f} s")
        client = redis.Redis.from_url(broker.url)
        wait_for(lambda: client.llen(COMPENSATION_QUEUE) == 0 and client.hlen("unacked") == 0,
                 timeout=60, what="no compensation task queued or running")
    after = paid(engine)
    shares = [log.read_text().count("deadline breached") for log in schedulers]
    print(f"2 schedulers + 3 workers on {CASES} deadlines: breaches {after.breaches}, "
          f"compensations {after.compensations} ({after.issued} issued), ledger {after.ledger} "
          f"({after.distinct_ledger_keys} keys) in {elapsed:.1f} s; breach log lines per "
          f"scheduler {shares}")
    assert after.breaches == breached_deadlines(engine) == CASES
    assert after.compensations == after.issued == CASES
    assert after.ledger == after.distinct_ledger_keys == CASES
