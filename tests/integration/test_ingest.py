"""Ingest against a real database (SQLite and Postgres): the case history comes out right
whatever the producers do — duplicates, disorder, late and invalid events."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from slamon.models.db.engine import transaction
from slamon.models.db.tables import Case, DeadLetter, Deadline, InboxEvent
from slamon.models.db.views import case_view
from slamon.worker import ingest as ingest_module
from slamon.worker.ingest import ingest_raw
from slamon.worker.runtime import Runtime
from tests.support.runtime import Clock, runtime_for

SH = ZoneInfo("Asia/Shanghai")
OPENED_AT = datetime(2026, 11, 26, 17, 30, tzinfo=SH)
NOW = datetime(2026, 11, 26, 17, 31, tzinfo=SH)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def runtime(engine: Engine, clock: Clock) -> Runtime:
    return runtime_for(engine.url.render_as_string(hide_password=False), clock)


def event(type_: str, event_id: str, at: datetime, case_id: str = "H1", **extra: Any) -> str:
    body: dict[str, Any] = {
        "event_id": event_id,
        "type": type_,
        "case_id": case_id,
        "occurred_at": at.isoformat(),
    }
    if type_ == "help.opened":
        body.update(
            order_id="O1",
            buyer_account="tb_buyer_1",
            merchant_id="M1",
            category="家装家具",
            services=["送货入户并安装"],
            item_price="1299.00",
        )
    body.update(extra)
    return json.dumps(body, ensure_ascii=False)


def deadlines(engine: Engine, case_id: str = "H1") -> dict[str, Deadline]:
    with transaction(engine) as s:
        return {d.kind: d for d in s.scalars(select(Deadline).where(Deadline.case_id == case_id))}


def outcome_of(engine: Engine, event_id: str) -> InboxEvent:
    with transaction(engine) as s:
        row = s.get(InboxEvent, event_id)
        assert row is not None
        return row


def test_opened_case_gets_business_time_deadlines(runtime: Runtime, engine: Engine) -> None:
    [result] = ingest_raw(runtime, event("help.opened", "e1", OPENED_AT))
    assert result.outcome == "applied"
    due = deadlines(engine)
    assert due["response"].due_at == datetime(2026, 11, 27, 9, 30, tzinfo=SH)
    assert due["resolution"].due_at == OPENED_AT + timedelta(hours=48)
    assert due["response"].judge_at == due["response"].due_at + timedelta(seconds=60)
    assert due["response"].points == 5000 and due["resolution"].points == 30000
    with transaction(engine) as s:
        case = s.get(Case, "H1")
        assert case is not None
        assert (case.status, case.monitored, case.policy_id) == ("open", True, "tmall-2022")
        assert case.services == ["delivery_and_installation"] and case.category == "furniture"


def test_every_event_three_times_changes_nothing_twice(runtime: Runtime, engine: Engine) -> None:
    for _ in range(3):
        ingest_raw(runtime, event("help.opened", "e1", OPENED_AT))
        ingest_raw(runtime, event("help.responded", "e2", OPENED_AT + timedelta(minutes=5)))
    assert outcome_of(engine, "e1").duplicates == 2
    assert outcome_of(engine, "e2").outcome == "applied"
    assert outcome_of(engine, "e2").duplicates == 2
    assert deadlines(engine)["response"].state == "met"
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(InboxEvent)) == 2


def test_events_before_the_opening_are_parked_then_applied_in_event_time_order(
    runtime: Runtime, engine: Engine, clock: Clock
) -> None:
    clock.now = OPENED_AT + timedelta(days=1)
    resolved = ingest_raw(runtime, event("help.resolved", "e3", OPENED_AT + timedelta(hours=20)))
    responded = ingest_raw(runtime, event("help.responded", "e2", OPENED_AT + timedelta(hours=1)))
    assert [r.outcome for r in resolved + responded] == ["parked", "parked"]
    ingest_raw(runtime, event("help.opened", "e1", OPENED_AT))
    assert outcome_of(engine, "e2").outcome == "applied"
    assert outcome_of(engine, "e3").outcome == "applied"
    due = deadlines(engine)
    # The opening arrives last, yet the response (18:30) met its 09:30-next-day deadline.
    assert due["response"].state == "met"
    assert due["response"].met_at == OPENED_AT + timedelta(hours=1)
    assert due["resolution"].state == "met"
    with transaction(engine) as s:
        case = s.get(Case, "H1")
        assert case is not None and case.status == "resolved"


def test_evidence_is_judged_by_event_time_not_arrival(
    runtime: Runtime, engine: Engine, clock: Clock
) -> None:
    ingest_raw(runtime, event("help.opened", "e1", OPENED_AT))
    due = deadlines(engine)["response"].due_at
    clock.now = due + timedelta(seconds=30)  # arrives after the due instant
    ingest_raw(runtime, event("help.responded", "e2", due))  # but happened exactly at it
    assert deadlines(engine)["response"].state == "met"


def test_late_response_leaves_the_deadline_to_be_judged(
    runtime: Runtime, engine: Engine, clock: Clock
) -> None:
    ingest_raw(runtime, event("help.opened", "e1", OPENED_AT))
    due = deadlines(engine)["response"].due_at
    clock.now = due + timedelta(minutes=10)
    ingest_raw(runtime, event("help.responded", "e2", due + timedelta(microseconds=1)))
    response = deadlines(engine)["response"]
    assert response.state == "pending"
    assert response.met_at == due + timedelta(microseconds=1)


def test_cancel_before_due_cancels_pending_deadlines(runtime: Runtime, engine: Engine) -> None:
    ingest_raw(runtime, event("help.opened", "e1", OPENED_AT))
    ingest_raw(runtime, event("help.cancelled", "e2", OPENED_AT + timedelta(minutes=1)))
    assert {d.state for d in deadlines(engine).values()} == {"cancelled"}


def test_illegal_transition_is_recorded_not_raised(runtime: Runtime, engine: Engine) -> None:
    ingest_raw(runtime, event("help.opened", "e1", OPENED_AT))
    ingest_raw(runtime, event("help.cancelled", "e2", OPENED_AT + timedelta(minutes=1)))
    [result] = ingest_raw(runtime, event("help.responded", "e3", OPENED_AT + timedelta(minutes=2)))
    assert result.outcome == "rejected"
    assert result.detail and "cancelled" in result.detail
    assert outcome_of(engine, "e3").detail == result.detail


def test_second_opening_of_a_case_is_rejected(runtime: Runtime, engine: Engine) -> None:
    ingest_raw(runtime, event("help.opened", "e1", OPENED_AT))
    [result] = ingest_raw(runtime, event("help.opened", "e9", OPENED_AT))
    assert result.outcome == "rejected"


def test_ineligible_case_is_stored_unmonitored_with_reason(
    runtime: Runtime, engine: Engine
) -> None:
    ingest_raw(
        runtime, event("help.opened", "e1", OPENED_AT, category="toys", services=["gift_wrap"])
    )
    with transaction(engine) as s:
        case = s.get(Case, "H1")
        assert case is not None and case.monitored is False
        assert case.not_monitored_reason and "toys" in case.not_monitored_reason
    assert deadlines(engine) == {}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("{not json", "not JSON"),
        ("[1]", "must be a JSON object"),
        ('{"event_id": "x1", "type": "help.opened"}', "case_id"),
        (
            '{"event_id": "x2", "type": "help.responded", "case_id": "H1", '
            '"occurred_at": "2026-11-26T10:00:00"}',
            "offset",
        ),
    ],
)
def test_invalid_input_is_dead_lettered_with_the_reason(
    runtime: Runtime, engine: Engine, raw: str, reason: str
) -> None:
    [result] = ingest_raw(runtime, raw)
    assert result.outcome == "dead_lettered"
    with transaction(engine) as s:
        letter = s.scalars(select(DeadLetter)).one()
    assert letter.raw and reason in letter.error


def test_batch_with_one_bad_event_applies_the_good_ones(runtime: Runtime, engine: Engine) -> None:
    good = json.loads(event("help.opened", "e1", OPENED_AT))
    bad = {
        "event_id": "e2",
        "type": "help.exploded",
        "case_id": "H1",
        "occurred_at": OPENED_AT.isoformat(),
    }
    results = ingest_raw(runtime, json.dumps([good, bad], ensure_ascii=False))
    assert sorted(r.outcome for r in results) == ["applied", "dead_lettered"]


def test_a_programming_error_dead_letters_its_event_and_the_batch_goes_on(
    runtime: Runtime, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_apply = ingest_module.apply_event

    def refused_by_the_driver(session: Session, *args: Any) -> str:
        if args[1].event_id == "e2":
            # A value the driver cannot send: a real ProgrammingError from psycopg and sqlite3.
            session.execute(text("SELECT :value"), {"value": object()})
        return real_apply(session, *args)

    monkeypatch.setattr(ingest_module, "apply_event", refused_by_the_driver)
    batch = [event("help.opened", "e1", OPENED_AT), event("help.responded", "e2", NOW)]
    results = ingest_raw(runtime, "[" + ",".join(batch) + "]")

    assert [r.outcome for r in results] == ["applied", "dead_lettered"]
    assert results[1].detail and results[1].detail.startswith("could not be stored: ")
    assert outcome_of(engine, "e1").outcome == "applied"
    with transaction(engine) as s:
        assert s.get(InboxEvent, "e2") is None  # rolled back to its savepoint
        letter = s.scalars(select(DeadLetter)).one()
    assert (letter.event_id, json.loads(letter.raw)["type"]) == ("e2", "help.responded")


def test_events_from_the_future_are_refused(runtime: Runtime, engine: Engine) -> None:
    [result] = ingest_raw(runtime, event("help.opened", "e1", NOW + timedelta(hours=1)))
    assert result.outcome == "dead_lettered"
    assert "in the future" in (result.detail or "")


def test_case_opened_before_any_policy_is_rejected_with_the_reason(
    runtime: Runtime, engine: Engine
) -> None:
    long_ago = datetime(2010, 1, 4, 10, 0, tzinfo=SH)
    [result] = ingest_raw(runtime, event("help.opened", "e1", long_ago))
    assert result.outcome == "rejected"
    assert "policy" in (result.detail or "")
    with transaction(engine) as s:
        assert s.get(Case, "H1") is None


def test_an_event_id_seen_again_with_other_content_is_a_conflict(
    runtime: Runtime, engine: Engine, clock: Clock
) -> None:
    ingest_raw(runtime, event("help.opened", "e1", OPENED_AT))
    response = event("help.responded", "e2", OPENED_AT + timedelta(minutes=5))
    ingest_raw(runtime, response)
    # The same id, the response now dated earlier and for another case: not a duplicate.
    copy = event("help.responded", "e2", OPENED_AT + timedelta(minutes=1), case_id="H2")
    [same] = ingest_raw(runtime, response)
    [conflict] = ingest_raw(runtime, copy)

    assert same.outcome == "duplicate"
    assert conflict.outcome == "conflict" and conflict.dead_letter_id is not None
    first = outcome_of(engine, "e2")
    assert (first.outcome, first.duplicates, first.conflicts) == ("applied", 1, 1)
    assert deadlines(engine)["response"].met_at == OPENED_AT + timedelta(minutes=5)  # it stands
    with transaction(engine) as s:
        letter = s.get(DeadLetter, conflict.dead_letter_id)
        assert letter is not None
        assert (letter.cause, letter.event_id, letter.source) == ("conflict", "e2", "queue")
        assert json.loads(letter.raw) == json.loads(copy) | {"schema_version": 1}  # the copy
        assert letter.error.startswith("conflict: event_id e2 was first received at ")
        assert "(case_id, occurred_at differ); the first one stands" in letter.error
        view = case_view(s, "H1", SH)
    assert view is not None
    history = [(e["event_id"], e["outcome"], e.get("dead_letter_id")) for e in view["events"]]
    assert history == [
        ("e1", "applied", None), ("e2", "applied", None), ("e2", "conflict", letter.id)
    ]
    assert view["events"][2]["detail"] == letter.error
