"""The gate's rules on single messages, and what becomes of a refused message when its dead
letter cannot be written: it is requeued, never acknowledged."""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from slamon.models.dead_letter_causes import Cause
from slamon.worker import consumer as consumer_module
from slamon.worker import runtime as runtime_module
from slamon.worker.consumer import DeadLetteringConsumer
from slamon.worker.message_gate import ARGUMENT_CHECKS, Limits, refusal
from slamon.worker.tasks import compensate_batch_task, compensate_task, ingest_task
from slamon.worker.transport import read_item
from tests.support.runtime import runtime_for

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
LIMITS = Limits(4096, timedelta(seconds=30))
TASKS = {"sla.ingest": ingest_task, "sla.compensate": compensate_task,
         "sla.compensate_batch": compensate_batch_task}
SIGNATURES = {name: inspect.signature(TASKS[name].run) for name in ARGUMENT_CHECKS}


@dataclass
class Message:
    body: bytes = b'[["{}"], {}, {}]'
    headers: Any = field(default_factory=lambda: {"task": "sla.ingest", "id": "t1"})
    content_type: Any = "application/json"
    content_encoding: Any = "utf-8"
    properties: Any = field(default_factory=dict)
    _raw: Any = field(default_factory=dict)
    acked: bool = False
    requeued: bool | None = None

    def ack(self) -> None:
        self.acked = True

    def reject(self, requeue: bool = False) -> None:
        self.requeued = requeue


def cause(message: Message) -> Cause | None:
    refused = refusal(message, NOW, LIMITS, SIGNATURES)
    return None if refused is None else refused.cause


def test_a_well_formed_slamon_message_passes() -> None:
    assert cause(Message()) is None
    assert cause(Message(b"[[7], {}, null]", {"task": "sla.compensate", "id": "t"})) is None
    soon = (NOW + timedelta(seconds=15)).isoformat()
    assert cause(Message(headers={"task": "sla.ingest", "id": "t", "eta": soon})) is None


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (Message(headers={"task": "celery.accumulate", "id": "t"}), Cause.FOREIGN_TASK),
        (Message(headers={"task": "sla.ingest", "id": "t", "expires": "2026-11-26T09:59:59Z"}),
         Cause.EXPIRED),
        (Message(headers={"task": "sla.ingest", "id": "t", "eta": "2026-11-26T10:01:00Z"}),
         Cause.ETA_TOO_FAR),
        (Message(headers={"task": "sla.ingest", "id": "t", "timelimit": 5}), Cause.BAD_HEADERS),
        (Message(headers=None), Cause.BAD_HEADERS),
        (Message(content_type="application/x-python-serialize"), Cause.BAD_CONTENT_TYPE),
        (Message(content_type=None), Cause.BAD_CONTENT_TYPE),
        (Message(body=b"x" * 5000), Cause.TOO_LARGE),
        (Message(body=b"5"), Cause.BAD_ARGUMENTS),
        (Message(body=b'[["a", "b"], {}, {}]'), Cause.BAD_ARGUMENTS),
        (Message(body=b'[["a"], {"x": 1}, {}]'), Cause.BAD_ARGUMENTS),
        (Message(b'[["7"], {}, {}]', {"task": "sla.compensate", "id": "t"}), Cause.BAD_ARGUMENTS),
        (Message(body=b'[["a"], {}, {"callbacks": [{}]}]'), Cause.LINKED_TASKS),
        (Message(properties={"slamon_unreadable": "not JSON"}), Cause.BAD_ENVELOPE),
    ],
)
def test_the_gate_refuses_with_the_cause(message: Message, expected: Cause) -> None:
    assert cause(message) == expected


def test_an_ingest_message_refused_keeps_its_events_text_for_replay() -> None:
    text = json.dumps({"event_id": "e1"})
    message = Message(json.dumps([[text], {}, {}]).encode(),
                      {"task": "sla.ingest", "id": "t", "expires": "2001-01-01T00:00:00Z"})
    refused = refusal(message, NOW, LIMITS, SIGNATURES)
    assert refused is not None and refused.raw == text and refused.event_id == "t"


def test_an_unreadable_queue_item_is_wrapped_with_its_bytes() -> None:
    envelope = read_item(b"\xffnot json", "sla.events")
    assert envelope["properties"]["slamon_unreadable"].startswith("the queue item is not UTF-8")
    assert envelope["properties"]["delivery_info"]["routing_key"] == "sla.events"
    readable = {"body": "", "properties": {"delivery_tag": "t", "delivery_info": {
        "exchange": "", "routing_key": "sla.events"}}}
    assert read_item(json.dumps(readable).encode(), "sla.events") == readable


def test_a_dead_letter_that_cannot_be_written_leaves_the_message_queued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A database that cannot be opened (its directory does not exist): no socket needed.
    runtime_module.install(runtime_for(f"sqlite:///{tmp_path}/missing/db.sqlite"))
    monkeypatch.setattr(consumer_module, "REQUEUE_PAUSE_SECONDS", 0)
    consumer = DeadLetteringConsumer.__new__(DeadLetteringConsumer)
    message = Message()
    consumer._dead_letter(message, "raw", "reason", Cause.BAD_HEADERS)
    assert message.requeued is True and not message.acked


def test_sla_ingest_requeues_a_message_whose_dead_letter_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from celery.exceptions import Reject

    from slamon.worker import ingest, tasks

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("a defect")

    runtime_module.install(runtime_for("sqlite://"))
    monkeypatch.setattr(ingest, "ingest_raw", broken)  # a defect while ingesting
    monkeypatch.setattr(ingest, "dead_letter", broken)  # and the dead letter fails too
    monkeypatch.setattr(tasks, "REQUEUE_PAUSE_SECONDS", 0)
    with pytest.raises(Reject) as rejected:
        ingest_task.run('{"event_id": "e1"}')
    assert rejected.value.requeue is True  # back on the queue, not acknowledged and lost
