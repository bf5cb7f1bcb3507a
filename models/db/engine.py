"""Engines and sessions.

One engine per process: Celery's prefork pool forks after import, and a connection pool
inherited across ``fork`` shares sockets between processes, so :func:`engine_for` keys its
cache by pid as well as URL.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from slamon.models.db import sqlite_functions

_engines: dict[tuple[int, str], Engine] = {}


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the API read while a worker writes; busy_timeout makes concurrent writers from
    # the worker, the scheduler and the API wait for each other instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


READ_ONLY = "slamon_read_only"


def _sqlite_begin(conn: Any) -> None:
    # pysqlite's default deferred BEGIN upgrades to a write lock mid-transaction, which can
    # fail with "database is locked" without waiting; BEGIN IMMEDIATE takes the lock up front
    # and honours busy_timeout, which serialises writers the way row locks do on Postgres.
    # Readers (read_only engines) keep a deferred BEGIN: under WAL they neither wait for nor
    # block the writers, so a dashboard or a metrics scrape never stalls ingest.
    conn.exec_driver_sql(
        "BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE"
    )


def create_db_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # What the read models need and SQLite lacks (percentiles, local days, durations).
        event.listen(engine, "connect", sqlite_functions.register)
        # Let SQLAlchemy, not pysqlite, issue BEGIN (see _sqlite_begin).
        event.listen(engine, "connect", lambda c, _r: setattr(c, "isolation_level", None))
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def engine_for(url: str) -> Engine:
    key = (os.getpid(), url)
    engine = _engines.get(key)
    if engine is None:
        engine = _engines[key] = create_db_engine(url)
    return engine



def display_url(url: str) -> str:
    """A database URL fit to print or log: the password masked."""
    return make_url(url).render_as_string(hide_password=True)


def read_only(engine: Engine) -> Engine:
    """The same engine (and pool) for queries that write nothing."""
    return engine.execution_options(**{READ_ONLY: True})


@contextmanager
def snapshot(engine: Engine) -> Iterator[Session]:
    """A session for reads only: one consistent view, no write lock on SQLite."""
    with Session(read_only(engine), expire_on_commit=False) as session, session.begin():
        yield session


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on any error."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session
