"""Malformed and hostile payloads (hypothesis) through the real task function and through HTTP,
on SQLite and Postgres: each one ends applied (or parked, duplicate, rejected by the case
lifecycle, all with the inbox row to show it), refused with a 4xx, or dead-lettered with a
reason. Nothing raises, nothing answers 5xx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from slamon.api.app import create_app
from slamon.models.db.engine import transaction
from slamon.models.db.tables import DeadLetter, InboxEvent
from slamon.settings import Settings
from slamon.worker import runtime as runtime_module
from slamon.worker.ingest import IngestOutcome, ingest_raw
from slamon.worker.runtime import Runtime
from tests.support.histories import opened_event
from tests.support.queue import drain_ingest_bodies
from tests.support.runtime import runtime_for

NOW = datetime.now(UTC).replace(microsecond=0)
TOKEN = "fuzz-token-0123456789"
OUTCOMES = {"applied", "parked", "duplicate", "conflict", "rejected", "dead_lettered"}
FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --- payloads ---------------------------------------------------------------------------------

any_text = st.text(st.characters(exclude_categories=()), max_size=30)  # surrogates, NUL, …
nasty_text = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "\ud800",
        "a\nb",
        "x" * 65,
        "y" * 5000,
        "2026-11-26T10:00:00",
        "2026-11-26T10:00:00+08:00",
        (NOW + timedelta(days=2)).isoformat(),
        "9999-12-31T23:59:59+14:00",
        "0001-01-01T00:00:00-12:00",
        "家装家具",
        "送货入户并安装",
        "help.opened",
        "help.reopened",
        "NaN",
        "1e309",
        "-1",
        "0.001",
        "Robert'); DROP TABLE cases;--",
        "F1",
    ]
)
text = st.one_of(any_text, nasty_text)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**30, max_value=10**40),
    st.floats(),
    text,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)


def templates() -> list[dict[str, Any]]:
    at = (NOW - timedelta(hours=1)).isoformat()
    common = {"case_id": "F1", "occurred_at": at}
    return [
        opened_event("F1", "f-open", NOW - timedelta(hours=2)),
        {"event_id": "f-assign", "type": "help.assigned", "provider_id": "P9", **common},
        {"event_id": "f-respond", "type": "help.responded", **common},
        {"event_id": "f-resolve", "type": "help.resolved", **common},
        {"event_id": "f-cancel", "type": "help.cancelled", "reason": "changed mind", **common},
        {"event_id": "f-reopen", "type": "help.reopened", **common},
    ]


@st.composite
def mutated_events(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event, then up to three fields dropped, replaced or added."""
    event = dict(draw(st.sampled_from(templates())))
    event["case_id"] = draw(st.sampled_from(["F1", "F2", "F3"]))
    event["event_id"] = f"{event['event_id']}-{draw(st.integers(0, 5))}"
    for _ in range(draw(st.sampled_from([0, 0, 1, 2, 3]))):
        action = draw(st.sampled_from(["drop", "set", "add"]))
        if action == "drop" and event:
            del event[draw(st.sampled_from(sorted(event)))]
        elif action == "set" and event:
            event[draw(st.sampled_from(sorted(event)))] = draw(json_values)
        else:
            event[draw(text)] = draw(json_values)
    return event


def dumps(value: Any, ascii_only: bool) -> str:
    return json.dumps(value, ensure_ascii=ascii_only)


messages = st.one_of(
    st.builds(dumps, mutated_events(), st.booleans()),
    st.builds(dumps, st.lists(mutated_events() | json_values, max_size=4), st.booleans()),
    st.builds(dumps, json_values, st.booleans()),
    any_text,
    st.binary(max_size=100),
    st.sampled_from(["[" * 5000 + "]" * 5000, '{"a":' * 3000 + "1" + "}" * 3000, "[]", "{}"]),
)

# --- through the task function ----------------------------------------------------------------


@pytest.fixture
def runtime(engine: Engine) -> Iterator[Runtime]:
    rt = runtime_for(engine.url.render_as_string(hide_password=False), lambda: NOW)
    previous = runtime_module._current
    runtime_module.install(rt)
    yield rt
    runtime_module._current = previous


