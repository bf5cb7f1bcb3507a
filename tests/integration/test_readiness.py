"""/healthz says the process lives; /readyz says whether the service would do its work: the
database and broker answer, a worker consuming sla.events beats, a scheduler sweeps (real
database, real Redis, the worker's real heartbeat step)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import redis
from celery.utils.timer2 import Timer
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from slamon.api.app import create_app
from slamon.embedded_redis import free_port
from slamon.role_status import write_roles
from slamon.scheduler.sweep_stamp import record_sweep
from slamon.worker.app import create_app as create_worker_app
from slamon.worker.heartbeat import Heartbeat
from slamon.worker.ingest_watermark import UNAPPLIED_KEY
from tests.integration.test_http_events import settings_for

pytestmark = pytest.mark.redis

ALL_OK = {"database": "ok", "broker": "ok", "worker": "ok", "scheduler": "ok", "roles": "ok",
          "judgement": "ok"}


def ready(db_url: str, redis_url: str, tmp_path: Path, **changes: Any) -> tuple[int, Any]:
    with TestClient(create_app(settings_for(db_url, redis_url, tmp_path, **changes))) as client:
        assert client.get("/healthz").json() == {"status": "ok"}  # alive, ready or not
        answer = client.get("/readyz")
    return answer.status_code, answer.json()


@pytest.fixture
def worker_beating(redis_url: str) -> Iterator[Callable[..., None]]:
    """Start the worker's real heartbeat step, consuming the queues named."""
    started: list[tuple[Heartbeat, SimpleNamespace]] = []
    timer = Timer()

    def start(*queues: str) -> None:
        app = create_worker_app(redis_url)
        app.amqp.queues.select(list(queues))  # as `slamon worker --queues …` does
        worker = SimpleNamespace(app=app, hostname="w1@test", timer=timer)
        step = Heartbeat(worker)
        step.start(worker)
        started.append((step, worker))

    yield start
    for step, worker in started:
        step.stop(worker)
    timer.stop()


def test_ready_when_every_role_does_its_work(
    engine: Engine, db_url: str, redis_url: str, tmp_path: Path, worker_beating: Callable[..., None]
) -> None:
    worker_beating("sla.events", "sla.compensation")
    record_sweep(redis.Redis.from_url(redis_url), "scheduler-1", time.time())

    assert ready(db_url, redis_url, tmp_path) == (200, {"status": "ok", "checks": ALL_OK})


def test_not_ready_without_a_worker_or_a_scheduler(
    engine: Engine, db_url: str, redis_url: str, tmp_path: Path
) -> None:
    status, body = ready(db_url, redis_url, tmp_path)
    assert (status, body["status"]) == (503, "unavailable")
    assert body["checks"] == {
        "database": "ok",
        "broker": "ok",
        "worker": "error: no worker consuming sla.events beat (none on record)",
        "scheduler": "error: no scheduler completed a sweep (none on record)",
        "roles": "ok",
        "judgement": "ok",
    }


def test_a_worker_that_does_not_consume_events_does_not_make_it_ready(
    engine: Engine, db_url: str, redis_url: str, tmp_path: Path, worker_beating: Callable[..., None]
) -> None:
    worker_beating("sla.compensation")
    record_sweep(redis.Redis.from_url(redis_url), "scheduler-1", time.time())

    status, body = ready(db_url, redis_url, tmp_path)
    assert status == 503
    assert body["checks"] | {"worker": "?"} == ALL_OK | {"worker": "?"}
    assert body["checks"]["worker"].startswith("error: no worker consuming sla.events")


def test_stale_stamps_are_not_ready_and_say_how_old(
    engine: Engine, db_url: str, redis_url: str, tmp_path: Path
) -> None:
    client = redis.Redis.from_url(redis_url)
    now = time.time()
    client.zadd("slamon:consumers:sla.events", {"w-gone@h": now - 100})
    record_sweep(client, "scheduler-gone", now - 100)

    # Thresholds are settings: 40 s for the worker, 20 intervals of 2 s for the scheduler.
    status, body = ready(db_url, redis_url, tmp_path, ready_worker_within_seconds=40,
                         ready_sweep_intervals=20, scheduler_interval_seconds=2)
    assert status == 503
    assert body["checks"]["worker"] == (
        "error: no worker consuming sla.events beat in the last 40 s (last beat 100 s ago)"
    )
    assert body["checks"]["scheduler"] == (
        "error: no scheduler completed a sweep in the last 40 s (last swept 100 s ago)"
    )
    # The same stamps within wider windows: ready.
    status, body = ready(db_url, redis_url, tmp_path, ready_worker_within_seconds=200,
                         ready_sweep_intervals=200)
    assert (status, body["checks"]) == (200, ALL_OK)


def test_not_ready_while_the_supervisor_restarts_a_role(
    engine: Engine, db_url: str, redis_url: str, tmp_path: Path, worker_beating: Callable[..., None]
) -> None:
    worker_beating("sla.events")
    record_sweep(redis.Redis.from_url(redis_url), "scheduler-1", time.time())
    # As slamon up's supervisor (this process stands in for it) leaves it for a role in backoff.
    write_roles(tmp_path, {"worker": "exited with code 1 (3 in a row), restarting in 2 s"})

    status, body = ready(db_url, redis_url, tmp_path)
    assert status == 503
    assert body["checks"] == ALL_OK | {
        "roles": "error: worker down: exited with code 1 (3 in a row), restarting in 2 s"
    }
    write_roles(tmp_path, {})  # restarted
    assert ready(db_url, redis_url, tmp_path) == (200, {"status": "ok", "checks": ALL_OK})


def test_ready_but_saying_judgement_is_paused_while_ingest_is_behind(
    engine: Engine, db_url: str, redis_url: str, tmp_path: Path, worker_beating: Callable[..., None]
) -> None:
    worker_beating("sla.events")
    client = redis.Redis.from_url(redis_url)
    record_sweep(client, "scheduler-1", time.time())
    client.zadd(UNAPPLIED_KEY, {"m-1": time.time() - 93.6})

    status, body = ready(db_url, redis_url, tmp_path)
    assert status == 200  # the intake stays in rotation: it is not the problem
    assert body["checks"] == ALL_OK | {"judgement": "judgement paused, ingest behind by 94 s"}
    with TestClient(create_app(settings_for(db_url, redis_url, tmp_path))) as api:
        metrics = api.get("/metrics").text
    assert "slamon_ingest_unapplied_messages 1.0" in metrics
    [age] = [line for line in metrics.splitlines()
             if line.startswith("slamon_ingest_watermark_age_seconds ")]
    assert 93 < float(age.split()[1]) < 120


def test_not_ready_names_the_broker_that_is_down(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    status, body = ready(db_url, nowhere, tmp_path)
    assert status == 503
    checks = body["checks"]
    assert checks["database"] == "ok"
    assert checks["broker"].startswith("error")
    assert checks["worker"].startswith("error: cannot read the workers' heartbeats")
    assert checks["scheduler"].startswith("error: cannot read the schedulers' sweeps")


def test_not_ready_names_the_database_that_is_away(
    redis_url: str, tmp_path: Path, worker_beating: Callable[..., None]
) -> None:
    worker_beating("sla.events")
    record_sweep(redis.Redis.from_url(redis_url), "scheduler-1", time.time())
    away = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test?connect_timeout=2"

    status, body = ready(away, redis_url, tmp_path)
    assert status == 503
    assert body["checks"] | {"database": "?"} == ALL_OK | {"database": "?"}
    assert body["checks"]["database"].startswith("error: OperationalError")
