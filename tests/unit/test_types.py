from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import StatementError

from slamon.models.db.engine import create_db_engine, transaction
from slamon.models.db.tables import Base, DeadLetter


def test_instants_round_trip_as_aware_utc() -> None:
    engine = create_db_engine("sqlite://")
    Base.metadata.create_all(engine)
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


def test_naive_datetimes_are_refused() -> None:
    engine = create_db_engine("sqlite://")
    Base.metadata.create_all(engine)
    with pytest.raises(StatementError, match="naive datetime"), transaction(engine) as session:
        session.execute(
            insert(DeadLetter).values(
                received_at=datetime(2026, 11, 26, 10, 0), source="cli", raw="x", error="e",
                cause="not_json",
            )
        )
