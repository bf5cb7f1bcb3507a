"""/healthz says the process lives; /readyz says whether the database and broker answer."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from slamon.api.app import create_app
from slamon.embedded_redis import free_port
from tests.integration.test_http_events import settings_for

pytestmark = pytest.mark.redis


def test_ready_when_database_and_broker_answer(
    engine: Engine, db_url: str, redis_url: str, tmp_path: Path
) -> None:
    with TestClient(create_app(settings_for(db_url, redis_url, tmp_path))) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}


def test_not_ready_names_the_broker_that_is_down(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    with TestClient(create_app(settings_for(db_url, nowhere, tmp_path))) as client:
        assert client.get("/healthz").status_code == 200  # alive, though not ready
        ready = client.get("/readyz")
    assert ready.status_code == 503
    body = ready.json()
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("error")
