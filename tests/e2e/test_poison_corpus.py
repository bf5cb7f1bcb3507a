"""A storm of hostile broker messages, pushed raw onto ``sla.events`` of a real Redis, against a
real ``slamon worker``: each one becomes exactly one dead letter naming its cause, the worker
is the same process at the end, and a valid event sent after the storm is applied."""

from __future__ import annotations

import base64
import json
import pickle
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import Engine, func, select

from slamon.models.db.engine import transaction
from slamon.models.db.tables import Case, DeadLetter
from slamon.sdk import Producer
from slamon.worker.app import EVENTS_QUEUE
from slamon.worker.message_gate import HEADER_TYPES
from tests.support.processes import role_env, role_process, wait_for

NOW = datetime.now(UTC)


def event(case_id: str = "H-P0") -> str:
    return json.dumps({
        "event_id": f"e-{uuid.uuid4()}", "type": "help.opened", "case_id": case_id,
        "occurred_at": (NOW - timedelta(minutes=1)).isoformat(), "order_id": "O1",
        "buyer_account": "tb_1", "merchant_id": "M1", "category": "lighting",
        "services": ["预约安装"],
    })


def headers(**changes: Any) -> dict[str, Any]:
    task_id = str(uuid.uuid4())
    base: dict[str, Any] = {
        "lang": "py", "task": "sla.ingest", "id": task_id, "shadow": None, "eta": None,
        "expires": None, "group": None, "group_index": None, "retries": 0,
        "timelimit": [None, None], "root_id": task_id, "parent_id": None, "argsrepr": "('…',)",
        "kwargsrepr": "{}", "origin": "gen1@corpus", "ignore_result": True,
        "replaced_task_nesting": 0, "stamped_headers": None, "stamps": {},
    }
    return base | changes


EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def body(args: Any = None, kwargs: Any = None, embed: Any = EMBED) -> bytes:
    return json.dumps([[event()] if args is None else args, kwargs or {}, embed]).encode()


def item(
    data: bytes | None = None,
    head: dict[str, Any] | None = None,
    content_type: Any = "application/json",
    encoding: Any = "utf-8",
    **properties: Any,
) -> bytes:
    """A queue item as kombu writes one (an envelope around a base64 body)."""
    props: dict[str, Any] = {
        "correlation_id": "x", "delivery_mode": 2, "priority": 0, "body_encoding": "base64",
        "delivery_info": {"exchange": "", "routing_key": EVENTS_QUEUE},
        "delivery_tag": str(uuid.uuid4()),
    }
    props.update(properties)
    envelope = {
        "body": base64.b64encode(body() if data is None else data).decode(),
        "content-encoding": encoding, "content-type": content_type,
        "headers": headers() if head is None else head, "properties": props,
    }
    return json.dumps(envelope).encode()


def envelope_with(**changes: Any) -> bytes:
    envelope = json.loads(item())
    for key, value in changes.items():
        if value is ...:
            envelope.pop(key)
        else:
            envelope[key] = value
    return json.dumps(envelope).encode()


def future(days: float) -> str:
    return (NOW + timedelta(days=days)).isoformat()


WRONG_HEADER_VALUES: dict[str, Any] = {
    "lang": 5, "id": {"a": 1}, "root_id": 7, "parent_id": [1], "group": {}, "group_index": "1",
    "meth": 3, "shadow": 4, "eta": "next tuesday", "expires": 12, "retries": -1,
    "timelimit": [1, 2, 3], "argsrepr": 1, "kwargsrepr": [], "origin": 2,
    "ignore_result": "yes", "replaced_task_nesting": "0", "stamped_headers": "x", "stamps": [],
}