def items_in(message: str | bytes) -> int:
    try:
        data = json.loads(message)
    except (ValueError, RecursionError):
        return 1
    return len(data) if isinstance(data, list) and data else 1


def check_recorded(engine: Engine, outcomes: list[IngestOutcome]) -> None:
    with transaction(engine) as s:
        for outcome in outcomes:
            assert outcome.outcome in OUTCOMES, outcome
            if outcome.outcome == "dead_lettered":
                letter = s.get(DeadLetter, outcome.dead_letter_id)
                assert letter is not None and letter.error and letter.error == outcome.detail
            else:
                row = s.get(InboxEvent, outcome.event_id)
                assert row is not None, outcome
                if outcome.outcome == "conflict":  # the first copy stands; this one is kept
                    letter = s.get(DeadLetter, outcome.dead_letter_id)
                    assert letter is not None and letter.event_id == outcome.event_id, outcome
                    assert row.conflicts >= 1, row.event_id
                elif outcome.outcome != "duplicate":
                    assert row.outcome == outcome.outcome
                if row.outcome in ("parked", "rejected"):
                    assert row.detail, row.event_id


@FUZZ
@given(message=messages)
def test_any_message_through_the_task_ends_recorded(
    runtime: Runtime, engine: Engine, message: str | bytes
) -> None:
    outcomes = ingest_raw(runtime, message)

    for outcome in outcomes:
        event(outcome.outcome)  # --hypothesis-show-statistics: how the payloads ended
    assert len(outcomes) == items_in(message)
    check_recorded(engine, outcomes)


def recorded(engine: Engine) -> int:
    with transaction(engine) as s:
        letters = s.scalar(select(func.count()).select_from(DeadLetter)) or 0
        rows, copies = s.execute(
            select(func.count(), func.coalesce(func.sum(InboxEvent.duplicates), 0))
        ).one()
        return int(letters) + int(rows) + int(copies)


@settings(FUZZ, max_examples=25)
@given(body=st.one_of(messages, json_values))
def test_the_celery_task_records_any_body_and_never_raises(
    runtime: Runtime, engine: Engine, body: Any
) -> None:
    from slamon.worker.tasks import ingest_task

    before = recorded(engine)
    ingest_task(body)  # as a worker runs it: the body may be any JSON value, not only text
    assert recorded(engine) > before


# --- through HTTP -----------------------------------------------------------------------------


@pytest.fixture
def client(engine: Engine, db_url: str, redis_url: str, tmp_path: Path) -> Iterator[TestClient]:
    config = Settings(
        home=tmp_path,
        database_url=db_url,
        redis_url=redis_url,
        api_tokens={TOKEN: "produce"},
        max_batch=10,
        max_body_bytes=64 * 1024,
    )
    with TestClient(create_app(config)) as test_client:
        yield test_client


@pytest.mark.redis
@FUZZ
@given(message=messages)
def test_any_body_over_http_is_queued_or_refused_with_a_4xx(
    client: TestClient, engine: Engine, db_url: str, redis_url: str, message: str | bytes
) -> None:
    content = message.encode("utf-8", "surrogatepass") if isinstance(message, str) else message
    response = client.post(
        "/v1/events", content=content, headers={"Authorization": f"Bearer {TOKEN}"}
    )

    event(f"HTTP {response.status_code}")
    assert response.status_code in (202, 413, 422), response.text
    body = response.json()
    bodies = drain_ingest_bodies(redis_url)
    if response.status_code != 202:
        assert body.get("error") or body.get("detail")
        assert bodies == []
        return
    assert [e["status"] for e in body["events"]] == ["queued"] * body["queued"]
    # What the API accepted, the worker applies: validated events are never dead-lettered.
    runtime = runtime_for(db_url)
    outcomes = [o for queued in bodies for o in ingest_raw(runtime, queued)]
    assert len(outcomes) == body["queued"]
    assert {o.outcome for o in outcomes} <= OUTCOMES - {"dead_lettered"}
    check_recorded(engine, outcomes)
