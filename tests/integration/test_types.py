"""Instants are stored as aware UTC and a naive datetime never reaches the database, on SQLite
and on Postgres (slamon.models.db.types)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import StatementError

from slamon.models.db.engine import transaction
from slamon.models.db.tables import DeadLetter


def test_instants_round_trip_as_aware_utc(engine: Engine) -> None:
    shanghai = timezone(timedelta(hours=8))
    with transaction(engine) as session:
        session.execute(
            insert(DeadLetter).values(
                received_at=datetime(2026, 11, 26, 10, 0, tzinfo=shanghai),
                source="cli",
                raw="x",
                error="e",
                cause="not_json",
            )
        )
    with transaction(engine) as session:
        stored = session.scalars(select(DeadLetter.received_at)).one()
    assert stored == datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
    assert stored.tzinfo is not None


def test_naive_datetimes_are_refused(engine: Engine) -> None:
    with pytest.raises(StatementError, match="naive datetime"), transaction(engine) as session:
        session.execute(
            insert(DeadLetter).values(
                received_at=datetime(2026, 11, 26, 10, 0), source="cli", raw="x", error="e",
                cause="not_json",
            )
        )
