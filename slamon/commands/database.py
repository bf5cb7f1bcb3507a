"""The database, for commands that read or change it: one clear line when it is not there."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from slamon.commands.common import fail
from slamon.settings import Settings


@contextmanager
def session_or_exit(settings: Settings, *, write: bool = False) -> Iterator[Session]:
    """A session in one transaction on the configured database, or exit 1 saying why.

    Read-only unless ``write``: a reader takes no write lock (SQLite) from the workers.
    """
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from models.db import create_db_engine, snapshot, transaction

    engine = create_db_engine(settings.database)
    try:
        with (transaction if write else snapshot)(engine) as session:
            yield session
    except (OperationalError, ProgrammingError) as exc:
        fail(f"cannot use the database {engine.url.render_as_string()}: {exc.orig} "
             "(run `slamon migrate` or `slamon up` first)")
    finally:
        engine.dispose()


def zone_or_exit(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        fail(f"unknown time zone {name!r}", code=2)