def corpus() -> list[tuple[str, bytes, str]]:
    """(name, queue item, the cause its dead letter must name)."""
    cases: list[tuple[str, bytes, str]] = [
        # The families.
        *[(f"body {b}", item(b.encode()), "bad_arguments")
          for b in ("5", "null", '{"a": 1}', "[1, 2, 3]", '"text"')],
        ("task header a list", item(head=headers(task=["sla.ingest"])), "bad_headers"),
        ("task header null", item(head=headers(task=None)), "bad_headers"),
        ("id header a dict", item(head=headers(id={"x": 1})), "bad_headers"),
        ("timelimit not a pair", item(head=headers(timelimit=5)), "bad_headers"),
        ("timelimit a string", item(head=headers(timelimit="1,2")), "bad_headers"),
        ("content type application/data", item(content_type="application/data"),
         "bad_content_type"),
        ("raw item not JSON", b"this is not json {", "bad_envelope"),
        ("ingest without arguments", item(body(args=[])), "bad_arguments"),
        ("ingest with two arguments", item(body(args=["a", "b"])), "bad_arguments"),
        ("ingest with unknown kwargs", item(body(kwargs={"priority": 1})), "bad_arguments"),
        ("ingest body and kwargs body", item(body(kwargs={"body": "x"})), "bad_arguments"),
        ("body not [args, kwargs, embed]", item(json.dumps([[event()], {}]).encode()),
         "bad_arguments"),
        ("args not a list", item(json.dumps(["x", {}, EMBED]).encode()), "bad_arguments"),
        ("kwargs not a dict", item(json.dumps([["x"], [], EMBED]).encode()), "bad_arguments"),
        ("no content type", item(content_type=None), "bad_content_type"),
        ("expired", item(head=headers(expires=future(-1 / 24))), "expired"),
        ("expired long ago", item(head=headers(expires="2001-01-01T00:00:00+00:00")), "expired"),
        ("compensate with text", item(body(args=["abc"]), headers(task="sla.compensate")),
         "bad_arguments"),
        ("compensate with -1", item(body(args=[-1]), headers(task="sla.compensate")),
         "bad_arguments"),
        ("compensate past 64 bits", item(body(args=[2**64]), headers(task="sla.compensate")),
         "bad_arguments"),
        ("compensate with true", item(body(args=[True]), headers(task="sla.compensate")),
         "bad_arguments"),
        ("compensate batch empty", item(body(args=[[]]), headers(task="sla.compensate_batch")),
         "bad_arguments"),
        ("compensate batch of text",
         item(body(args=[["1"]]), headers(task="sla.compensate_batch")), "bad_arguments"),
        ("envelope without properties", envelope_with(properties=...), "bad_envelope"),
        *[(f"built-in {name}", item(body(args=[]), headers(task=name)), "foreign_task")
          for name in ("celery.accumulate", "celery.backend_cleanup", "celery.chord_unlock",
                       "celery.group", "celery.chain", "celery.map", "celery.starmap")],
        ("an unknown task", item(head=headers(task="sla.no_such_task")), "foreign_task"),
        ("eta in 9999", item(head=headers(eta="9999-12-31T23:59:59+00:00")), "eta_too_far"),
        ("eta a day ahead", item(head=headers(eta=future(1))), "eta_too_far"),
        # Every protocol-2 header with a wrong type.
        *[(f"header {name} wrong", item(head=headers(**{name: value})), "bad_headers")
          for name, value in WRONG_HEADER_VALUES.items()],
        # Protocol 1 shapes.
        ("protocol 1", item(json.dumps({"task": "sla.ingest", "id": "p1", "args": [event()],
                                        "kwargs": {}}).encode(), {}), "bad_headers"),
        ("protocol 1, headers null",
         json.dumps(json.loads(item(json.dumps({"task": "sla.ingest"}).encode(), {}))
                    | {"headers": None}).encode(), "bad_headers"),
        # Encodings.
        ("body not base64", envelope_with(body="%%% not base64 %%%"), "bad_envelope"),
        ("body_encoding unknown", item(body_encoding="rot13"), "bad_envelope"),
        ("item not UTF-8", b'{"body": "\xff\xfe", "properties": {}}', "bad_envelope"),
        ("body not UTF-8", item(b"\xff\xfe\xfd"), "bad_arguments"),
        ("content-encoding binary", item(encoding="binary"), "bad_content_type"),
        ("content type a number", item(content_type=5), "bad_envelope"),
        ("headers a list", envelope_with(headers=["task"]), "bad_envelope"),
        ("delivery_info missing", item(delivery_info=None), "bad_envelope"),
        ("priority text", item(priority="high"), "bad_envelope"),
        ("delivery_tag a number", item(delivery_tag=5), "bad_envelope"),
        ("item a JSON number", b"5", "bad_envelope"),
        ("item JSON null", b"null", "bad_envelope"),
        ("item an empty string", b"", "bad_envelope"),
        # Size and depth.
        ("a 5 MB body", item(body(args=["x" * 5_000_000])), "too_large"),
        ("a 3 MB item not JSON", b"\x00garbage" * 400_000, "bad_envelope"),
        ("a body nested 100,000 deep", item(b"[" * 100_000 + b"]" * 100_000), "bad_arguments"),
        ("an item nested 100,000 deep", b"[" * 100_000 + b"]" * 100_000, "bad_envelope"),
        # Serializers slamon never reads.
        ("pickle", item(pickle.dumps(([event()], {}, EMBED)),
                        content_type="application/x-python-serialize", encoding="binary"),
         "bad_content_type"),
        ("yaml", item(b"- [x]\n- {}\n- {}\n", content_type="application/x-yaml"),
         "bad_content_type"),
        ("msgpack", item(b"\x93\x91\xa1x\x80\x80", content_type="application/x-msgpack",
                         encoding="binary"), "bad_content_type"),
        # Links to other tasks.
        ("a callback", item(body(embed=EMBED | {"callbacks": [{"task": "celery.accumulate"}]})),
         "linked_tasks"),
        ("a chord", item(body(embed=EMBED | {"chord": {"task": "celery.chord_unlock"}})),
         "linked_tasks"),
    ]
    assert set(WRONG_HEADER_VALUES) == set(HEADER_TYPES), "one wrong value for every header"
    return cases


