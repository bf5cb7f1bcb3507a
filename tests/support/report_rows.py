"""A random but reproducible history of cases for the compliance reports, and the figures a
plain-Python reading of it gives (the reference the SQL is checked against).

Rows are inserted directly: the reports read the tables, whatever wrote them.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, insert

from slamon.models.db.case_facts import refresh_case_facts
from slamon.models.db.engine import transaction
from slamon.models.db.tables import Breach, Case, Compensation, Deadline

SH = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 2, 0, 0, tzinfo=SH)  # a Monday
DAYS = 14
STATES = ["met", "met", "met", "breached", "breached", "pending", "cancelled"]


@dataclass
class History:
    cases: list[dict[str, Any]] = field(default_factory=list)
    deadlines: list[dict[str, Any]] = field(default_factory=list)
    breaches: list[dict[str, Any]] = field(default_factory=list)
    compensations: list[dict[str, Any]] = field(default_factory=list)

    def insert(self, engine: Engine) -> None:
        with transaction(engine) as session:
            session.execute(insert(Case), self.cases)
            session.execute(insert(Deadline), self.deadlines)
            ids = session.execute(
                insert(Breach).returning(Breach.id, sort_by_parameter_order=True),
                [{k: v for k, v in b.items() if k != "compensation"} for b in self.breaches],
            ).scalars().all()
            owed = [
                {**b["compensation"], "breach_id": breach_id}
                for b, breach_id in zip(self.breaches, ids, strict=True)
                if b["compensation"] is not None
            ]
            if owed:
                session.execute(insert(Compensation), owed)
            # Written directly, as the tests want; so the facts are refreshed as writers do.
            refresh_case_facts(session, [c["case_id"] for c in self.cases])


def make_history(
    count: int, seed: int = 7, start: datetime = START, now: datetime | None = None
) -> History:
    """``count`` cases opened over the ``DAYS`` days from ``start``; with ``now``, no deadline
    due before it is left pending (the scheduler would have judged it)."""
    rng = random.Random(seed)
    history = History()
    for i in range(count):
        case_id = f"R{seed}-{i:05d}"
        opened = start + timedelta(
            seconds=rng.randrange(DAYS * 86400), microseconds=rng.randrange(10**6)
        )
        monitored = rng.random() > 0.05
        responded = resolved = None
        if rng.random() < 0.85:  # sub-second times, so the percentiles are not whole seconds
            responded = opened + timedelta(
                seconds=rng.randrange(1, 3 * 3600), microseconds=rng.randrange(10**6)
            )
        if rng.random() < 0.7:
            resolved = opened + timedelta(seconds=rng.randrange(3600, 72 * 3600))
        history.cases.append({
            "case_id": case_id, "status": "open", "monitored": monitored,
            "policy_id": rng.choice(["tmall-2022", "tmall-2022", "tmall-legacy"]),
            "opened_at": opened, "order_id": f"O{i}", "buyer_account": f"tb{i % 17}",
            "merchant_id": f"M{rng.randrange(6)}",
            "provider_id": rng.choice(["P1", "P2", "P3", None]),
            "city": rng.choice(["杭州", "上海", "北京", None]),
            "category": rng.choice(["furniture", "lighting", "home_appliances"]),
            "services": ["delivery_and_installation"], "responded_at": responded,
            "resolved_at": resolved, "reopen_count": 0, "last_event_at": opened,
            "created_at": opened, "updated_at": opened,
        })
        if not monitored:
            continue
        for kind, hours, points in (("response", 1, 5000), ("resolution", 48, 30000)):
            if kind == "response" and rng.random() < 0.1:
                continue  # window_only: opened outside the window, no response deadline
            state = rng.choice(STATES)
            due = opened + timedelta(hours=hours)
            if state == "pending" and now is not None and due <= now:
                state = "cancelled"
            history.deadlines.append({
                "case_id": case_id, "kind": kind, "clock": "wall_clock",
                "policy_id": "tmall-2022", "due_at": due, "at_risk_at": due,
                "judge_at": due + timedelta(minutes=1), "points": points, "state": state,
                "pending_since": opened,
            })
            if state == "breached":
                status = rng.choice(["open", "settled", "settled", "contested"])
                comp_status = {"open": rng.choice(["pending", "failed"]), "settled": "issued",
                               "contested": rng.choice(["cancelled", "review"])}[status]
                paid = comp_status in ("issued", "review")
                history.breaches.append({
                    "case_id": case_id, "kind": kind, "policy_id": "tmall-2022",
                    "due_at": due, "judge_at": due + timedelta(minutes=1),
                    "detected_at": due + timedelta(minutes=1, seconds=1), "points": points,
                    "status": status,
                    "compensation": None if rng.random() < 0.1 else {
                        "case_id": case_id, "kind": kind, "account": "tb", "points": points,
                        "idempotency_key": f"{case_id}:{kind}", "status": comp_status,
                        "created_at": due,
                        "issued_at": due + timedelta(minutes=2) if paid else None,
                    },
                })
    return history


# -- the reference: the same figures from the Python rows ----------------------------------


def _percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def _seconds(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else (end - start) / timedelta(microseconds=1) / 1_000_000


def expected_groups(
    history: History, key: Any, since: datetime, until: datetime
) -> dict[str | None, dict[str, Any]]:
    """The report's rows keyed by group, computed without SQL."""
    in_scope = {
        c["case_id"]: c for c in history.cases
        if c["monitored"] and since <= c["opened_at"] < until
    }
    contested = {(b["case_id"], b["kind"]) for b in history.breaches if b["status"] == "contested"}
    rows: dict[str | None, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    durations: dict[str | None, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for c in in_scope.values():
        k = key(c)
        rows[k]["cases"] += 1
        for promise, end in (("response", c["responded_at"]), ("resolution", c["resolved_at"])):
            seconds = _seconds(c["opened_at"], end)
            if seconds is not None:
                durations[k][promise].append(seconds)
    for d in history.deadlines:
        c = in_scope.get(d["case_id"])
        if c is None or d["state"] not in ("met", "breached"):
            continue
        k = key(c)
        rows[k][f"{d['kind']}_judged"] += 1
        if d["state"] == "met" or (d["case_id"], d["kind"]) in contested:
            rows[k][f"{d['kind']}_kept"] += 1
    for b in history.breaches:
        c = in_scope.get(b["case_id"])
        if c is None:
            continue
        k = key(c)
        rows[k][f"breaches_{b['status']}"] += 1
        comp = b["compensation"]
        if comp is not None and comp["issued_at"] is not None:
            rows[k]["points_paid"] += comp["points"]
    result: dict[str | None, dict[str, Any]] = {}
    for k, figures in rows.items():
        row: dict[str, Any] = {"key": k}
        row["cases"] = figures["cases"]
        for promise in ("response", "resolution"):
            judged, kept = figures[f"{promise}_judged"], figures[f"{promise}_kept"]
            row[f"{promise}_judged"], row[f"{promise}_kept"] = judged, kept
            row[f"{promise}_met_pct"] = round(100 * kept / judged, 2) if judged else None
        for status in ("open", "settled", "contested"):
            row[f"breaches_{status}"] = figures[f"breaches_{status}"]
        row["points_paid"] = figures["points_paid"]
        for promise in ("response", "resolution"):
            row[f"{promise}_median_seconds"] = _percentile(durations[k][promise], 0.5)
            row[f"{promise}_p90_seconds"] = _percentile(durations[k][promise], 0.9)
        result[k] = row
    return result
