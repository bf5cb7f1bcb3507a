"""Seconds between two instant columns, in SQL, on SQLite and Postgres alike.

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


class seconds_between(FunctionElement[float]):
    """``seconds_between(later, earlier)``: ``later - earlier`` in seconds (a float)."""

    type = Float()
    name = "seconds_between"
    inherit_cache = True


def _operands(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> tuple[str, str]:
    later, earlier = list(element.clauses)
    return compiler.process(later, **kw), compiler.process(earlier, **kw)


@compiles(seconds_between, "postgresql")
def _postgres(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = _operands(element, compiler, **kw)
    return f"date_part('epoch', {later} - {earlier})"


@compiles(seconds_between, "sqlite")
def _sqlite(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = _operands(element, compiler, **kw)
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"
