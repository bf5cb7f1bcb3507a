"""The database's own limit for ingest: the rows an applied opening writes, and nothing else.

An applied ``help.opened`` leaves four rows: its inbox row, its case and two deadlines
(response, resolution). The floor writes exactly those rows (the same values, computed
beforehand by the planner, untimed) with the driver alone, no slamon code and no ORM on the
timed path, in transactions of one message each (``batch`` openings), from as many
connections as the worker has processes, on the same tables, indexes and constraints:

* ``executemany``: one parameterised ``INSERT`` per table and transaction, which psycopg
  pipelines (the shape the issue's 110,000 rows/s was measured with);
* ``COPY``: one ``COPY … FROM STDIN`` per table and transaction (the fastest way in);
* on SQLite, the standard library's ``sqlite3`` ``executemany`` (the embedded mode's floor).

The rate is openings per second, from the first transaction's start to the last commit; each
connection takes every ``workers``-th message. The rows are checked afterwards.
"""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from queue import Empty
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

JSON_COLUMNS = {"payload", "services"}


@dataclass(frozen=True)
class Write:
    """One statement of a message and its rows: an insert into ``table`` (``sql`` None) or,
    for the mixed stream, an ``UPDATE`` given as ``sql`` with ``%s`` placeholders."""

    table: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    sql: str | None = None


Message = list[Write]  # one transaction: what one SDK message's events write


@dataclass(frozen=True)
class FloorRun:
    method: str  # executemany | copy | sqlite3
    events: int
    rows: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def as_row(row: dict[str, Any], columns: tuple[str, ...]) -> tuple[Any, ...]:
    """Column values (dicts as ingest writes them) in ``columns``' order; JSON as text."""
    return tuple(json.dumps(row.get(c), ensure_ascii=False) if c in JSON_COLUMNS else row.get(c)
                 for c in columns)


def insert(table: str, rows: list[dict[str, Any]]) -> Write:
    """An insert of ``rows`` (column dicts, as ingest builds them) into ``table``; the columns
    are the rows' own, so the floor writes whatever ingest writes, schema changes included."""
    columns = tuple(dict.fromkeys(name for row in rows for name in row))
    return Write(table, columns, [as_row(r, columns) for r in rows])


def opening_writes(
    inbox: list[dict[str, Any]], cases: list[dict[str, Any]], deadlines: list[dict[str, Any]]
) -> list[Write]:
    """The three inserts of a message of openings."""
    return [insert("events", inbox), insert("cases", cases), insert("deadlines", deadlines)]


def row_count(messages: list[Message]) -> int:
    return sum(len(w.rows) for m in messages for w in m)


# --- PostgreSQL ------------------------------------------------------------------------------


def _insert_sql(table: str, columns: tuple[str, ...], mark: str = "%s") -> str:
    values = ", ".join(f"{mark}::json" if c in JSON_COLUMNS and mark == "%s" else mark
                       for c in columns)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values})"


def _write_postgres(
    dsn: str, method: str, messages: list[Message], ready: Any, spans: Any
) -> None:
    """One connection's share; puts its (start, end) on ``spans`` (``time.time``)."""
    with psycopg.connect(dsn) as conn:
        conn.execute("SELECT 1")  # connected and warm before the clock starts
        ready.wait()  # every connection has its rows: start together
        began = time.time()
        for message in messages:
            with conn.transaction(), conn.cursor() as cur:
                for write in message:
                    if not write.rows:
                        continue
                    if write.sql is not None:
                        cur.executemany(write.sql, write.rows)
                    elif method == "executemany":
                        cur.executemany(_insert_sql(write.table, write.columns), write.rows)
                    else:
                        names = ", ".join(write.columns)
                        with cur.copy(f"COPY {write.table} ({names}) FROM STDIN") as copy:
                            for row in write.rows:
                                copy.write_row(row)
        spans.put((began, time.time()))


def round_robin(messages: list[Message], workers: int) -> list[list[Message]]:
    """Every ``workers``-th message per connection (for messages that depend on no other)."""
    return [messages[i::workers] for i in range(workers)]


def write_floor(url: str, method: str, shares: list[list[Message]], events: int) -> FloorRun:
    """Write each share of messages (``events`` events in all) with ``method`` from a
    connection of its own, all started together (processes). SQLite has one writer at a
    time: there the shares are written one after the other on one connection."""
    if url.startswith("sqlite"):
        spans = [_write_sqlite(url, [m for share in shares for m in share])]
        method = "sqlite3"
    else:
        context = multiprocessing.get_context("spawn")
        ready, queue = context.Barrier(len(shares)), context.Queue()
        writers = [
            context.Process(target=_write_postgres,
                            args=(libpq_dsn(url), method, share, ready, queue))
            for share in shares
        ]
        for writer in writers:
            writer.start()
        spans = []
        while len(spans) < len(writers):
            try:
                spans.append(queue.get(timeout=1))
            except Empty:
                # A writer that failed puts nothing: stop the others rather than wait forever.
                if any(w.exitcode not in (None, 0) for w in writers):
                    for w in writers:
                        w.terminate()
                    raise RuntimeError("a floor writer failed (its traceback is above)") from None
        for writer in writers:
            writer.join()
    seconds = max(end for _, end in spans) - min(start for start, _ in spans)
    return FloorRun(method, events, sum(row_count(share) for share in shares), seconds)


def libpq_dsn(url: str) -> str:
    """A libpq connection string from a SQLAlchemy URL (``search_path`` options kept)."""
    u = make_url(url)
    parts = [f"host={u.host or '127.0.0.1'}", f"port={u.port or 5432}",
             f"dbname={u.database}", f"user={u.username or 'postgres'}"]
    if u.password:
        parts.append(f"password={u.password}")
    if (options := u.query.get("options")) is not None:
        parts.append("options='" + str(options).replace("'", "\\'") + "'")
    return " ".join(parts)


# --- SQLite ----------------------------------------------------------------------------------


def _sqlite_value(value: Any) -> Any:
    # As slamon stores them (slamon.models.db.types): instants as naive UTC text, money as text.
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
    if isinstance(value, Decimal):
        return str(value)
    return value


def _write_sqlite(url: str, messages: list[Message]) -> tuple[float, float]:
    """One connection, WAL and synchronous=NORMAL, as slamon runs SQLite
    (slamon.models.db.engine); values converted beforehand, untimed."""
    conn = sqlite3.connect(str(make_url(url).database), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    prepared = [
        [
            (
                (w.sql.replace("%s", "?") if w.sql is not None
                 else _insert_sql(w.table, w.columns, "?")),
                [tuple(_sqlite_value(v) for v in r) for r in w.rows],
            )
            for w in message
            if w.rows
        ]
        for message in messages
    ]
    began = time.time()
    for message in prepared:
        conn.execute("BEGIN IMMEDIATE")
        for sql, rows in message:
            conn.executemany(sql, rows)
        conn.execute("COMMIT")
    ended = time.time()
    conn.close()
    return began, ended
