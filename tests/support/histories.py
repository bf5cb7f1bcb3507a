"""Lawful help-request histories as wire events, with what they mean computed independently.

A history is what really happened to one case, in event-time order; the tests deliver it in
order, shuffled, repeated, or through real workers, and compare what the service stored
(:func:`stored`) with :class:`Expected` (worked out here from the history alone, not by the
code under test) and with each other.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from slamon.models.db.engine import transaction
from slamon.models.db.tables import Case, Deadline, InboxEvent

# The lifecycle a lawful history follows: what may happen next, by status. Cancelling or
# re-assigning a resolved case is left out: without a reopen after it, it stays parked.
NEXT = {
    "open": ("assigned", "responded", "resolved", "cancelled"),
    "responded": ("assigned", "responded", "resolved", "cancelled"),
    "resolved": ("reopened",),
}


@dataclass(frozen=True)
class Expected:
    status: str
    responded_at: datetime | None  # the earliest response evidence (a resolution counts)
    resolved_at: datetime | None  # the standing resolution
    cancelled_at: datetime | None
    provider_id: str
    reopen_count: int

    def deadline_state(self, kind: str, due_at: datetime) -> tuple[str, datetime | None]:
        """(state, met_at) of the case's ``kind`` deadline before any sweep."""
        met_at = self.responded_at if kind == "response" else self.resolved_at
        if met_at is not None and met_at <= due_at:
            return "met", met_at
        if met_at is None and self.cancelled_at is not None and self.cancelled_at <= due_at:
            return "cancelled", None
        return "pending", met_at


@dataclass(frozen=True)
class History:
    case_id: str
    events: list[dict[str, Any]]
    expected: Expected

    def raw(self) -> list[str]:
        return [json.dumps(e, ensure_ascii=False) for e in self.events]


def opened_event(case_id: str, event_id: str, at: datetime) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": "help.opened",
        "case_id": case_id,
        "occurred_at": at.isoformat(),
        "order_id": f"O-{case_id}",
        "buyer_account": f"tb_{case_id}",
        "merchant_id": "M1",
        "provider_id": "P0",
        "category": "家装家具",
        "services": ["送货入户并安装"],
        "item_price": "1299.00",
    }


def history(
    rng: random.Random,
    case_id: str,
    opened_at: datetime,
    steps: int,
    max_gap_minutes: int = 1500,
    exact: bool = False,
) -> History:
    """A lawful history of ``case_id``: the opening and up to ``steps`` more events (exactly
    ``steps`` when ``exact``, which never cancels early), gaps of 1..max_gap_minutes minutes,
    half of them under 40 minutes."""
    events = [opened_event(case_id, f"{case_id}-0", opened_at)]
    status, at = "open", opened_at
    responded_at: datetime | None = None
    resolved_at: datetime | None = None
    cancelled_at: datetime | None = None
    provider, reopens = "P0", 0
    for step in range(1, steps + 1):
        if status == "cancelled":
            break
        # Half the gaps are short, so that deadlines are met as often as they are missed.
        gap = rng.randint(1, 40) if rng.random() < 0.5 else rng.randint(1, max_gap_minutes)
        at += timedelta(minutes=gap, seconds=rng.randint(0, 59))
        choices = NEXT[status]
        if exact and step < steps:
            choices = tuple(c for c in choices if c != "cancelled")
        kind = rng.choice(choices)
        event: dict[str, Any] = {
            "event_id": f"{case_id}-{step}",
            "type": f"help.{kind}",
            "case_id": case_id,
            "occurred_at": at.isoformat(),
        }
        if kind == "assigned":
            provider = event["provider_id"] = f"P{step}"
        if kind in ("responded", "resolved") and responded_at is None:
            responded_at = at
        if kind == "responded":
            status = "responded"
        elif kind == "resolved":
            status, resolved_at = "resolved", at
        elif kind == "reopened":
            status, resolved_at, reopens = "responded", None, reopens + 1
        elif kind == "cancelled":
            status, cancelled_at = "cancelled", at
        events.append(event)
    expected = Expected(status, responded_at, resolved_at, cancelled_at, provider, reopens)
    return History(case_id, events, expected)


def stored(engine: Engine, case_id: str) -> dict[str, Any]:
    """What the service holds about a case, comparable across case ids."""
    with transaction(engine) as s:
        case = s.get(Case, case_id)
        assert case is not None, f"case {case_id} was not stored"
        deadlines = s.scalars(select(Deadline).where(Deadline.case_id == case_id)).all()
        inbox = s.scalars(select(InboxEvent).where(InboxEvent.case_id == case_id)).all()
        return {
            "case": (
                case.status,
                case.responded_at,
                case.resolved_at,
                case.cancelled_at,
                case.provider_id,
                case.reopen_count,
            ),
            "deadlines": {d.kind: (d.state, d.met_at, d.due_at) for d in deadlines},
            # Keyed by the step number of the event id "<case_id>-<step>".
            "outcomes": {e.event_id.rsplit("-", 1)[1]: e.outcome for e in inbox},
            "copies": {e.event_id.rsplit("-", 1)[1]: e.duplicates + 1 for e in inbox},
        }


def assert_means_its_history(engine: Engine, hist: History) -> dict[str, Any]:
    """Check the stored case against what its history means; return what is stored."""
    got = stored(engine, hist.case_id)
    want = hist.expected
    assert got["case"] == (
        want.status,
        want.responded_at,
        want.resolved_at,
        want.cancelled_at,
        want.provider_id,
        want.reopen_count,
    ), hist.case_id
    assert set(got["deadlines"]) == {"response", "resolution"}
    for kind, (state, met_at, due_at) in got["deadlines"].items():
        assert (state, met_at) == want.deadline_state(kind, due_at), (hist.case_id, kind)
    assert set(got["outcomes"].values()) == {"applied"}, got["outcomes"]
    assert len(got["outcomes"]) == len(hist.events)
    return got
