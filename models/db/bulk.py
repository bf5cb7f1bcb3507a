"""Set-at-a-time statements whose text does not grow with the set, on Postgres.

A statement that lists its rows (``IN (:id_1, …, :id_1000)``, a 500-row ``VALUES`` list) is a
new text for every size: psycopg parses such a text client-side on every call (it caches only
short statements) and Postgres plans it afresh. Measured on a sweep of 1,000 deadlines, that
parsing alone was a fifth of the time. On Postgres the set travels instead as one
parameter, so each statement has one short, fixed text that psycopg caches and, after a few
calls, the server keeps prepared:

* ``column = ANY(:ids)`` for a set of ids (a ``bigint[]``);
* ``INSERT … SELECT … FROM json_to_recordset(:rows) … ON CONFLICT DO NOTHING`` for new rows.
  One JSON document rather than an array per column (``unnest(:a, :b, …)``): psycopg quotes
  each string of a text array in Python, which cost more than the parsing it saved, whereas
  ``json.dumps`` serialises the whole batch in C.

SQLite has neither; there the same calls take the classic forms (an expanding ``IN``, an
``executemany`` insert), which its in-process parser handles cheaply.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    Connection,
    Result,
    Text,
    any_,
    bindparam,
    cast,
    select,
)
from sqlalchemy import column as column_clause
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session
from sqlalchemy.sql import func

from slamon.models.db.upsert import dialect_name, insert_new

T = TypeVar("T")

# Values per ``IN (...)`` lookup: well inside SQLite's limit on the parameters of a statement.
LOOKUP_CHUNK = 500


def chunks(values: Sequence[T], size: int = LOOKUP_CHUNK) -> Iterator[Sequence[T]]:
    """``values`` in consecutive slices of at most ``size`` items, in order."""
    if size < 1:
        raise ValueError(f"chunk size must be at least 1, got {size}")
    for start in range(0, len(values), size):
        yield values[start : start + size]


def among(db: Session | Connection, column: Any, ids: Sequence[int]) -> ColumnElement[bool]:
    """``column`` is one of ``ids``: ``= ANY(<bigint array>)`` on Postgres, ``IN`` elsewhere."""
    if dialect_name(db) == "postgresql":
        return column == any_(bindparam(None, list(ids), type_=postgresql.ARRAY(BigInteger)))
    return column.in_(ids)  # type: ignore[no-any-return]


def insert_new_rows(
    db: Session | Connection,
    entity: Any,
    index_elements: list[str],
    rows: Sequence[Mapping[str, Any]],
    returning: tuple[Any, ...] = (),
) -> Result[Any]:
    """Insert ``rows`` (dicts with the same keys) into ``entity``, skipping those that clash
    on the unique ``index_elements``; the result holds ``returning`` of the rows really new.

    On Postgres one ``INSERT … SELECT … FROM json_to_recordset(:rows)``; elsewhere
    :func:`slamon.models.db.upsert.insert_new`, executed for the rows.
    """
    if not rows:
        raise ValueError("insert_new_rows needs at least one row")
    columns = tuple(rows[0])
    if dialect_name(db) != "postgresql":
        statement = insert_new(db, entity, index_elements, returning)
        return db.execute(statement, list(rows))
    statement = _recordset_insert(entity, columns, tuple(index_elements), returning)
    return db.execute(statement, {"rows": json.dumps(list(rows), default=_json_value)})


@lru_cache(maxsize=64)
def _recordset_insert(
    entity: Any,
    columns: tuple[str, ...],
    index_elements: tuple[str, ...],
    returning: tuple[Any, ...],
) -> Any:
    """The Postgres insert of ``columns`` from one JSON array of rows (parameter ``rows``).

    ``json_to_recordset`` reads each row's fields as the column's own type (``VARCHAR(64)``,
    ``TIMESTAMP WITH TIME ZONE``, ``JSON``…), so Postgres converts them as it would the
    parameters of a single-row insert.
    """
    table = entity.__table__
    rows = cast(bindparam("rows", type_=Text), JSON)
    source = (
        func.json_to_recordset(rows)
        .table_valued(*(column_clause(name, table.c[name].type) for name in columns))
        .render_derived(with_types=True)
    )
    statement = (
        # The table, not the mapped class: an ORM insert given one dict of parameters would
        # take it for a bulk insert of rows.
        postgresql.insert(table)
        .from_select(list(columns), select(*(source.c[name] for name in columns)))
        .on_conflict_do_nothing(index_elements=list(index_elements))
    )
    return statement.returning(*returning) if returning else statement


def _json_value(value: Any) -> Any:
    """The JSON form of the values JSON itself lacks: instants (ISO 8601), decimals."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored as an instant")
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} {value!r} has no JSON form for a bulk insert")
