"""The case lifecycle: every transition from every status, including the illegal ones, and
late delivery (an event applied after a later one)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slamon.models.case_state import (
    CANCELLED,
    OPEN,
    RESOLVED,
    RESPONDED,
    CaseState,
    DeadlineEffect,
    Transition,
    apply,
    initial,
)
from slamon.models.events import HelpEvent, HelpOpened, parse_event
from slamon.models.states import CaseStatus

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)  # the case opens


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


_serial = iter(range(1, 10**9))


def event(kind: str, minutes: int, **fields: Any) -> HelpEvent:
    payload: dict[str, Any] = {
        "event_id": f"e{next(_serial)}",
        "type": f"help.{kind}",
        "case_id": "H1",
        "occurred_at": at(minutes).isoformat(),
        **fields,
    }
    if kind == "opened":
        payload |= {
            "order_id": "O1",
            "buyer_account": "买家",
            "merchant_id": "M1",
            "provider_id": "P1",
            "category": "家装家具",
            "services": ["送货入户并安装"],
        }
    if kind == "assigned":
        payload.setdefault("provider_id", "P2")
    return parse_event(payload)


def opening(minutes: int = 0) -> HelpOpened:
    opened = event("opened", minutes)
    assert isinstance(opened, HelpOpened)
    return opened


OPENED = initial(opening())
RESPONDED_20 = replace(OPENED, status=RESPONDED, responded_at=at(20))
RESOLVED_60 = replace(RESPONDED_20, status=RESOLVED, resolved_at=at(60), last_resolved_at=at(60))
# Resolved at 60, and a resolution at 120 already seen (its reopen has not arrived yet).
RESOLVED_60_THEN_120 = replace(RESOLVED_60, last_resolved_at=at(120))
CANCELLED_30 = replace(OPENED, status=CANCELLED, cancelled_at=at(30))
# Cancelled at 30; a resolution at 10 arrived after the cancellation.
CANCELLED_30_RESOLVED_10 = replace(CANCELLED_30, responded_at=at(10), last_resolved_at=at(10))
REOPENED_90 = replace(RESPONDED_20, reopened_at=at(90), reopen_count=1, last_resolved_at=at(60))

Effects = list[tuple[str, str, int]]  # (kind, action, minutes)


APPLIED, REFUSED, WAITS = "applied", "refused", "waits"


@dataclass(frozen=True)
class Row:
    name: str
    state: CaseState
    kind: str
    minutes: int
    outcome: str
    status: str
    effects: Effects
    says: str = ""  # a fragment of the reason (refused, waits) or of the note (applied)


# fmt: off
ROWS = [
    # --- open ---
    Row("open: a second opening", OPENED, "opened", 5, REFUSED, OPEN, [], "already opened"),
    Row("open: assigned", OPENED, "assigned", 10, APPLIED, OPEN, []),
    Row("open: responded", OPENED, "responded", 20, APPLIED, RESPONDED, [("response", "met", 20)]),
    Row("open: resolved without a response", OPENED, "resolved", 30, APPLIED, RESOLVED,
        [("response", "met", 30), ("resolution", "met", 30)]),
    Row("open: cancelled", OPENED, "cancelled", 30, APPLIED, CANCELLED,
        [("response", "cancel", 30), ("resolution", "cancel", 30)]),
    Row("open: reopened (its resolution may be late)", OPENED, "reopened", 30, WAITS, OPEN, [],
        "the case is open, not resolved"),
    # --- responded ---
    Row("responded: a second opening", RESPONDED_20, "opened", 30, REFUSED, RESPONDED, [],
        "already opened"),
    Row("responded: re-assigned", RESPONDED_20, "assigned", 40, APPLIED, RESPONDED, []),
    Row("responded: another response", RESPONDED_20, "responded", 40, APPLIED, RESPONDED, [],
        "already responded at 2026-11-26T10:20:00+08:00"),
    Row("responded: an earlier response, late", RESPONDED_20, "responded", 15, APPLIED,
        RESPONDED, [("response", "met", 15)]),
    Row("responded: resolved", RESPONDED_20, "resolved", 60, APPLIED, RESOLVED,
        [("resolution", "met", 60)]),
    Row("responded: resolved before the response, late", RESPONDED_20, "resolved", 10, APPLIED,
        RESOLVED, [("response", "met", 10), ("resolution", "met", 10)]),
    Row("responded: cancelled", RESPONDED_20, "cancelled", 40, APPLIED, CANCELLED,
        [("resolution", "cancel", 40)]),
    Row("responded: reopened (its resolution may be late)", RESPONDED_20, "reopened", 40, WAITS,
        RESPONDED, [], "the case is responded, not resolved"),
    # --- resolved ---
    Row("resolved: a second opening", RESOLVED_60, "opened", 70, REFUSED, RESOLVED, [],
        "already opened"),
    Row("resolved: assigned after (a reopen may be late)", RESOLVED_60, "assigned", 70, WAITS,
        RESOLVED, [], "cannot assign: the case was resolved at 2026-11-26T11:00:00+08:00"),
    Row("resolved: assigned before, late", RESOLVED_60, "assigned", 50, APPLIED, RESOLVED, []),
    Row("resolved: responded after", RESOLVED_60, "responded", 70, APPLIED, RESOLVED, [],
        "already responded"),
    Row("resolved: an earlier response, late", RESOLVED_60, "responded", 10, APPLIED, RESOLVED,
        [("response", "met", 10)]),
    Row("resolved: resolved again", RESOLVED_60, "resolved", 70, APPLIED, RESOLVED, [],
        "already resolved at 2026-11-26T11:00:00+08:00"),
    Row("resolved: an earlier resolution, late", RESOLVED_60, "resolved", 50, APPLIED, RESOLVED,
        [("resolution", "met", 50)]),
    Row("resolved: cancelled after (a reopen may be late)", RESOLVED_60, "cancelled", 70, WAITS,
        RESOLVED, [], "cannot cancel: the case was resolved at"),
    Row("resolved: cancelled before, late", RESOLVED_60, "cancelled", 50, REFUSED, RESOLVED, [],
        "cannot cancel"),
    Row("resolved: reopened", RESOLVED_60, "reopened", 90, APPLIED, RESPONDED,
        [("resolution", "reopen", 90)]),
    Row("resolved: a reopen older than the resolution", RESOLVED_60, "reopened", 50, APPLIED,
        RESOLVED, [], "resolved again at 2026-11-26T11:00:00+08:00, after this reopen"),
    Row("resolved: reopened, a later resolution already seen", RESOLVED_60_THEN_120, "reopened",
        90, APPLIED, RESOLVED, [("resolution", "reopen", 90), ("resolution", "met", 120)],
        "resolved again at 2026-11-26T12:00:00+08:00"),
    # --- cancelled ---
    Row("cancelled: a second opening", CANCELLED_30, "opened", 40, REFUSED, CANCELLED, [],
        "already opened"),
    Row("cancelled: assigned after", CANCELLED_30, "assigned", 40, REFUSED, CANCELLED, [],
        "cannot assign: the case was cancelled at 2026-11-26T10:30:00+08:00"),
    Row("cancelled: assigned before, late", CANCELLED_30, "assigned", 10, APPLIED, CANCELLED, []),
    Row("cancelled: responded after", CANCELLED_30, "responded", 40, REFUSED, CANCELLED, [],
        "cannot respond: the case was cancelled"),
    Row("cancelled: responded at the same instant", CANCELLED_30, "responded", 30, REFUSED,
        CANCELLED, [], "cancelled"),
    Row("cancelled: responded before, late", CANCELLED_30, "responded", 10, APPLIED, CANCELLED,
        [("response", "met", 10)]),
    Row("cancelled: resolved after", CANCELLED_30, "resolved", 40, REFUSED, CANCELLED, [],
        "cannot resolve: the case was cancelled"),
    Row("cancelled: resolved before, late", CANCELLED_30, "resolved", 10, APPLIED, CANCELLED,
        [("response", "met", 10), ("resolution", "met", 10)], "evidence only"),
    Row("cancelled: cancelled again", CANCELLED_30, "cancelled", 40, APPLIED, CANCELLED, [],
        "already cancelled"),
    Row("cancelled: reopened after", CANCELLED_30, "reopened", 40, REFUSED, CANCELLED, [],
        "cannot reopen: the case was cancelled"),
    Row("cancelled: reopened before, its resolution not known", CANCELLED_30, "reopened", 20,
        WAITS, CANCELLED, [], "no resolution before it is known"),
    Row("cancelled: reopened before, after a known resolution", CANCELLED_30_RESOLVED_10,
        "reopened", 20, APPLIED, CANCELLED, [("resolution", "reopen", 20)]),
    # --- reopened (back to responded) ---
    Row("reopened: resolved again", REOPENED_90, "resolved", 100, APPLIED, RESOLVED,
        [("resolution", "met", 100)]),
    Row("reopened: a resolution before the reopen, late", REOPENED_90, "resolved", 80, APPLIED,
        RESPONDED, [], "superseded by the reopen at 2026-11-26T11:30:00+08:00"),
    Row("reopened: cancelled", REOPENED_90, "cancelled", 100, APPLIED, CANCELLED,
        [("resolution", "cancel", 100)]),
    Row("reopened: reopened again (its resolution may be late)", REOPENED_90, "reopened", 100,
        WAITS, RESPONDED, [], "not resolved"),
    Row("reopened: an older reopen, late", REOPENED_90, "reopened", 40, APPLIED, RESPONDED, [],
        "older than the reopen at 2026-11-26T11:30:00+08:00"),
    Row("reopened: re-assigned", REOPENED_90, "assigned", 100, APPLIED, RESPONDED, []),
    # --- evidence dated before the opening (rule 0): refused, whatever the status ---
    *(Row(f"{state_name}: {kind} before the opening", state, kind, -30, REFUSED, state.status,
          [], "occurred at 2026-11-26T09:30:00+08:00, before the case was opened at "
          "2026-11-26T10:00:00+08:00: evidence cannot predate its case")
      for state_name, state in (("open", OPENED), ("resolved", RESOLVED_60),
                                ("cancelled", CANCELLED_30))
      for kind in ("assigned", "responded", "resolved", "cancelled", "reopened")),
    Row("open: responded at the opening instant", OPENED, "responded", 0, APPLIED, RESPONDED,
        [("response", "met", 0)]),
]
# fmt: on


def effects_of(transition: Transition) -> Effects:
    return [(e.kind, e.action, (e.at - T0) // timedelta(minutes=1)) for e in transition.effects]


def outcome_of(transition: Transition) -> str:
    if transition.ok:
        return APPLIED
    return WAITS if transition.waiting else REFUSED


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_transition(row: Row) -> None:
    transition = apply(row.state, event(row.kind, row.minutes))

    assert outcome_of(transition) == row.outcome
    assert transition.state.status == row.status
    assert effects_of(transition) == row.effects
    if transition.ok:
        assert transition.reason is None
        assert not transition.waiting
    else:
        assert transition.state is row.state, "a refused event changes nothing"
        assert transition.reason
    assert row.says in ((transition.reason or "") + (transition.note or ""))


def test_every_status_meets_every_event_type_in_the_table() -> None:
    kinds = {"opened", "assigned", "responded", "resolved", "cancelled", "reopened"}
    for status in CaseStatus:
        covered = {row.kind for row in ROWS if row.state.status == status}
        assert covered == kinds, (status, kinds - covered)


# --- details the table does not show ---------------------------------------------------------


def test_initial_state_records_who_is_responsible() -> None:
    state = initial(opening())
    assert (state.status, state.provider_id, state.merchant_id) == (OPEN, "P1", "M1")
    assert state.assigned_at == T0
    assert (state.responded_at, state.resolved_at, state.cancelled_at) == (None, None, None)
    assert state.reopen_count == 0


def test_reassignment_records_the_provider_and_merchant_and_keeps_the_clocks() -> None:
    moved = apply(RESPONDED_20, event("assigned", 40, provider_id="P9", merchant_id="M9"))
    assert (moved.state.provider_id, moved.state.merchant_id, moved.state.assigned_at) == (
        "P9",
        "M9",
        at(40),
    )
    assert moved.state.responded_at == at(20)
    assert moved.effects == ()
    same_merchant = apply(RESPONDED_20, event("assigned", 40, provider_id="P9"))
    assert same_merchant.state.merchant_id == "M1"


def test_a_late_reassignment_does_not_undo_a_later_one() -> None:
    later = apply(OPENED, event("assigned", 50, provider_id="P-late")).state
    late = apply(later, event("assigned", 40, provider_id="P-early"))
    assert late.ok
    assert late.state.provider_id == "P-late"
    assert late.note and "the one at 2026-11-26T10:50:00+08:00 stands" in late.note


def test_a_resolution_without_response_records_both_instants() -> None:
    state = apply(OPENED, event("resolved", 30)).state
    assert (state.responded_at, state.resolved_at) == (at(30), at(30))


def test_reopen_keeps_the_response_and_counts() -> None:
    state = apply(RESOLVED_60, event("reopened", 90)).state
    assert (state.responded_at, state.resolved_at, state.reopened_at) == (at(20), None, at(90))
    assert state.reopen_count == 1
    state = apply(apply(state, event("resolved", 100)).state, event("reopened", 110)).state
    assert state.reopen_count == 2


def test_a_late_resolution_before_the_cancellation_is_evidence_only() -> None:
    state = apply(CANCELLED_30, event("resolved", 10)).state
    assert (state.status, state.cancelled_at, state.resolved_at) == (CANCELLED, at(30), None)
    assert (state.responded_at, state.last_resolved_at) == (at(10), at(10))


def test_a_reopen_waits_for_the_resolution_it_rejects() -> None:
    waiting = apply(RESPONDED_20, event("reopened", 90))
    assert (waiting.ok, waiting.waiting) == (False, True)
    resolved = apply(RESPONDED_20, event("resolved", 60)).state
    retried = apply(resolved, event("reopened", 90))
    assert retried.ok
    assert retried.state.status == RESPONDED


def test_a_superseded_resolution_is_still_response_evidence() -> None:
    # Reopened at 90 after a resolution at 60; the case had no earlier response on record.
    state = replace(REOPENED_90, responded_at=at(60))
    transition = apply(state, event("resolved", 30))
    assert transition.ok
    assert effects_of(transition) == [("response", "met", 30)]
    assert (transition.state.status, transition.state.responded_at) == (RESPONDED, at(30))


def test_an_unknown_status_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown case status 'closed'"):
        replace(OPENED, status="closed")


def test_a_state_stored_without_the_late_delivery_instants_still_works() -> None:
    # What an ingest that stores only the six core fields passes back in.
    bare = CaseState(
        status=RESOLVED,
        responded_at=at(20),
        resolved_at=at(60),
        cancelled_at=None,
        provider_id="P1",
        reopen_count=0,
    )
    reopened = apply(bare, event("reopened", 90))
    assert (reopened.state.status, effects_of(reopened)) == (
        RESPONDED,
        [("resolution", "reopen", 90)],
    )
    assigned = apply(bare, event("assigned", 30, provider_id="P3"))
    assert assigned.ok and assigned.state.provider_id == "P3"


# --- properties over whole histories ----------------------------------------------------------


@dataclass(frozen=True)
class History:
    events: list[HelpEvent]
    status: str  # what the history means, computed independently of the state machine
    responded_at: datetime | None
    resolved_at: datetime | None
    reopens: int


@st.composite
def histories(draw: st.DrawFn) -> History:
    """A legal history in event-time order, with its expected outcome."""
    minutes, events = 0, [opening()]
    status, responded_at, resolved_at, reopens = OPEN, None, None, 0
    for _ in range(draw(st.integers(0, 10))):
        if status == CANCELLED:
            break
        minutes += draw(st.integers(1, 600))
        legal = {
            OPEN: ["assigned", "responded", "resolved", "cancelled"],
            RESPONDED: ["assigned", "responded", "resolved", "cancelled"],
            RESOLVED: ["reopened"],
        }[status]
        kind = draw(st.sampled_from(legal))
        events.append(
            event(kind, minutes, **({"provider_id": f"P{minutes}"} if kind == "assigned" else {}))
        )
        if kind in ("responded", "resolved") and responded_at is None:
            responded_at = at(minutes)
        if kind == "responded":
            status = RESPONDED
        elif kind == "resolved":
            status, resolved_at = RESOLVED, at(minutes)
        elif kind == "reopened":
            status, resolved_at, reopens = RESPONDED, None, reopens + 1
        elif kind == "cancelled":
            status = CANCELLED
    return History(events, status, responded_at, resolved_at, reopens)


@dataclass
class Delivery:
    """Events applied as an ingest would: a waiting event is parked and retried, in event-time
    order, after each event that is applied."""

    state: CaseState
    transitions: list[Transition]
    parked: list[HelpEvent]
    refused: list[str]


def run(events: list[HelpEvent]) -> Delivery:
    opened = events[0]
    assert isinstance(opened, HelpOpened)
    done = Delivery(initial(opened), [], [], [])

    def deliver(item: HelpEvent) -> bool:
        transition = apply(done.state, item)
        if transition.waiting:
            done.parked.append(item)
        elif not transition.ok:
            done.refused.append(transition.reason or "")
        else:
            done.transitions.append(transition)
            done.state = transition.state
        return transition.ok

    for item in events[1:]:
        if not deliver(item):
            continue
        progress = True
        while progress and done.parked:
            waiting = sorted(done.parked, key=lambda e: e.occurred_at)
            done.parked.clear()
            progress = False
            for parked in waiting:
                progress = deliver(parked) or progress
    return done


def evidence(transitions: list[Transition]) -> dict[str, datetime | None]:
    """The instant each deadline stands met at, read from the effects as the ingest would."""
    met: dict[str, datetime | None] = {"response": None, "resolution": None}
    for effect in (e for t in transitions for e in t.effects):
        if effect.action == "met":
            current = met[effect.kind]
            met[effect.kind] = effect.at if current is None else min(current, effect.at)
        elif effect.action == "reopen":
            met[effect.kind] = None
    return met


def summary(state: CaseState) -> tuple[Any, ...]:
    return (
        state.status,
        state.responded_at,
        state.resolved_at,
        state.cancelled_at,
        state.provider_id,
        state.reopen_count,
    )


@given(histories())
def test_a_legal_history_in_order_is_applied_whole(history: History) -> None:
    done = run(history.events)

    assert (done.parked, done.refused) == ([], [])
    assert len(done.transitions) == len(history.events) - 1
    state = done.state
    assert state.status == history.status
    assert (state.responded_at, state.resolved_at) == (history.responded_at, history.resolved_at)
    assert state.reopen_count == history.reopens
    met = evidence(done.transitions)
    assert met["response"] == history.responded_at
    assert met["resolution"] == history.resolved_at


@given(histories(), st.data())
def test_any_delivery_order_gives_the_in_order_outcome(
    history: History, data: st.DataObject
) -> None:
    # The opening comes first: the ingest parks a case's events until it arrives.
    shuffled = data.draw(st.permutations(history.events[1:]))

    in_order, delivered = run(history.events), run([history.events[0], *shuffled])

    assert (delivered.parked, delivered.refused) == ([], [])
    assert summary(delivered.state) == summary(in_order.state)
    assert evidence(delivered.transitions) == evidence(in_order.transitions)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                ["opened", "assigned", "responded", "resolved", "cancelled", "reopened"]
            ),
            st.integers(-600, 6000),
        ),
        max_size=15,
    )
)
def test_any_sequence_never_raises_and_keeps_the_invariants(steps: list[tuple[str, int]]) -> None:
    state = initial(opening())
    for kind, minutes in steps:
        transition = apply(state, event(kind, minutes))
        if not transition.ok:
            assert transition.state is state and transition.effects == () and transition.reason
        new = transition.state
        assert new.status in set(CaseStatus)
        assert new.reopen_count >= state.reopen_count
        if new.status == RESOLVED:
            assert new.resolved_at is not None and new.responded_at is not None
            assert new.responded_at <= new.resolved_at
            assert new.cancelled_at is None
        if new.status == CANCELLED:
            assert new.cancelled_at is not None and new.resolved_at is None
        if new.status == OPEN:
            assert new.responded_at is None
        reopened = any(e.action == "reopen" for e in transition.effects)
        for effect in transition.effects:
            assert isinstance(effect, DeadlineEffect)
            assert effect.at >= T0  # evidence never predates the opening (rule 0)
            # Only a reopen can carry another instant: the later resolution already seen.
            assert effect.at == at(minutes) or (reopened and effect.action == "met")
        state = new
