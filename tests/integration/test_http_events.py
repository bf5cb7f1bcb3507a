"""``POST /v1/events`` and ``GET /v1/dead-letters`` on a real database and a real Redis: what a
producer gets back for every kind of request, and that accepted events are really queued."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from slamon.api.app import create_app
from slamon.embedded_redis import free_port
from slamon.settings import Settings
from slamon.worker.ingest import ingest_raw
from tests.support.histories import opened_event
from tests.support.queue import drain_ingest_bodies
from tests.support.runtime import runtime_for

PRODUCE, READ = "produce-token-0123456789", "read-token-0123456789"
MAX_BATCH, SKEW = 5, 60
pytestmark = pytest.mark.redis


def settings_for(db_url: str, redis_url: str, home: Path, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "home": home,
        "database_url": db_url,
        "redis_url": redis_url,
        "api_tokens": {PRODUCE: "produce", READ: "read"},
        "max_batch": MAX_BATCH,
        "max_body_bytes": 4096,
        "max_clock_skew_seconds": SKEW,
    }
    return Settings(**(values | changes))


@pytest.fixture
def client(engine: Engine, db_url: str, redis_url: str, tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(db_url, redis_url, tmp_path))) as test_client:
        yield test_client


def event(n: int, at: datetime | None = None) -> dict[str, Any]:
    return opened_event(f"H{n}", f"e{n}", at or datetime.now(UTC) - timedelta(minutes=5))


def post(client: TestClient, body: Any, token: str | None = PRODUCE, raw: bytes | None = None):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    content = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode()
    return client.post("/v1/events", content=content, headers=headers)


def test_a_batch_is_accepted_with_a_status_per_event_and_queued_as_one_message(
    client: TestClient, engine: Engine, db_url: str, redis_url: str
) -> None:
    response = post(client, [event(1), event(2)])

    assert response.status_code == 202
    assert response.json() == {
        "queued": 2,
        "events": [
            {"event_id": "e1", "status": "queued"},
            {"event_id": "e2", "status": "queued"},
        ],
    }
    [body] = drain_ingest_bodies(redis_url)
    runtime = runtime_for(db_url)
    assert [o.outcome for o in ingest_raw(runtime, body)] == ["applied", "applied"]


def test_one_event_is_accepted(client: TestClient, redis_url: str) -> None:
    response = post(client, event(1))
    assert response.status_code == 202
    assert response.json()["events"] == [{"event_id": "e1", "status": "queued"}]
    assert len(drain_ingest_bodies(redis_url)) == 1


def test_field_errors_name_the_index_and_nothing_is_queued(
    client: TestClient, redis_url: str
) -> None:
    missing = event(2)
    del missing["case_id"]
    naive = event(3) | {"occurred_at": "2026-11-26T10:00:00"}

    response = post(client, [event(1), missing, naive, 7])

    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid events; nothing was queued"
    by_index = {e["index"]: e for e in body["events"]}
    assert set(by_index) == {1, 2, 3}
    assert by_index[1]["event_id"] == "e2"
    assert by_index[1]["errors"] == [{"loc": "case_id", "msg": "required"}]
    assert by_index[2]["errors"][0]["loc"] == "occurred_at"
    assert "offset" in by_index[2]["errors"][0]["msg"]
    assert "must be a JSON object, got number" in by_index[3]["message"]
    assert drain_ingest_bodies(redis_url) == []


def test_an_event_beyond_the_clock_skew_is_refused_and_one_inside_it_accepted(
    client: TestClient, redis_url: str
) -> None:
    now = datetime.now(UTC)
    late = post(client, event(1, now + timedelta(seconds=SKEW + 120)))
    assert late.status_code == 422
    [error] = late.json()["events"][0]["errors"]
    assert error["loc"] == "occurred_at" and "in the future" in error["msg"]
    assert post(client, event(2, now + timedelta(seconds=SKEW / 2))).status_code == 202
    assert len(drain_ingest_bodies(redis_url)) == 1


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "body is not JSON"),
        (b"\xff\xfe\x00", "body is not JSON"),
        (b"[" * 5000 + b"]" * 5000, "body is not JSON"),
        (b"[]", "an empty batch"),
    ],
)
def test_an_unreadable_body_is_a_422(client: TestClient, raw: bytes, message: str) -> None:
    response = post(client, None, raw=raw[:4096])
    assert response.status_code in (413, 422)
    if response.status_code == 422:
        assert message in response.json()["error"]


@pytest.mark.parametrize(
    ("token", "status", "message"),
    [
        (None, 401, "missing bearer token"),
        ("wrong-token-0123456789", 401, "invalid token"),
        (READ, 403, "token lacks the 'produce' role"),
    ],
)
def test_producing_needs_a_produce_token(
    client: TestClient, redis_url: str, token: str | None, status: int, message: str
) -> None:
    response = post(client, event(1), token=token)
    assert response.status_code == status
    assert response.json()["detail"]["error"] == message
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    assert drain_ingest_bodies(redis_url) == []


def test_too_many_events_or_bytes_is_a_413(client: TestClient, redis_url: str) -> None:
    too_many = post(client, [event(n) for n in range(MAX_BATCH + 1)])
    assert too_many.status_code == 413
    assert f"exceeds the limit of {MAX_BATCH}" in too_many.json()["error"]

    too_big = post(client, event(1) | {"buyer_account": "x" * 5000})
    assert too_big.status_code == 413
    assert "larger than 4096 bytes" in too_big.json()["detail"]["error"]
    assert drain_ingest_bodies(redis_url) == []


def test_a_broker_that_is_down_is_a_503_the_producer_can_retry(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    down = f"redis://127.0.0.1:{free_port()}/0"
    with TestClient(create_app(settings_for(db_url, down, tmp_path))) as client:
        response = post(client, event(1))
    assert response.status_code == 503
    assert "could not queue the events, try again" in response.json()["error"]


def test_dead_letters_are_readable_with_a_read_token(
    client: TestClient, engine: Engine, db_url: str
) -> None:
    runtime = runtime_for(db_url)
    [outcome] = ingest_raw(runtime, "{broken")
    headers = {"Authorization": f"Bearer {READ}"}

    listed = client.get("/v1/dead-letters", headers=headers)
    assert listed.status_code == 200
    [letter] = listed.json()
    assert (letter["id"], letter["raw"]) == (outcome.dead_letter_id, "{broken")
    assert "not JSON" in letter["error"]
    shown = client.get(f"/v1/dead-letters/{letter['id']}", headers=headers)
    assert shown.json()["raw"] == "{broken"
    assert client.get("/v1/dead-letters/999", headers=headers).status_code == 404
    assert client.get("/v1/dead-letters").status_code == 401
    assert client.get("/v1/dead-letters?limit=0", headers=headers).status_code == 422
