"""A message the consumer dead-letters before its task runs leaves the ingest watermark's
ledger too (the task, which would have done it, never runs); one that cannot be dead-lettered
is requeued and stays on it."""

from __future__ import annotations

from typing import Any

import pytest

from slamon.worker import consumer, ingest, ingest_watermark, runtime
from slamon.worker.app import app
from slamon.worker.consumer import DeadLetteringConsumer


class Message:
    def __init__(self, task_id: Any) -> None:
        self.headers = {"id": task_id, "task": "sla.ingest"}
        self.body = b"{}"
        self.acked = self.requeued = False

    def ack(self) -> None:
        self.acked = True

    def reject(self, requeue: bool) -> None:
        self.requeued = requeue


@pytest.fixture
def forgotten(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    monkeypatch.setattr(runtime, "current", lambda: None)
    monkeypatch.setattr(ingest_watermark, "forget", lambda _url, task_id: seen.append(task_id))
    monkeypatch.setattr(consumer, "REQUEUE_PAUSE_SECONDS", 0)
    return seen


def _consumer() -> DeadLetteringConsumer:
    it = DeadLetteringConsumer.__new__(DeadLetteringConsumer)  # no broker connection
    it.app = app
    return it


def test_a_dead_lettered_message_leaves_the_ledger(
    monkeypatch: pytest.MonkeyPatch, forgotten: list[str]
) -> None:
    monkeypatch.setattr(ingest, "dead_letter", lambda *_args: None)
    message = Message("m-1")
    _consumer()._dead_letter(message, "{}", "too large", consumer.Cause.TOO_LARGE)
    assert message.acked and forgotten == ["m-1"]


def test_an_id_of_the_wrong_type_is_not_looked_up(
    monkeypatch: pytest.MonkeyPatch, forgotten: list[str]
) -> None:
    monkeypatch.setattr(ingest, "dead_letter", lambda *_args: None)
    message = Message({"not": "an id"})
    _consumer()._dead_letter(message, "{}", "bad headers", consumer.Cause.BAD_HEADERS)
    assert message.acked and forgotten == []


def test_a_message_that_cannot_be_dead_lettered_stays_on_the_ledger(
    monkeypatch: pytest.MonkeyPatch, forgotten: list[str]
) -> None:
    def down(*_args: object) -> None:
        raise RuntimeError("database away")

    monkeypatch.setattr(ingest, "dead_letter", down)
    message = Message("m-2")
    _consumer()._dead_letter(message, "{}", "too large", consumer.Cause.TOO_LARGE)
    assert message.requeued and not message.acked and forgotten == []
