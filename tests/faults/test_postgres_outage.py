"""PostgreSQL stopped for 20 s under the real roles, once during ingest and once during a sweep:
nothing lost, nothing doubled, and the same processes carry on once it is back (no restart)."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine

from slamon.sdk import Producer
from tests.faults.counts import breached_deadlines, ingested, paid, reachable, utcnow
from tests.faults.events import openings
from tests.faults.servers import AofRedis, PostgresCluster
from tests.support.processes import role_env, role_process, wait_for
from tests.support.seed import seed_cases

OUTAGE = 20.0  # seconds PostgreSQL stays down
EVENTS, CASES = 3000, 3000


def outage(cluster: PostgresCluster, engine: Engine) -> float:
    """Stop the cluster for OUTAGE seconds (the test's engine drops its dead connections)."""
    cluster.stop()
    engine.dispose()
    time.sleep(OUTAGE)  # the fault itself lasts this long; nothing to wait for
    started = time.monotonic()
    cluster.start()
    return started


def test_postgres_down_during_ingest(
    cluster: PostgresCluster, fault_db: tuple[str, Engine], broker: AofRedis, tmp_path: Path
) -> None:
    url, engine = fault_db
    with Producer(broker.url) as producer:
        for body in openings("I", EVENTS, per_message=5):
            producer.publish_raw(body)
    env = role_env(url, broker.url, tmp_path / "home", SLAMON_LOG_LEVEL="WARNING")
    with role_process("worker", env, tmp_path / "worker.log", "-Q", "sla.events", "-c", "2",
                      "-n", "ingest@faults") as worker:
        wait_for(lambda: ingested(engine).inbox >= EVENTS // 10, timeout=120,
                 what="the worker applying events")
        at_stop = ingested(engine).inbox
        back = outage(cluster, engine)
        wait_for(lambda: reachable(lambda: ingested(engine).inbox, 0) > at_stop, timeout=120,
                 what="ingest resuming after the outage")
        resumed = time.monotonic() - back
        wait_for(lambda: ingested(engine).inbox >= EVENTS, timeout=180, interval=0.5,
                 what=f"{EVENTS} events applied")
        assert worker.poll() is None, "the worker exited instead of waiting for the database"
    counts = ingested(engine)
    print(f"\npostgres down {OUTAGE:.0f} s during ingest: sent {EVENTS} events, {at_stop} "
          f"applied before the stop; applied {counts.inbox}, cases {counts.cases}, redelivered "
          f"{counts.redelivered}, dead letters {counts.dead_letters}; ingest resumed "
          f"{resumed:.1f} s after PostgreSQL was back")
    assert counts.inbox == counts.cases == EVENTS
    assert counts.dead_letters == 0


def test_postgres_down_during_a_sweep(
    cluster: PostgresCluster, fault_db: tuple[str, Engine], broker: AofRedis, tmp_path: Path
) -> None:
    url, engine = fault_db
    seed_cases(engine, CASES, utcnow() - timedelta(minutes=30))
    env = role_env(url, broker.url, tmp_path / "home", SLAMON_SWEEP_BATCH="200",
                   SLAMON_LOG_LEVEL="WARNING", SLAMON_PAYOUT_MAX_POINTS_PER_HOUR=str(10**12))
    with (
        role_process("worker", env, tmp_path / "worker.log", "-Q", "sla.compensation",
                     "-c", "2", "-n", "pay@faults") as worker,
        role_process("scheduler", env, tmp_path / "scheduler.log") as scheduler,
    ):
        wait_for(lambda: paid(engine).breaches >= 200, timeout=120, interval=0.05,
                 what="the first breaches")
        at_stop = paid(engine)
        back = outage(cluster, engine)
        wait_for(lambda: reachable(lambda: paid(engine).breaches, 0) > at_stop.breaches,
                 timeout=120, what="the sweep resuming after the outage")
        resumed = time.monotonic() - back
        wait_for(lambda: paid(engine).ledger >= CASES, timeout=240, interval=0.5,
                 what=f"{CASES} payments")
        assert worker.poll() is None and scheduler.poll() is None, "a role exited"
    after = paid(engine)
    print(f"\npostgres down {OUTAGE:.0f} s during a sweep: {CASES} due deadlines, "
          f"{at_stop.breaches} breached before the stop; breaches {after.breaches}, "
          f"compensations {after.compensations} ({after.issued} issued), ledger {after.ledger} "
          f"({after.distinct_ledger_keys} keys); sweep resumed {resumed:.1f} s after "
          f"PostgreSQL was back")
    assert after.breaches == breached_deadlines(engine) == CASES
    assert after.compensations == after.issued == CASES
    assert after.ledger == after.distinct_ledger_keys == CASES
