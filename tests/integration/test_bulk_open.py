"""The bulk opening path (worker/bulk_open.py) stores exactly what the one-by-one path stores,
and takes only the openings that depend on nothing else (SQLite and Postgres)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select

from slamon.models.db.engine import transaction
from slamon.models.db.tables import Case, Deadline, InboxEvent
from slamon.worker import bulk_open, ingest
from slamon.worker.ingest import ingest_raw
from slamon.worker.runtime import Runtime
from tests.support.runtime import runtime_for

SH = ZoneInfo("Asia/Shanghai")
OPENED_AT = datetime(2026, 11, 26, 17, 30, tzinfo=SH)
NOW = datetime(2026, 11, 26, 18, 0, tzinfo=SH)


@pytest.fixture
def runtime(engine: Engine) -> Runtime:
    return runtime_for(engine.url.render_as_string(hide_password=False), lambda: NOW)


def event(p: str, type_: str, eid: str, case: str, at: datetime, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": f"{p}{eid}",
        "type": type_,
        "case_id": f"{p}{case}",
        "occurred_at": at.isoformat(),
    }
    if type_ == "help.opened":
        body.update(
            order_id="O1",
            buyer_account="tb_buyer_1",
            merchant_id="M1",
            provider_id="P1",
            category="家装家具",
            services=["送货入户并安装"],
            item_price="1299.00",
        )
    return body | extra


def scenario(p: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(events sent before, the batch): every kind of opening the bulk path must tell apart."""
    at = OPENED_AT
    earlier = [
        event(p, "help.responded", "c2", "C", at + timedelta(minutes=5)),  # C has a parked event
        event(p, "help.opened", "d1", "D", at),  # D is stored
        event(p, "help.opened", "f1", "F", at),  # f1 is known to the inbox
    ]
    batch = [
        event(p, "help.opened", "a1", "A", at),  # independent, monitored
        event(p, "help.opened", "g1", "G", at, category="toys", services=["gift_wrap"]),
        event(p, "help.opened", "h1", "H", datetime(2010, 1, 4, 10, tzinfo=SH)),  # no policy
        event(p, "help.opened", "b1", "B", at),  # with another event of its case
        event(p, "help.responded", "b2", "B", at + timedelta(minutes=1)),
        event(p, "help.opened", "c1", "C", at),  # its case has a parked event
        event(p, "help.opened", "d2", "D", at),  # a second opening
        event(p, "help.opened", "e1", "E", at),  # twice in the batch
        event(p, "help.opened", "e1", "E", at),
        event(p, "help.opened", "f1", "F", at),  # a known event id
    ]
    return earlier, batch


def send(runtime: Runtime, events: list[dict[str, Any]]) -> list[ingest.IngestOutcome]:
    return ingest_raw(runtime, json.dumps(events, ensure_ascii=False))


def stored(engine: Engine, p: str) -> dict[str, Any]:
    """Every row the scenario left, by id, with the prefix taken out of the ids."""

    def plain(row: Any, *skip: str) -> dict[str, Any]:
        return {
            k: str(v).removeprefix(p) if k in {"case_id", "event_id"} else v
            for k, v in vars(row).items()
            if not k.startswith("_") and k not in skip
        }

    with transaction(engine) as s:
        cases = s.scalars(select(Case).where(Case.case_id.startswith(p)))
        deadlines = s.scalars(select(Deadline).where(Deadline.case_id.startswith(p)))
        inbox = s.scalars(select(InboxEvent).where(InboxEvent.case_id.startswith(p)))
        return {
            "cases": {c.case_id.removeprefix(p): plain(c) for c in cases},
            "deadlines": {(d.case_id.removeprefix(p), d.kind): plain(d, "id") for d in deadlines},
            "inbox": {e.event_id.removeprefix(p): plain(e, "payload") for e in inbox},
        }


def test_bulk_path_stores_what_the_one_by_one_path_stores(
    runtime: Runtime, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken: list[str] = []
    real_open = ingest.open_new_cases

    def spy(*args: Any) -> dict[str, bulk_open.Opened]:
        opened = real_open(*args)
        taken.extend(opened)
        return opened

    monkeypatch.setattr(ingest, "open_new_cases", spy)
    earlier, batch = scenario("X")
    send(runtime, earlier)
    taken.clear()
    bulk = send(runtime, batch)
    # The bulk path took exactly the independent openings; the rest went one by one.
    assert sorted(taken) == ["Xa1", "Xg1", "Xh1"]

    monkeypatch.setattr(ingest, "independent_openings", lambda *_: [])
    earlier, batch = scenario("Y")
    send(runtime, earlier)
    one_by_one = send(runtime, batch)

    def plain(outcomes: list[ingest.IngestOutcome], p: str) -> list[tuple[Any, ...]]:
        return [(str(o.event_id).removeprefix(p), o.outcome, o.detail) for o in outcomes]

    assert plain(bulk, "X") == plain(one_by_one, "Y")
    assert stored(engine, "X") == stored(engine, "Y")
    assert [o.outcome for o in bulk] == [
        "applied", "applied", "rejected", "applied", "applied", "applied", "rejected",
        "applied", "duplicate", "duplicate",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param({"status": None}, id="integrity-error"),  # NOT NULL: the database refuses
        # A value neither psycopg nor sqlite3 can send: a ProgrammingError, not retried either.
        pytest.param({"city": object()}, id="programming-error"),
    ],
)
def test_a_refused_bulk_insert_falls_back_to_one_by_one(
    runtime: Runtime, engine: Engine, monkeypatch: pytest.MonkeyPatch, broken: dict[str, Any]
) -> None:
    real_rows = bulk_open.opening_rows

    def broken_rows(*args: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        case, deadlines = real_rows(*args)
        return case | broken, deadlines

    monkeypatch.setattr(bulk_open, "opening_rows", broken_rows)
    _, batch = scenario("Z")
    outcomes = send(runtime, batch[:3])
    assert [o.outcome for o in outcomes] == ["applied", "applied", "rejected"]
    with transaction(engine) as s:
        statuses = s.scalars(select(Case.status).where(Case.case_id.startswith("Z"))).all()
        assert sorted(statuses) == ["open", "open"]

