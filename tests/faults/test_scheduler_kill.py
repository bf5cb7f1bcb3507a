"""The real ``slamon scheduler`` SIGKILLed mid-sweep while a real worker pays what it judged;
restarted, every due deadline is breached once and every breach paid once."""

from __future__ import annotations

import signal
from datetime import timedelta
from pathlib import Path

import redis
from sqlalchemy import Engine, func, select

from slamon.models.db.engine import snapshot
from slamon.models.db.tables import Deadline
from slamon.models.states import DeadlineState
from slamon.worker.app import COMPENSATION_QUEUE
from tests.faults.counts import breached_deadlines, paid, utcnow
from tests.faults.servers import AofRedis
from tests.support.processes import role_env, role_process, wait_for
from tests.support.seed import seed_cases

CASES = 3000


def claimed_not_judged(engine: Engine) -> int:
    with snapshot(engine) as s:
        return int(s.scalar(select(func.count()).select_from(Deadline).where(
            Deadline.state == DeadlineState.PENDING, Deadline.claimed_by.is_not(None))) or 0)


def test_scheduler_killed_mid_sweep_breaches_and_pays_each_deadline_once(
    fault_db: tuple[str, Engine], broker: AofRedis, tmp_path: Path
) -> None:
    url, engine = fault_db
    seed_cases(engine, CASES, utcnow() - timedelta(minutes=30))
    env = role_env(url, broker.url, tmp_path / "home", SLAMON_SWEEP_BATCH="300",
                   SLAMON_CLAIM_LEASE_SECONDS="2", SLAMON_LOG_LEVEL="WARNING",
                   SLAMON_PAYOUT_MAX_POINTS_PER_HOUR=str(10**12))
    with role_process("worker", env, tmp_path / "worker.log", "-Q", "sla.compensation",
                      "-c", "2", "-n", "pay@faults"):
        with role_process("scheduler", env, tmp_path / "first.log") as first:
            wait_for(lambda: paid(engine).breaches and claimed_not_judged(engine), timeout=90,
                     interval=0.002, what="a claimed batch after the first breaches")
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        at_kill = paid(engine)
        left_claimed = claimed_not_judged(engine)
        assert 0 < at_kill.breaches < CASES, "not killed mid-sweep; raise CASES"
        killed = utcnow()
        with role_process("scheduler", env, tmp_path / "second.log"):
            wait_for(lambda: paid(engine).ledger >= CASES, timeout=180, interval=0.5,
                     what=f"{CASES} payments after the restart")
            recovered = (utcnow() - killed).total_seconds()
            client = redis.Redis.from_url(broker.url)
            wait_for(lambda: client.llen(COMPENSATION_QUEUE) == 0
                     and client.hlen("unacked") == 0, timeout=60,
                     what="no compensation task queued or running")
        after = paid(engine)
    print(f"\nscheduler SIGKILL: {CASES} due deadlines; killed after {at_kill.breaches} "
          f"breaches ({left_claimed} rows left claimed); after the restart: breaches "
          f"{after.breaches}, compensations {after.compensations} ({after.issued} issued), "
          f"ledger {after.ledger} ({after.distinct_ledger_keys} keys); all paid "
          f"{recovered:.1f} s after the kill")
    assert after.breaches == breached_deadlines(engine) == CASES
    assert after.compensations == after.issued == CASES
    assert after.ledger == after.distinct_ledger_keys == CASES
