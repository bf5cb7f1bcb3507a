"""``INSERT … ON CONFLICT DO NOTHING`` on either database.

Exactly-once writes (one breach per case and kind, one compensation per key, one outbox row
per message id, one ledger entry per key) are inserts guarded by a unique constraint. Catching
IntegrityError would abort the surrounding Postgres transaction; ``ON CONFLICT DO NOTHING``
skips the duplicate and lets ``RETURNING`` say which rows were really new.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def dialect_name(db: Session | Connection) -> str:
    """``postgresql`` or ``sqlite``: the database behind a session or a connection."""
    return db.dialect.name if isinstance(db, Connection) else db.get_bind().dialect.name


def insert_new(
    db: Session | Connection,
    entity: Any,
    index_elements: list[str],
    returning: tuple[Any, ...] = (),
) -> Any:
    """An insert of ``entity`` that skips rows clashing on the unique ``index_elements``,
    returning the ``returning`` columns of the rows really inserted.

    Built once per database kind and reused: pass the rows as parameters, not ``.values()``,
    and SQLAlchemy finds the compiled statement in its cache without rebuilding it.
    """
    return _insert_new(dialect_name(db), entity, tuple(index_elements), returning)


@lru_cache(maxsize=64)
def _insert_new(
    dialect: str, entity: Any, index_elements: tuple[str, ...], returning: tuple[Any, ...]
) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(entity).on_conflict_do_nothing(index_elements=list(index_elements))
    return statement.returning(*returning) if returning else statement
