"""One retry policy for every task (SlamonTask): transient database errors are retried after a
capped, jittered exponential backoff, for as long as it takes; nothing else is retried."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from celery.exceptions import Retry
from sqlalchemy.exc import InterfaceError, OperationalError

from slamon.worker import ingest, ingest_watermark, runtime
from slamon.worker.app import QUEUES, app
from slamon.worker.task_base import RETRY_BACKOFF_MAX, SlamonTask
from slamon.worker.tasks import ingest_task


def test_every_task_has_the_one_policy() -> None:
    tasks = [task for name, task in app.tasks.items() if name.startswith("sla.")]
    assert sorted(t.name for t in tasks) == ["sla.compensate", "sla.compensate_batch", "sla.ingest"]
    for task in tasks:
        assert isinstance(task, SlamonTask)
        assert task.autoretry_for == (OperationalError, InterfaceError)
        assert (task.max_retries, task.acks_late, task.retry_jitter) == (None, True, True)
        assert task.retry_backoff_max == RETRY_BACKOFF_MAX == 15


def test_every_route_names_a_task_and_every_queue_has_a_task() -> None:
    tasks = {name for name in app.tasks if name.startswith("sla.")}
    routes = app.conf.task_routes
    assert set(routes) == tasks
    assert {route["queue"] for route in routes.values()} == set(QUEUES)
    assert {queue.name for queue in app.conf.task_queues} == set(QUEUES)


def test_a_transient_error_is_retried_after_a_capped_jittered_backoff(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def down(*_args: object, **_kwargs: object) -> None:
        raise OperationalError("SELECT 1", {}, Exception("the database system is starting up"))

    countdowns: dict[int, list[float]] = {}

    def capture(*, exc: BaseException, countdown: float, **_kwargs: Any) -> Retry:
        countdowns.setdefault(ingest_task.request.retries, []).append(countdown)
        return Retry("retry", exc)

    monkeypatch.setattr(runtime, "current", lambda: None)
    monkeypatch.setattr(ingest, "ingest_raw", down)
    monkeypatch.setattr(ingest_task, "retry", capture)
    for retries in (0, 3, 6, 20):
        for _ in range(30):
            ingest_task.push_request(retries=retries)
            try:
                with pytest.raises(Retry):
                    ingest_task.run('{"event_id": "e1"}')
            finally:
                ingest_task.pop_request()
    for retries, seen in countdowns.items():
        assert all(0 <= c <= min(2**retries, RETRY_BACKOFF_MAX) for c in seen), (retries, seen)
    assert len(set(countdowns[20])) > 1  # jittered, not one fixed delay
    assert max(countdowns[20]) > 8  # drawn up to the cap: 30 draws all <= 8 is ~1e-8


def test_a_retry_is_logged_as_a_warning_and_the_task_runs_again(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []

    def down_once(_runtime: object, raw: str, **_kwargs: object) -> None:
        calls.append(raw)
        if len(calls) == 1:
            raise InterfaceError("SELECT 1", {}, Exception("connection already closed"))

    monkeypatch.setattr(runtime, "current", lambda: None)
    monkeypatch.setattr(ingest, "ingest_raw", down_once)
    # No broker in a unit test: the watermark's ledger (a Redis call once applied) is not
    # what this test is about.
    monkeypatch.setattr(ingest_watermark, "forget", lambda *_args: None)
    with caplog.at_level(logging.WARNING, "slamon.tasks"):
        result = ingest_task.apply(args=['{"event_id": "e1"}'])  # eager: the retry runs at once
    assert result.successful() and calls == ['{"event_id": "e1"}'] * 2
    [record] = [r for r in caplog.records if r.name == "slamon.tasks"]
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert message.startswith("sla.ingest ") and ": retry 1: " in message
    assert "connection already closed" in message
