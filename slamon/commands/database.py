"""The database, for commands that read or change it: one clear line when it is not there."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from slamon.commands.common import fail
from slamon.models.db.engine import create_db_engine, display_url, snapshot, transaction
from slamon.settings import Settings


@contextmanager
def database_or_exit(settings: Settings) -> Iterator[None]:
    """Turn a missing schema or an unreachable database into one actionable line (exit 1)."""
    from sqlalchemy.exc import OperationalError, ProgrammingError

    try:
        yield
    except (OperationalError, ProgrammingError) as exc:
        fail(f"cannot use the database {display_url(settings.database)}: {exc.orig} "
             "(run `slamon migrate` or `slamon up` first)")


@contextmanager
def session_or_exit(settings: Settings, *, write: bool = False) -> Iterator[Session]:
    """A session in one transaction on the configured database, or exit 1 saying why.

    Read-only unless ``write``: a reader takes no write lock (SQLite) from the workers.
    """
    engine = create_db_engine(settings.database)
    try:
        with database_or_exit(settings), (transaction if write else snapshot)(engine) as session:
            yield session
    finally:
        engine.dispose()


def zone_or_exit(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        fail(f"unknown time zone {name!r}", code=2)
