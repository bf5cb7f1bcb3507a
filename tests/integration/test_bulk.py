"""slamon.models.db.bulk on both databases: the set-at-a-time forms behave as the row-by-row
ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select

from slamon.models.db.bulk import among, insert_new_rows
from slamon.models.db.engine import transaction
from slamon.models.db.tables import OutboxMessage

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 26, 10, 0, 0, 123456, tzinfo=SHANGHAI)


def message(message_id: str, **payload: object) -> dict[str, object]:
    return {
        "message_id": message_id, "topic": "sla.breached", "case_id": "H1",
        "created_at": NOW, "attempts": 0, "payload": {"message_id": message_id, **payload},
    }


def insert(engine: Engine, rows: list[dict[str, object]]) -> list[str]:
    with transaction(engine) as session:
        result = insert_new_rows(
            session, OutboxMessage, ["message_id"], rows, returning=(OutboxMessage.message_id,)
        )
        return sorted(result.scalars())


def test_only_the_rows_really_inserted_are_returned(engine: Engine) -> None:
    assert insert(engine, [message("m1"), message("m2")]) == ["m1", "m2"]

    assert insert(engine, [message("m2"), message("m3"), message("m1")]) == ["m3"]

    with transaction(engine) as session:
        stored = session.scalars(select(OutboxMessage.message_id)).all()
    assert sorted(stored) == ["m1", "m2", "m3"]


def test_values_arrive_as_a_single_row_insert_would_store_them(engine: Engine) -> None:
    payload = {"city": "杭州", "provider_id": None, "points": 5000, "nested": {"a": [1, 2]}}
    insert(engine, [message("m1", **payload)])

    with transaction(engine) as session:
        row = session.execute(
            select(OutboxMessage.created_at, OutboxMessage.payload, OutboxMessage.published_at)
        ).one()
    assert row.created_at == NOW  # the same instant, to the microsecond, whatever the zone
    assert row.created_at.utcoffset() == timedelta(0)
    assert row.payload == {"message_id": "m1", **payload}
    assert row.published_at is None  # columns not given keep their defaults


def test_a_naive_instant_is_refused(engine: Engine) -> None:
    naive = {**message("m1"), "created_at": datetime(2026, 11, 26, 10, 0)}
    with pytest.raises(Exception, match="naive datetime"):
        insert(engine, [naive])


def test_no_rows_is_a_caller_error(engine: Engine) -> None:
    with pytest.raises(ValueError, match="at least one row"), transaction(engine) as session:
        insert_new_rows(session, OutboxMessage, ["message_id"], [])


def test_among_selects_exactly_the_given_ids(engine: Engine) -> None:
    insert(engine, [message(f"m{i}") for i in range(5)])
    with transaction(engine) as session:
        ids = {m: i for m, i in session.execute(select(OutboxMessage.message_id, OutboxMessage.id))}
        wanted = [ids["m1"], ids["m3"]]
        found = session.scalars(
            select(OutboxMessage.message_id).where(among(session, OutboxMessage.id, wanted))
        ).all()
        none = session.scalars(
            select(OutboxMessage.id).where(among(session, OutboxMessage.id, []))
        ).all()
    assert sorted(found) == ["m1", "m3"]
    assert none == []


def test_instants_in_other_zones_are_stored_as_the_same_instant(engine: Engine) -> None:
    utc = NOW.astimezone(UTC)
    insert(engine, [{**message("m1"), "created_at": utc}])
    with transaction(engine) as session:
        assert session.scalar(select(OutboxMessage.created_at)) == NOW
