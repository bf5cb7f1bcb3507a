"""A network partition between a real worker and PostgreSQL: the database runs in a network
namespace of its own, reached over a veth pair whose host end is taken down for 20 s while the
worker ingests. Nothing is lost or doubled, and the same worker carries on once the link is up."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from slamon.models.db.engine import create_db_engine
from slamon.models.db.migrate import upgrade
from slamon.sdk import Producer
from tests.faults.counts import ingested, reachable
from tests.faults.events import openings
from tests.faults.servers import PG_PORT, AofRedis, Partition, PostgresCluster
from tests.support.processes import role_env, role_process, wait_for

CUT = 20.0  # seconds the link stays down
EVENTS = 2000


@pytest.fixture
def partitioned() -> Iterator[tuple[Partition, PostgresCluster]]:
    link = Partition()
    cluster = PostgresCluster(port=PG_PORT, listen=link.inside, netns=link.name)
    try:
        cluster.start()
        yield link, cluster
    finally:
        link.heal()
        cluster.destroy()
        link.destroy()


def test_worker_cut_off_from_postgres_for_20_s_loses_nothing(
    partitioned: tuple[Partition, PostgresCluster], broker: AofRedis, tmp_path: Path
) -> None:
    link, cluster = partitioned
    url = cluster.create_database("partition")
    engine: Engine = create_db_engine(url)
    upgrade(engine)
    with Producer(broker.url) as producer:
        for body in openings("N", EVENTS, per_message=5):
            producer.publish_raw(body)
    env = role_env(url, broker.url, tmp_path / "home", SLAMON_LOG_LEVEL="WARNING")
    with role_process("worker", env, tmp_path / "worker.log", "-Q", "sla.events", "-c", "2",
                      "-n", "cut@faults") as worker:
        wait_for(lambda: ingested(engine).inbox >= EVENTS // 10, timeout=120,
                 what="the worker applying events")
        # Counted before the cut: a query across a cut link hangs (TCP retransmits), it
        # does not fail.
        at_cut = ingested(engine).inbox
        link.cut()
        time.sleep(CUT)  # the partition itself lasts this long
        link.heal()
        healed = time.monotonic()
        engine.dispose()  # the test's own connections may have died with the link
        wait_for(lambda: reachable(lambda: ingested(engine).inbox, 0) > at_cut,
                 timeout=120, what="ingest resuming after the partition")
        resumed = time.monotonic() - healed
        wait_for(lambda: reachable(lambda: ingested(engine).inbox, 0) >= EVENTS, timeout=180,
                 interval=0.5, what=f"{EVENTS} events applied")
        assert worker.poll() is None, "the worker exited instead of waiting out the partition"
    counts = ingested(engine)
    engine.dispose()
    print(f"\npartition worker|postgres {CUT:.0f} s: sent {EVENTS} events, {at_cut} applied "
          f"before the cut; applied {counts.inbox}, cases {counts.cases}, redelivered "
          f"{counts.redelivered}, dead letters {counts.dead_letters}; ingest resumed "
          f"{resumed:.1f} s after the link came back")
    assert counts.inbox == counts.cases == EVENTS
    assert counts.dead_letters == 0
