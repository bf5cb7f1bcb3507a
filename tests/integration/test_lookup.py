"""The dashboard's lookups on SQLite and Postgres: search by any id, at risk now, whoami, and
a case's payment history; their auth and their refusals."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert

from slamon.api.app import create_app
from slamon.models.db.engine import snapshot, transaction
from slamon.models.db.lookup import at_risk_now, search_cases
from slamon.models.db.tables import Case, InboxEvent, OutboxMessage
from slamon.models.db.views import case_view
from slamon.settings import Settings
from tests.support.ops_rows import OpsRows

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 26, 15, 0, tzinfo=SH)
M = timedelta(minutes=1)
TOKEN = "lookup-token-0123456789abcdef"
READ_ONLY = "lookup-read-only-0123456789"
PRODUCE_ONLY = "lookup-produce-only-0123456789"


@pytest.fixture
def rows(engine: Engine) -> OpsRows:
    rows = OpsRows(engine, NOW)
    for case_id in ("H-1", "H-2", "H-3"):
        rows.case(case_id)
    with transaction(engine) as session:  # a second case of the same order and buyer
        session.execute(
            Case.__table__.update().where(Case.case_id == "H-2").values(
                order_id="O-H-1", buyer_account="tb-H-1", opened_at=NOW - 30 * M))
        session.execute(insert(InboxEvent), [{
            "event_id": "e-parked", "case_id": "H-PARKED", "type": "help.responded",
            "occurred_at": NOW, "received_at": NOW, "payload": {}, "outcome": "parked",
            "duplicates": 0}])
    rows.deadline("H-1", "response", -2 * M, at_risk_in=-20 * M)  # past due, in its grace
    rows.deadline("H-1", "resolution", 60 * M, at_risk_in=10 * M)  # not at risk yet
    rows.deadline("H-2", "response", 5 * M, at_risk_in=-10 * M)  # at risk
    rows.deadline("H-3", "response", 3 * M, at_risk_in=-1 * M, state="met")  # kept: not listed
    return rows


def test_search_by_every_kind_of_id(engine: Engine, rows: OpsRows) -> None:
    with snapshot(engine) as session:
        by_case = search_cases(session, "H-3", 50, SH)
        by_order = search_cases(session, "O-H-1", 50, SH)
        by_buyer = search_cases(session, "tb-H-1", 50, SH)
        by_merchant = search_cases(session, "M1", 2, SH)
        parked = search_cases(session, "H-PARKED", 50, SH)
        nothing = search_cases(session, "nope", 50, SH)
    assert [(c["case_id"], c["matched"]) for c in by_case] == [("H-3", ["case_id"])]
    # Newest first: H-2 was opened later.
    assert [(c["case_id"], c["matched"]) for c in by_order] == [("H-2", ["order_id"]),
                                                                 ("H-1", ["order_id"])]
    assert [c["case_id"] for c in by_buyer] == ["H-2", "H-1"]
    assert len(by_merchant) == 2 and by_merchant[0]["matched"] == ["merchant_id"]
    assert by_case[0]["opened_at"].endswith("+08:00")
    assert [(c["case_id"], c["status"]) for c in parked] == [("H-PARKED", "not_opened")]
    assert nothing == []


def test_at_risk_now(engine: Engine, rows: OpsRows) -> None:
    with snapshot(engine) as session:
        deadlines = at_risk_now(session, NOW, 100, SH)
        first = at_risk_now(session, NOW, 1, SH)
    assert [(d["case_id"], d["kind"]) for d in deadlines] == [("H-1", "response"),
                                                              ("H-2", "response")]
    assert [d["seconds_left"] for d in deadlines] == [-120.0, 300.0]
    assert deadlines[1]["due_at"] == "2026-11-26T15:05:00+08:00"
    assert deadlines[1]["merchant_id"] == "M1"
    assert first == deadlines[:1]


def test_payment_history_on_the_case(engine: Engine, rows: OpsRows) -> None:
    breach = rows.breach("H-3", "resolution", 5 * M, timedelta(seconds=1))
    rows.compensation(breach, "H-3", "resolution", 30000, "issued")
    with snapshot(engine) as session:
        (comp,) = case_view(session, "H-3", SH)["compensations"]
    with transaction(engine) as session:
        session.execute(insert(OutboxMessage), [
            {"message_id": f"H-3:resolution:{n}", "topic": topic, "case_id": "H-3",
             "payload": {"compensation_id": comp["id"], **extra},
             "created_at": NOW + n * M}
            for n, (topic, extra) in enumerate([
                ("compensation.failed", {"reason": "account frozen"}),
                ("sla.breached", {}),
                ("compensation.issued", {"reference": "G-1"}),
            ])
        ])
    with snapshot(engine) as session:
        view = case_view(session, "H-3", SH)
    (comp,) = view["compensations"]
    assert comp["history"] == [
        {"topic": "compensation.failed", "at": "2026-11-26T15:00:00+08:00",
         "reason": "account frozen", "reference": None},
        {"topic": "compensation.issued", "at": "2026-11-26T15:02:00+08:00",
         "reason": None, "reference": "G-1"},
    ]
    assert view["breaches"][0]["id"] == breach


@pytest.fixture
def client(engine: Engine, rows: OpsRows, db_url: str, tmp_path: Path) -> TestClient:
    settings = Settings(home=tmp_path, database_url=db_url, api_token=TOKEN,
                        api_tokens={READ_ONLY: "read", PRODUCE_ONLY: "produce"})
    return TestClient(create_app(settings))


def _get(client: TestClient, path: str, token: str = TOKEN) -> object:
    return client.get(path, headers={"Authorization": f"Bearer {token}"})


def test_over_http(client: TestClient) -> None:
    found = _get(client, "/v1/search?q=O-H-1", READ_ONLY)
    assert found.status_code == 200
    assert [c["case_id"] for c in found.json()["cases"]] == ["H-2", "H-1"]
    at_risk = _get(client, "/v1/at-risk?limit=5", READ_ONLY).json()
    assert at_risk["now"].endswith("+08:00")
    assert isinstance(at_risk["deadlines"], list)
    assert _get(client, "/v1/whoami", READ_ONLY).json()["roles"] == ["read"]
    assert _get(client, "/v1/whoami").json()["roles"] == ["operate", "produce", "read"]
    assert _get(client, "/v1/whoami", PRODUCE_ONLY).json()["roles"] == ["produce"]


@pytest.mark.parametrize(
    ("path", "token", "status"),
    [
        ("/v1/search?q=H-1", None, 401),
        ("/v1/search?q=H-1", PRODUCE_ONLY, 403),
        ("/v1/at-risk", PRODUCE_ONLY, 403),
        ("/v1/whoami", None, 401),
        ("/v1/whoami", "not-a-token", 401),
        ("/v1/search?q=", TOKEN, 422),
        ("/v1/search?q=" + "x" * 65, TOKEN, 422),
        ("/v1/search?q=H-1&limit=0", TOKEN, 422),
        ("/v1/at-risk?limit=201", TOKEN, 422),
    ],
)
def test_refusals(client: TestClient, path: str, token: str | None, status: int) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.get(path, headers=headers)
    assert response.status_code == status, response.text
    if status == 422:
        assert ("q" if "q=" in path and "limit" not in path else "limit") in response.text
