"""Late and early events through ingest and the real sweeper (SQLite and Postgres): what an
event means is decided by when it happened, whenever its message arrives."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select

from slamon.models.db.engine import transaction
from slamon.models.db.tables import Breach, Compensation, Deadline, InboxEvent
from slamon.models.db.views import case_view
from slamon.scheduler.sweeper import sweep
from slamon.worker.ingest import ingest_raw
from slamon.worker.runtime import Runtime
from tests.support.histories import opened_event
from tests.support.runtime import DEFAULTS, Clock, runtime_for

SH = ZoneInfo("Asia/Shanghai")
OPENED_AT = datetime(2026, 11, 16, 10, 0, tzinfo=SH)  # Monday, inside opening hours
RESPONSE_DUE = OPENED_AT + timedelta(hours=1)
RESOLUTION_DUE = OPENED_AT + timedelta(hours=48)
GRACE = timedelta(seconds=60)  # tmall-2022


@pytest.fixture
def clock() -> Clock:
    return Clock(OPENED_AT)


@pytest.fixture
def runtime(engine: Engine, clock: Clock) -> Runtime:
    return runtime_for(engine.url.render_as_string(hide_password=False), clock)


def send(runtime: Runtime, type_: str, n: int, at: datetime, **extra: Any) -> str:
    if type_ == "opened":
        body = opened_event("H1", f"e{n}", at)
    else:
        body = {"event_id": f"e{n}", "type": f"help.{type_}", "case_id": "H1"}
        body.update(occurred_at=at.isoformat(), **extra)
    [outcome] = ingest_raw(runtime, json.dumps(body, ensure_ascii=False))
    return outcome.outcome


def deadline(engine: Engine, kind: str) -> Deadline:
    with transaction(engine) as s:
        return s.scalars(
            select(Deadline).where(Deadline.case_id == "H1", Deadline.kind == kind)
        ).one()


def breach_and_compensation(engine: Engine, kind: str) -> tuple[Breach, Compensation]:
    with transaction(engine) as s:
        breach = s.scalars(select(Breach).where(Breach.kind == kind)).one()
        comp = s.scalars(select(Compensation).where(Compensation.breach_id == breach.id)).one()
        return breach, comp


def sweep_at(engine: Engine, clock: Clock, now: datetime) -> dict[str, int]:
    clock.now = now
    result = sweep(engine, now, "test", 100, timedelta(seconds=30), DEFAULTS.redispatch_after)
    return dict(result.verdicts)


def test_a_timely_response_arriving_after_the_breach_contests_it(
    runtime: Runtime, engine: Engine, clock: Clock
) -> None:
    send(runtime, "opened", 0, OPENED_AT)
    assert sweep_at(engine, clock, RESPONSE_DUE + GRACE) == {"breached": 1}

    clock.now = RESPONSE_DUE + timedelta(hours=2)
    assert send(runtime, "responded", 1, RESPONSE_DUE - timedelta(minutes=1)) == "applied"

    breach, comp = breach_and_compensation(engine, "response")
    assert (breach.status, breach.evidence_at) == (
        "contested",
        RESPONSE_DUE - timedelta(minutes=1),
    )
    assert comp.status == "cancelled"


def test_a_withdrawal_before_due_arriving_after_the_breach_contests_it(
    runtime: Runtime, engine: Engine, clock: Clock
) -> None:
    send(runtime, "opened", 0, OPENED_AT)
    assert sweep_at(engine, clock, RESPONSE_DUE + GRACE) == {"breached": 1}

    clock.now = RESPONSE_DUE + timedelta(hours=2)
    assert send(runtime, "cancelled", 1, OPENED_AT + timedelta(minutes=20)) == "applied"

    breach, comp = breach_and_compensation(engine, "response")
    assert breach.status == "contested" and comp.status == "cancelled"
    assert deadline(engine, "resolution").state == "cancelled"


def test_a_withdrawal_after_due_leaves_the_broken_promise_to_be_judged(
    runtime: Runtime, engine: Engine, clock: Clock
) -> None:
    send(runtime, "opened", 0, OPENED_AT)
    clock.now = RESPONSE_DUE + timedelta(seconds=30)  # inside the grace period
    send(runtime, "cancelled", 1, RESPONSE_DUE + timedelta(seconds=10))

    response, resolution = deadline(engine, "response"), deadline(engine, "resolution")
    assert (response.state, response.cancelled_at) == (
        "pending",
        RESPONSE_DUE + timedelta(seconds=10),
    )
    assert resolution.state == "cancelled"
    assert sweep_at(engine, clock, RESPONSE_DUE + GRACE) == {"breached": 1}
    breach, _ = breach_and_compensation(engine, "response")
    assert "cancelled" in (breach.reason or "")


def test_a_response_before_the_withdrawal_delivered_after_it_still_meets_the_deadline(
    runtime: Runtime, engine: Engine, clock: Clock
) -> None:
    send(runtime, "opened", 0, OPENED_AT)
    clock.now = OPENED_AT + timedelta(minutes=40)
    send(runtime, "cancelled", 2, OPENED_AT + timedelta(minutes=30))
    assert deadline(engine, "response").state == "cancelled"

    send(runtime, "responded", 1, OPENED_AT + timedelta(minutes=10))

    assert deadline(engine, "response").state == "met"
    assert deadline(engine, "resolution").state == "cancelled"
    assert sweep_at(engine, clock, RESOLUTION_DUE + GRACE) == {}


def test_a_reopen_after_the_due_instant_is_judged_at_once_by_the_original_due_time(
    runtime: Runtime, engine: Engine, clock: Clock
) -> None:
    send(runtime, "opened", 0, OPENED_AT)
    clock.now = RESOLUTION_DUE + timedelta(hours=3)
    send(runtime, "responded", 4, OPENED_AT + timedelta(minutes=10))
    send(runtime, "resolved", 1, OPENED_AT + timedelta(hours=30))
    assert deadline(engine, "resolution").state == "met"

    assert send(runtime, "reopened", 2, RESOLUTION_DUE + timedelta(hours=2)) == "applied"

    resolution = deadline(engine, "resolution")
    assert (resolution.state, resolution.due_at, resolution.met_at) == (
        "pending",
        RESOLUTION_DUE,
        None,
    )
    assert sweep_at(engine, clock, clock.now) == {"breached": 1}
    breach, _ = breach_and_compensation(engine, "resolution")
    assert breach.due_at == RESOLUTION_DUE


def test_a_reopen_delivered_before_the_resolution_it_rejects_waits_for_it(
    runtime: Runtime, engine: Engine, clock: Clock
) -> None:
    send(runtime, "opened", 0, OPENED_AT)
    clock.now = OPENED_AT + timedelta(hours=5)

    assert send(runtime, "reopened", 3, OPENED_AT + timedelta(hours=4)) == "parked"
    assert send(runtime, "responded", 1, OPENED_AT + timedelta(minutes=5)) == "applied"
    assert send(runtime, "resolved", 2, OPENED_AT + timedelta(hours=3)) == "applied"

    with transaction(engine) as s:
        view = case_view(s, "H1", SH)
        reopen = s.get(InboxEvent, "e3")
        assert reopen is not None and reopen.outcome == "applied"
    assert view is not None and view["status"] == "responded"
    assert deadline(engine, "resolution").state == "pending"
    history = {e["event_id"]: (e["outcome"], e["detail"]) for e in view["events"]}
    assert history["e3"] == ("applied", None)
    assert history["e0"] == ("applied", None)


def test_the_case_view_shows_why_an_event_waits_or_was_refused(
    runtime: Runtime, engine: Engine, clock: Clock
) -> None:
    clock.now = OPENED_AT + timedelta(hours=5)
    send(runtime, "opened", 0, OPENED_AT)
    send(runtime, "responded", 1, OPENED_AT + timedelta(minutes=5))
    send(runtime, "responded", 2, OPENED_AT + timedelta(minutes=6))  # changes nothing: noted
    send(runtime, "reopened", 3, OPENED_AT + timedelta(hours=1))  # waits for a resolution
    send(runtime, "cancelled", 4, OPENED_AT + timedelta(hours=2))
    send(runtime, "resolved", 5, OPENED_AT + timedelta(hours=3))  # after the withdrawal

    with transaction(engine) as s:
        view = case_view(s, "H1", SH)
    assert view is not None
    history = {e["event_id"]: (e["outcome"], e["detail"] or "") for e in view["events"]}
    assert history["e1"] == ("applied", "")
    assert history["e2"][0] == "applied" and "already responded" in history["e2"][1]
    # Retried after each applied event: the reason is the latest one.
    assert history["e3"][0] == "parked" and "no resolution before it" in history["e3"][1]
    assert history["e5"][0] == "rejected" and "cancelled" in history["e5"][1]


def test_events_of_a_case_not_opened_yet_are_shown_parked(
    runtime: Runtime, engine: Engine, clock: Clock
) -> None:
    clock.now = OPENED_AT + timedelta(hours=1)
    assert send(runtime, "responded", 1, OPENED_AT + timedelta(minutes=5)) == "parked"
    with transaction(engine) as s:
        view = case_view(s, "H1", SH)
    assert view is not None and view["status"] == "not_opened"
    assert [(e["outcome"], e["detail"]) for e in view["events"]] == [
        ("parked", "waiting for help.opened of this case")
    ]


def test_evidence_dated_before_the_opening_is_rejected_and_meets_nothing(
    runtime: Runtime, engine: Engine, clock: Clock
) -> None:
    # A provider backdating its response to 09:30 for a case opened at 10:00.
    clock.now = OPENED_AT + timedelta(minutes=10)
    send(runtime, "opened", 0, OPENED_AT)
    assert send(runtime, "responded", 1, OPENED_AT - timedelta(minutes=30)) == "rejected"
    assert send(runtime, "resolved", 2, OPENED_AT - timedelta(seconds=1)) == "rejected"

    assert deadline(engine, "response").state == "pending"
    assert deadline(engine, "resolution").state == "pending"
    with transaction(engine) as s:
        inbox = s.get(InboxEvent, "e1")
        view = case_view(s, "H1", SH)
    assert inbox is not None and inbox.detail == (
        "help.responded occurred at 2026-11-16T09:30:00+08:00, before the case was opened at "
        "2026-11-16T10:00:00+08:00: evidence cannot predate its case"
    )
    assert view is not None and view["status"] == "open"
    assert sweep_at(engine, clock, RESPONSE_DUE + GRACE) == {"breached": 1}


@pytest.mark.parametrize("one_batch", [False, True], ids=["one_by_one", "one_batch"])
def test_parked_evidence_older_than_the_opening_is_rejected_when_it_arrives(
    runtime: Runtime, engine: Engine, clock: Clock, one_batch: bool
) -> None:
    clock.now = OPENED_AT + timedelta(minutes=20)
    early = {"event_id": "e1", "type": "help.responded", "case_id": "H1",
             "occurred_at": (OPENED_AT - timedelta(minutes=5)).isoformat()}
    timely = {"event_id": "e2", "type": "help.responded", "case_id": "H1",
              "occurred_at": (OPENED_AT + timedelta(minutes=15)).isoformat()}
    opening = opened_event("H1", "e0", OPENED_AT)
    if one_batch:
        outcomes = ingest_raw(runtime, json.dumps([early, timely, opening], ensure_ascii=False))
        assert [o.outcome for o in outcomes] == ["rejected", "applied", "applied"]
    else:
        for body in (early, timely):
            [parked] = ingest_raw(runtime, json.dumps(body))
            assert parked.outcome == "parked"
        [opened] = ingest_raw(runtime, json.dumps(opening, ensure_ascii=False))
        assert opened.outcome == "applied"

    with transaction(engine) as s:
        view = case_view(s, "H1", SH)
    assert view is not None
    history = {e["event_id"]: (e["outcome"], e["detail"] or "") for e in view["events"]}
    assert history["e1"][0] == "rejected"
    assert "before the case was opened at 2026-11-16T10:00:00+08:00" in history["e1"][1]
    assert history["e2"] == ("applied", "")
    response = deadline(engine, "response")
    assert (response.state, response.met_at) == ("met", OPENED_AT + timedelta(minutes=15))