def letters_by_cause(engine: Engine) -> Counter[str]:
    with transaction(engine) as s:
        return Counter(dict(s.execute(select(DeadLetter.cause, func.count())
                                      .group_by(DeadLetter.cause)).all()))


@pytest.mark.redis
def test_hostile_broker_messages_become_dead_letters(
    engine: Engine, db_url: str, redis_url: str, tmp_path: Path
) -> None:
    cases = corpus()
    assert len(cases) >= 50
    expected = Counter(cause for _, _, cause in cases)
    env = role_env(db_url, redis_url, tmp_path / "home")
    log = tmp_path / "worker.log"
    client = redis.Redis.from_url(redis_url)
    with role_process("worker", env, log, "--concurrency", "1") as worker:
        pid = worker.pid
        for _, raw, _ in cases:
            client.lpush(EVENTS_QUEUE, raw)
        counts = wait_for(
            lambda: (c := letters_by_cause(engine)).total() >= len(cases) and c,
            timeout=120, what=f"{len(cases)} dead letters",
        )
        print(f"\n{len(cases)} hostile messages -> dead letters by cause: {dict(counts)}")
        with Producer(redis_url) as producer:  # and a valid event after the storm is applied
            producer.publish_raw(event("H-AFTER"))
            wait_for(lambda: _case_exists(engine, "H-AFTER"), timeout=60,
                     what="the valid event after the storm")
        assert counts == expected, log.read_text(errors="replace")[-5000:]
        assert worker.poll() is None and worker.pid == pid, "the worker survived the storm"
        assert client.llen(EVENTS_QUEUE) == 0
    with transaction(engine) as s:
        letters = list(s.scalars(select(DeadLetter)))
    assert all(letter.error and letter.raw is not None for letter in letters)
    raws = " ".join(letter.raw[:200] for letter in letters)
    assert "this is not json {" in raws  # the raw item is kept
    assert any(letter.raw.startswith("base64:") for letter in letters)  # bytes kept as base64


def _case_exists(engine: Engine, case_id: str) -> bool:
    with transaction(engine) as s:
        return s.get(Case, case_id) is not None
