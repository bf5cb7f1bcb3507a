"""What the ingest benchmark sends: new openings, and the mixed stream production sends.

* :func:`opened_events`: ``help.opened`` of new cases, opened over the 3 days before now.
* :func:`mixed_stream`: for every case its opening, its response (10 minutes later) and its
  resolution (2 hours later), each in a later message than the one before, so a message mixes
  the openings of some cases with the evidence of earlier ones. Out of order on purpose:
  for one case in ten the response is sent a message *before* the opening (it is parked, then
  applied when the opening arrives), for another one in ten the resolution is sent a message
  before the response (both are applied, judged by event time). One event in ten is sent a
  second time, later (a duplicate: recorded, changes nothing).

The expected end state is exact: every distinct event ``applied``, every repeat counted in its
inbox row's ``duplicates``, every case ``resolved`` and every deadline ``met``
(:func:`check_mixed`).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select

from slamon.models.db.tables import Case, Deadline, InboxEvent
from slamon.models.states import CaseStatus, DeadlineState, InboxOutcome

SH = ZoneInfo("Asia/Shanghai")
RESPONSE_AFTER = timedelta(minutes=10)
RESOLUTION_AFTER = timedelta(hours=2)

# Eligible case facts (DOMAIN.md), cycled so that every rule and penalty kind is exercised.
FACTS: tuple[dict[str, object], ...] = (
    {"category": "家装家具", "services": ["送货入户并安装"], "item_price": "1299.00"},
    {"category": "家装建材", "services": ["送货入户"], "item_price": "86.50"},
    {"category": "灯具灯饰", "services": ["预约安装"]},
    {"category": "家电", "services": ["三年质保", "预约安装"], "item_price": "4999.00"},
)


def opening(prefix: str, i: int, opened_at: datetime) -> dict[str, object]:
    return {
        "event_id": f"{prefix}-e{i}",
        "type": "help.opened",
        "case_id": f"{prefix}-c{i}",
        "occurred_at": opened_at.astimezone(SH).isoformat(),
        "order_id": f"O{i}",
        "buyer_account": f"tb_buyer_{i % 9973}",
        "merchant_id": f"M{i % 97}",
        "provider_id": f"P{i % 31}",
        "city": "杭州",
        **FACTS[i % len(FACTS)],
    }


def opened_events(prefix: str, count: int, now: datetime) -> Iterator[dict[str, object]]:
    """``count`` valid ``help.opened`` events of new cases, opened in the 3 days before ``now``."""
    rng = random.Random(prefix)
    span_us = 3 * 86_400 * 10**6
    for i in range(count):
        yield opening(prefix, i, now - timedelta(minutes=1, microseconds=rng.randrange(span_us)))


def batches(events: Iterator[dict[str, object]], size: int) -> Iterator[list[dict[str, object]]]:
    batch: list[dict[str, object]] = []
    for event in events:
        batch.append(event)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# --- the mixed stream ------------------------------------------------------------------------


@dataclass(frozen=True)
class MixedStream:
    prefix: str
    messages: list[list[dict[str, object]]]  # in publish order
    cases: int
    distinct: int  # distinct event ids
    repeats: int  # events sent a second time
    evidence_first: int  # cases whose response was sent before their opening
    resolution_first: int  # cases whose resolution was sent before their response

    @property
    def events(self) -> int:
        return self.distinct + self.repeats


def mixed_stream(prefix: str, cases: int, batch: int, now: datetime) -> MixedStream:
    """About ``batch`` events per message, ``3 x cases`` distinct events (module docstring).

    Cases come in blocks of ``batch // 3``; message ``k`` carries the openings of block ``k``,
    the first piece of evidence of block ``k - 1``, the second of block ``k - 2`` and the
    repeats of block ``k - 3``, shuffled. Early evidence moves one message earlier.
    """
    rng = random.Random(f"mixed-{prefix}")
    block = max(1, batch // 3)
    blocks = (cases + block - 1) // block
    slots: list[list[dict[str, object]]] = [[] for _ in range(blocks + 4)]
    span_us = 3 * 86_400 * 10**6
    evidence_first = resolution_first = repeats = 0
    for i in range(cases):
        k = i // block
        opened_at = now - timedelta(hours=3, microseconds=rng.randrange(span_us))
        opened = opening(prefix, i, opened_at)
        case_id = opened["case_id"]
        responded = _evidence(prefix, i, "help.responded", case_id, opened_at + RESPONSE_AFTER)
        resolved = _evidence(prefix, i, "help.resolved", case_id, opened_at + RESOLUTION_AFTER)
        first, second = responded, resolved
        if i % 10 == 3:  # the response travels ahead of the opening: parked, then applied
            slots[k].append(responded)
            slots[k + 1].append(opened)
            slots[k + 2].append(resolved)
            evidence_first += 1
        else:
            if i % 10 == 7:  # the resolution arrives before the response
                first, second = resolved, responded
                resolution_first += 1
            slots[k].append(opened)
            slots[k + 1].append(first)
            slots[k + 2].append(second)
        if i % 10 in (1, 6):  # sent again, later: a duplicate
            slots[k + 3].append(opened if i % 10 == 1 else second)
            repeats += 1
    for slot in slots:
        rng.shuffle(slot)
    messages = [slot for slot in slots if slot]
    return MixedStream(prefix, messages, cases, 3 * cases, repeats, evidence_first,
                       resolution_first)


def _evidence(
    prefix: str, i: int, kind: str, case_id: object, at: datetime
) -> dict[str, object]:
    tag = "r" if kind == "help.responded" else "s"
    return {"event_id": f"{prefix}-{tag}{i}", "type": kind, "case_id": case_id,
            "occurred_at": at.astimezone(SH).isoformat()}


def check_mixed(engine: Engine, stream: MixedStream) -> None:
    """Fail unless the database holds exactly the stream's end state (module docstring)."""
    like = f"{stream.prefix}-%"
    with engine.connect() as conn:
        outcomes = dict(
            conn.execute(
                select(InboxEvent.outcome, func.count())
                .where(InboxEvent.event_id.like(like))
                .group_by(InboxEvent.outcome)
            ).all()
        )
        counted = conn.scalar(
            select(func.coalesce(func.sum(InboxEvent.duplicates), 0)).where(
                InboxEvent.event_id.like(like)
            )
        )
        statuses = dict(
            conn.execute(
                select(Case.status, func.count())
                .where(Case.case_id.like(like))
                .group_by(Case.status)
            ).all()
        )
        states = dict(
            conn.execute(
                select(Deadline.state, func.count())
                .where(Deadline.case_id.like(like))
                .group_by(Deadline.state)
            ).all()
        )
    problems = []
    if outcomes != {InboxOutcome.APPLIED: stream.distinct}:
        problems.append(f"event outcomes {outcomes}, expected {stream.distinct} applied")
    if counted != stream.repeats:
        problems.append(f"{counted} duplicates counted, expected {stream.repeats}")
    if statuses != {CaseStatus.RESOLVED: stream.cases}:
        problems.append(f"case statuses {statuses}, expected {stream.cases} resolved")
    if set(states) != {DeadlineState.MET} or states[DeadlineState.MET] < stream.cases:
        problems.append(f"deadline states {states}, expected every one met")
    if problems:
        raise RuntimeError("mixed stream went wrong: " + "; ".join(problems))
