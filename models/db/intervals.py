"""Seconds between two instant columns, in SQL, fast rather than exact, on SQLite and Postgres.

The reports' :func:`slamon.models.db.report_sql.seconds_between` is exact to the microsecond
and the same double on both databases (percentiles are compared across them); this one is for
histogram buckets, where a last-bit difference cannot move a value across a bucket edge that
matters, and speed over every row of a scrape does. Both take ``(start, end)``.

Histograms of lags are counted in the database (a scrape must not fetch millions of rows), so
the difference of two instants has to be a number there. Postgres subtracts ``timestamptz``
values into an interval and reads its epoch with ``date_part``, a double (``EXTRACT`` gives a
numeric since Postgres 14, several times slower over a million rows); SQLite stores instants
as UTC text, which ``julianday`` reads in days, to the millisecond (SQLite's date functions
keep no finer time).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class approx_seconds_between(FunctionElement[float]):
    """``approx_seconds_between(start, end)``: ``end - start`` in seconds (a float)."""

    type = Float()
    name = "approx_seconds_between"
    inherit_cache = True


def _operands(
    element: approx_seconds_between, compiler: SQLCompiler, **kw: Any
) -> tuple[str, str]:
    start, end = list(element.clauses)
    return compiler.process(start, **kw), compiler.process(end, **kw)


@compiles(approx_seconds_between, "postgresql")
def _postgres(element: approx_seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = _operands(element, compiler, **kw)
    return f"date_part('epoch', {end} - {start})"


@compiles(approx_seconds_between, "sqlite")
def _sqlite(element: approx_seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = _operands(element, compiler, **kw)
    return f"((julianday({end}) - julianday({start})) * 86400.0)"
