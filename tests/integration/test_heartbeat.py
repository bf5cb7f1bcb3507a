"""A worker's heartbeat in the broker (real Redis, Celery's own timer): counted while it
beats, gone at a clean stop, no longer counted once it stops beating."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
import redis
from celery.utils.timer2 import Timer

from slamon.worker import heartbeat
from slamon.worker.app import create_app
from slamon.worker.heartbeat import ALIVE_WITHIN_SECONDS, WORKERS_KEY, Heartbeat, alive_workers
from tests.support.processes import wait_for


@pytest.mark.redis
def test_a_worker_is_counted_while_it_beats_and_not_after(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(heartbeat, "BEAT_SECONDS", 0.2)
    client = redis.Redis.from_url(redis_url)
    timer = Timer()
    worker = SimpleNamespace(app=create_app(redis_url), hostname="w1@test", timer=timer)
    step = Heartbeat(worker)
    try:
        step.start(worker)
        assert alive_workers(client, time.time()) == 1
        first = client.zscore(WORKERS_KEY, "w1@test")
        assert first is not None
        wait_for(lambda: (client.zscore(WORKERS_KEY, "w1@test") or 0) > first,
                 timeout=5, what="a second beat")
        # Seen from a minute later, the same stamp is too old: that worker died.
        assert alive_workers(client, time.time() + ALIVE_WITHIN_SECONDS + 1) == 0
    finally:
        step.stop(worker)
        timer.stop()
    assert client.zscore(WORKERS_KEY, "w1@test") is None  # a clean stop says so at once


def test_every_worker_app_has_the_heartbeat_step() -> None:
    assert Heartbeat in create_app("redis://127.0.0.1:1/0").steps["worker"]
