"""SQL expressions the reports need, compiled natively on Postgres and through the Python
functions of :mod:`slamon.models.db.sqlite_functions` on SQLite.

Each is a SQLAlchemy construct with one compiler per database, so a query is written once;
the classes are named in lower case, as the SQL functions they stand for.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class seconds_between(FunctionElement[float]):
    """``end - start`` in seconds, a double; NULL if either is NULL."""

    type = Float()
    inherit_cache = True
    name = "seconds_between"


class local_day(FunctionElement[str]):
    """``YYYY-MM-DD``: the calendar day of an instant in a zone (an IANA name)."""

    type = String()
    inherit_cache = True
    name = "local_day"


class local_week(FunctionElement[str]):
    """``YYYY-MM-DD`` of the Monday that starts the instant's ISO week in a zone."""

    type = String()
    inherit_cache = True
    name = "local_week"


class percentile_cont(FunctionElement[float]):
    """The interpolated ``fraction`` percentile of a value over the group (NULLs skipped)."""

    type = Float()
    inherit_cache = True
    name = "percentile_cont"


class bytewise(FunctionElement[str]):
    """A text compared byte by byte (Postgres ``COLLATE "C"``; SQLite's default already).

    Grouping keys need equality, not a language's order; the ``C`` collation sorts several
    times faster than a locale's, and percentiles group by sorting.
    """

    type = String()
    inherit_cache = True
    name = "bytewise"


def _args(element: Any, compiler: Any, **kw: Any) -> list[str]:
    return [compiler.process(clause, **kw) for clause in element.clauses]


@compiles(seconds_between, "postgresql")
def _seconds_pg(element: Any, compiler: Any, **kw: Any) -> str:
    start, end = _args(element, compiler, **kw)
    # EXTRACT gives an exact numeric; its cast is the double nearest it (as on SQLite).
    return f"CAST(EXTRACT(EPOCH FROM ({end} - {start})) AS DOUBLE PRECISION)"


@compiles(local_day, "postgresql")
def _day_pg(element: Any, compiler: Any, **kw: Any) -> str:
    instant, zone = _args(element, compiler, **kw)
    return f"to_char(({instant} AT TIME ZONE {zone}), 'YYYY-MM-DD')"


@compiles(local_week, "postgresql")
def _week_pg(element: Any, compiler: Any, **kw: Any) -> str:
    instant, zone = _args(element, compiler, **kw)
    return f"to_char(date_trunc('week', {instant} AT TIME ZONE {zone}), 'YYYY-MM-DD')"


@compiles(bytewise, "postgresql")
def _bytewise_pg(element: Any, compiler: Any, **kw: Any) -> str:
    (value,) = _args(element, compiler, **kw)
    return f'({value} COLLATE "C")'


@compiles(bytewise, "sqlite")
def _bytewise_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    (value,) = _args(element, compiler, **kw)
    return value


@compiles(percentile_cont, "postgresql")
def _percentile_pg(element: Any, compiler: Any, **kw: Any) -> str:
    value, fraction = _args(element, compiler, **kw)
    return f"percentile_cont({fraction}) WITHIN GROUP (ORDER BY {value})"


def _sqlite(function: str) -> Any:
    def compile_(element: Any, compiler: Any, **kw: Any) -> str:
        return f"{function}({', '.join(_args(element, compiler, **kw))})"

    return compile_


compiles(seconds_between, "sqlite")(_sqlite("slamon_seconds_between"))
compiles(local_day, "sqlite")(_sqlite("slamon_local_day"))
compiles(local_week, "sqlite")(_sqlite("slamon_local_week"))
compiles(percentile_cont, "sqlite")(_sqlite("slamon_percentile_cont"))
