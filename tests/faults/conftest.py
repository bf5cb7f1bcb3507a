"""The fault suite's own servers: one PostgreSQL cluster and one Redis (AOF on) for the session,
on ports of the suite's range, which the tests stop, kill and restart. Each test gets a fresh
database of that cluster and an emptied Redis; a test that left a server down has it started
again for the next one. Nothing here skips: the suite needs only Debian's PostgreSQL binaries
and redis-server, which .ci/run installs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from slamon.models.db.engine import create_db_engine
from slamon.models.db.migrate import upgrade
from tests.faults.servers import AofRedis, PostgresCluster


@pytest.fixture(scope="session")
def cluster() -> Iterator[PostgresCluster]:
    server = PostgresCluster()
    server.start()
    yield server
    server.destroy()


@pytest.fixture(scope="session")
def broker_server() -> Iterator[AofRedis]:
    server = AofRedis()
    server.start()
    yield server
    server.destroy()


@pytest.fixture
def fault_db(cluster: PostgresCluster) -> Iterator[tuple[str, Engine]]:
    """(URL, migrated engine) of a database of this test's own in the suite's cluster."""
    if not cluster.running():
        cluster.start()
    url = cluster.create_database(f"f_{uuid.uuid4().hex[:10]}")
    engine = create_db_engine(url)
    upgrade(engine)
    yield url, engine
    engine.dispose()
    if not cluster.running():
        cluster.start()


@pytest.fixture
def broker(broker_server: AofRedis) -> AofRedis:
    """The suite's Redis, running and empty."""
    if broker_server.process is None or broker_server.process.poll() is not None:
        broker_server.start()
    broker_server.client().flushall()
    return broker_server
