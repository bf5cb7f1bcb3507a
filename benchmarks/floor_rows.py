"""The floor's rows, computed from a workload before the floor's clock starts.

The values are the ones ingest writes: the case and deadline rows of an opening come from
the planner (:func:`slamon.worker.case_apply.opening_rows`, the function both ingest paths
use), the inbox row carries the normalised payload. For the mixed stream the statements are
the writes the stream causes, message by message, as ingest makes them:

* an opening: its inbox row, its case, its deadlines, and, if evidence for the case was
  parked, that inbox row set ``applied`` and the evidence applied to the case and deadline;
* evidence for an opened case: its inbox row, the case's new state, the deadline ``met``
  (a resolution ahead of the response meets both deadlines, as the state machine has it);
* evidence for a case not opened yet: its inbox row, ``parked``;
* a repeat: its inbox row's ``duplicates`` counter.

What ingest also does but the floor does not (reads: the inbox and parked lookups, the case
rows, the advisory locks) is ingest's own cost, which is the point of the comparison.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from benchmarks.ingest_floor import Message, Write, opening_writes
from slamon.models.events import HelpOpened, event_to_json, parse_event
from slamon.models.policy.policy import PolicySet, load_policies
from slamon.models.states import InboxOutcome
from slamon.worker.case_apply import inbox_row, opening_rows

CASE_UPDATE = (
    "UPDATE cases SET status = %s, responded_at = %s, resolved_at = %s, last_resolved_at = %s, "
    "last_event_at = %s, updated_at = %s WHERE case_id = %s"
)
DEADLINE_MET = (
    "UPDATE deadlines SET state = 'met', met_at = %s, judged_at = %s "
    "WHERE case_id = %s AND kind = %s"
)
PARKED_APPLIED = "UPDATE events SET outcome = 'applied', detail = NULL WHERE event_id = %s"
REPEAT = "UPDATE events SET duplicates = duplicates + 1 WHERE event_id = %s"


def openings_floor(
    messages: Sequence[Sequence[dict[str, object]]], now: datetime,
    policies: PolicySet | None = None,
) -> list[Message]:
    """The writes of messages of new openings: three inserts per message."""
    policies = policies or load_policies()
    out: list[Message] = []
    for message in messages:
        inbox, cases, deadlines = [], [], []
        for raw in message:
            event = parse_event(raw)
            assert isinstance(event, HelpOpened)
            case, planned = opening_rows(policies, event, now)
            inbox.append(inbox_row(event, now, InboxOutcome.APPLIED))
            cases.append(case)
            deadlines.extend(planned)
        out.append(opening_writes(inbox, cases, deadlines))
    return out


@dataclass
class _Case:
    kinds: set[str]
    state: dict[str, Any]


@dataclass
class _MixedFloor:
    """The simulation behind :func:`mixed_floor`: which events and cases are stored so far."""

    now: datetime
    policies: PolicySet
    seen: set[str] = field(default_factory=set)
    cases: dict[str, _Case] = field(default_factory=dict)
    parked: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def message(self, raws: Sequence[dict[str, object]]) -> Message:
        inbox: list[dict[str, Any]] = []
        cases: list[dict[str, Any]] = []
        deadlines: list[dict[str, Any]] = []
        case_updates: list[tuple[Any, ...]] = []
        met: list[tuple[Any, ...]] = []
        applied_parked: list[tuple[Any, ...]] = []
        repeats: list[tuple[Any, ...]] = []
        # In event-time order, as ingest applies a message's events.
        for event in sorted((parse_event(r) for r in raws), key=lambda e: e.occurred_at):
            payload = event_to_json(event)
            event_id, case_id = event.event_id, event.case_id
            if event_id in self.seen:
                repeats.append((event_id,))
                continue
            self.seen.add(event_id)
            if isinstance(event, HelpOpened):
                case, planned = opening_rows(self.policies, event, self.now)
                inbox.append(inbox_row(event, self.now, InboxOutcome.APPLIED))
                cases.append(case)
                deadlines.extend(planned)
                self.cases[case_id] = _Case({d["kind"] for d in planned}, dict(case))
                for evidence in self.parked.pop(case_id, []):
                    applied_parked.append((evidence["event_id"],))
                    self._apply(evidence, case_updates, met)
            elif case_id in self.cases:
                inbox.append(inbox_row(event, self.now, InboxOutcome.APPLIED))
                self._apply(payload, case_updates, met)
            else:
                inbox.append(inbox_row(event, self.now, InboxOutcome.PARKED))
                self.parked.setdefault(case_id, []).append(payload)
        return [
            *opening_writes(inbox, cases, deadlines),
            Write("events", (), applied_parked, PARKED_APPLIED),
            Write("cases", (), case_updates, CASE_UPDATE),
            Write("deadlines", (), met, DEADLINE_MET),
            Write("events", (), repeats, REPEAT),
        ]

    def _apply(
        self, payload: dict[str, Any], case_updates: list[tuple[Any, ...]],
        met: list[tuple[Any, ...]],
    ) -> None:
        case = self.cases[payload["case_id"]]
        state, at = case.state, datetime.fromisoformat(payload["occurred_at"])
        met_kinds = ["response"]
        if payload["type"] == "help.resolved":
            met_kinds = ["resolution"] if state["responded_at"] else ["response", "resolution"]
            state.update(status="resolved", resolved_at=at, last_resolved_at=at)
            state["responded_at"] = state["responded_at"] or at
        else:
            state["responded_at"] = at
            if state["status"] == "open":
                state["status"] = "responded"
        state["last_event_at"] = max(state["last_event_at"], at)
        case_updates.append((state["status"], state["responded_at"], state["resolved_at"],
                             state["last_resolved_at"], state["last_event_at"], self.now,
                             payload["case_id"]))
        met.extend((at, self.now, payload["case_id"], kind) for kind in met_kinds
                   if kind in case.kinds)


def mixed_floor(
    messages: Sequence[Sequence[dict[str, object]]], now: datetime,
    policies: PolicySet | None = None,
) -> list[Message]:
    """The writes of the mixed stream's messages, in order (module docstring)."""
    floor = _MixedFloor(now, policies or load_policies())
    return [floor.message(m) for m in messages]


def by_case(
    messages: Sequence[Sequence[dict[str, object]]], workers: int, batch: int
) -> list[list[list[dict[str, object]]]]:
    """The stream split into ``workers`` streams of disjoint cases, each in the original
    order and cut into messages of ``batch`` events: a connection of the floor then never
    updates a case another one has yet to insert."""
    streams: list[list[dict[str, object]]] = [[] for _ in range(workers)]
    for message in messages:
        for event in message:
            streams[zlib.crc32(str(event["case_id"]).encode()) % workers].append(event)
    return [[s[i : i + batch] for i in range(0, len(s), batch)] for s in streams]
