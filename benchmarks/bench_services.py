"""The database and the broker an ingest benchmark run uses, made for the run and removed after."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from slamon.models.db.engine import create_db_engine


@contextmanager
def bench_database(
    workdir: Path, *, given: str | None, sqlite: bool, postgres_admin: str, keep: bool
) -> Iterator[str]:
    """The database URL to run on: ``given`` as is, a SQLite file in ``workdir``, or a new
    Postgres database made through ``postgres_admin`` and dropped afterwards unless ``keep``."""
    if given:
        yield given
        return
    if sqlite:
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    admin = create_db_engine(postgres_admin, isolation_level="AUTOCOMMIT")
    name = f"slamon_bench_{os.getpid()}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres_admin).set(database=name).render_as_string(hide_password=False)
    finally:
        if keep:
            print(f"kept database {name}")
        else:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def bench_broker(workdir: Path, redis_url: str | None) -> Iterator[str]:
    """The broker URL: ``redis_url`` (its database index is flushed, so never index 0), or,
    without one, a redis-server of the run's own."""
    if redis_url is not None:
        if _db_index(redis_url) == 0:
            raise SystemExit("--redis-url must name a database index other than 0 (it is flushed)")
        yield redis_url
        return
    from slamon.embedded_redis import EmbeddedRedis

    # The server `slamon up` runs (AOF on, as in docker-compose), alone on a free port: nothing
    # else can flush it or consume from it during the run.
    server = EmbeddedRedis(workdir / "redis")
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def _db_index(url: str) -> int:
    tail = url.rsplit("/", 1)[-1] if url.count("/") > 2 else ""
    return int(tail) if tail.isdigit() else 0
