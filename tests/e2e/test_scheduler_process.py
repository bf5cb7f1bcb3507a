"""The real ``slamon scheduler`` process: killed mid-run (SIGKILL) and restarted, every due
deadline fires exactly once, with honest due and detection times; SIGTERM stops it cleanly."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from slamon.models.db.engine import snapshot, transaction
from slamon.models.db.tables import Breach, Compensation, Deadline, OutboxMessage
from tests.support.processes import role_env, role_process, wait_for
from tests.support.seed import SeedDeadline, seed_cases

CASES = 2000
LEASE = timedelta(seconds=2)  # the schedulers' claim lease here


# Observed through read-only snapshots: on SQLite a writing transaction would queue behind
# the scheduler's and only ever see the state between its transactions.


def breaches(engine: Engine) -> int:
    with snapshot(engine) as session:
        return int(session.scalar(select(func.count()).select_from(Breach)) or 0)


def claimed_not_judged(engine: Engine) -> int:
    with snapshot(engine) as session:
        return int(session.scalar(select(func.count()).select_from(Deadline).where(
            Deadline.state == "pending", Deadline.claimed_by.is_not(None))) or 0)


@pytest.mark.redis
def test_killed_and_restarted_every_deadline_fires_once(
    engine: Engine, db_url: str, redis_url: str, tmp_path: Path
) -> None:
    due = datetime.now(UTC) - timedelta(minutes=30)
    seed_cases(engine, CASES, due)
    env = role_env(db_url, redis_url, tmp_path / "home", SLAMON_SWEEP_BATCH="400",
                   SLAMON_CLAIM_LEASE_SECONDS=str(LEASE.total_seconds()),
                   SLAMON_LOG_LEVEL="WARNING")
    with role_process("scheduler", env, tmp_path / "first.log") as first:
        # Kill it mid-run while it holds a claim: some batches recorded, one claimed and not
        # recorded yet.
        wait_for(lambda: breaches(engine) and claimed_not_judged(engine), timeout=60,
                 interval=0.002, what="a claimed batch after the first breaches")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    at_kill = breaches(engine)
    assert 0 < at_kill < CASES, "the scheduler was not killed mid-run; raise CASES"
    # Usually the rows it had claimed are left leased to a dead claimer (if the kill came just
    # after their judgement committed, they are not); the lease path itself is tested
    # deterministically in test_sweeper.
    print(f"\nkilled after {at_kill} breaches, {claimed_not_judged(engine)} rows left claimed")
    restarted_at = datetime.now(UTC)
    with role_process("scheduler", env, tmp_path / "second.log"):
        wait_for(lambda: breaches(engine) == CASES, timeout=60, interval=0.2,
                 what=f"{CASES} breaches after the restart")
        # Nothing may fire twice, even once every lease has expired: a marker deadline due one
        # lease from now is judged by a sweep that would also have re-claimed any of them.
        [marker] = seed_cases(engine, 1, datetime.now(UTC) + LEASE,
                              (SeedDeadline(grace=timedelta(0)),), prefix="M")
        wait_for(lambda: breaches(engine) == CASES + 1, timeout=30, interval=0.2,
                 what="the marker's breach, judged after another lease")
    with transaction(engine) as session:
        rows = session.execute(
            select(Breach.case_id, Breach.due_at, Breach.detected_at)
            .where(Breach.case_id != marker)
        ).all()
        pending = session.scalar(
            select(func.count()).select_from(Deadline).where(Deadline.state != "breached")
        )
        compensations = session.scalar(
            select(func.count()).select_from(Compensation).where(Compensation.case_id != marker)
        )
        announced = session.scalar(
            select(func.count()).select_from(OutboxMessage)
            .where(OutboxMessage.topic == "sla.breached", OutboxMessage.case_id != marker)
        )
    assert len(rows) == len({r.case_id for r in rows}) == CASES
    assert pending == 0 and compensations == CASES and announced == CASES
    assert all(r.due_at == due for r in rows)  # the promise's own time, not the catch-up's
    assert all(r.detected_at > due for r in rows)
    late = [r for r in rows if r.detected_at >= restarted_at]
    assert len(late) == CASES - at_kill  # detected when really detected, after the restart


@pytest.mark.redis
def test_sigterm_finishes_the_step_and_exits_cleanly(
    engine: Engine, db_url: str, redis_url: str, tmp_path: Path
) -> None:
    seed_cases(engine, 50, datetime.now(UTC) - timedelta(minutes=30))
    env = role_env(db_url, redis_url, tmp_path / "home")
    log = tmp_path / "scheduler.log"
    with role_process("scheduler", env, log) as process:
        wait_for(lambda: breaches(engine) == 50, timeout=60, what="50 breaches")
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
    assert "scheduler stopped" in log.read_text()
