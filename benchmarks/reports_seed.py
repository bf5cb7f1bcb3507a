"""A platform's history for the report benchmark, written with COPY: ``count`` cases opened
evenly over ``days`` up to ``end``, with their deadlines, breaches and compensations.

Shaped like production rather than uniform: 2,000 merchants whose sizes follow a long tail,
300 providers, 120 cities, six categories, two policies; about 90 % of responses and 85 % of
resolutions in time, deadlines of the last two days still pending, a breach for each broken
promise (settled once paid, a few contested), a compensation for each breach. Rows are made
in Python from a seeded generator (the same history every run) and streamed to Postgres.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, text

MERCHANTS, PROVIDERS, CITIES = 2000, 300, 120
CATEGORIES = ("furniture", "lighting", "building_materials", "electrical", "storage",
              "home_appliances")
SERVICES = '["delivery_and_installation"]'
PROMISES = (("response", timedelta(hours=1), 5000, 0.90), ("resolution", timedelta(hours=48),
                                                            30000, 0.85))

CASE_COLUMNS = ("case_id", "status", "monitored", "policy_id", "opened_at", "order_id",
                "buyer_account", "merchant_id", "provider_id", "city", "category", "services",
                "reopen_count", "responded_at", "resolved_at", "last_event_at", "created_at",
                "updated_at")
DEADLINE_COLUMNS = ("case_id", "kind", "clock", "policy_id", "due_at", "at_risk_at", "judge_at",
                    "points", "state", "at_risk_sent", "met_at", "judged_at",
                    "pending_since")
BREACH_COLUMNS = ("id", "case_id", "kind", "policy_id", "due_at", "judge_at", "detected_at",
                  "points", "status")
COMPENSATION_COLUMNS = ("breach_id", "case_id", "kind", "account", "points", "idempotency_key",
                        "status", "attempts", "created_at", "issued_at")


@dataclass
class Seeded:
    cases: int = 0
    deadlines: int = 0
    breaches: int = 0


@dataclass
class _Rows:
    cases: list[tuple[Any, ...]]
    deadlines: list[tuple[Any, ...]]
    breaches: list[tuple[Any, ...]]
    compensations: list[tuple[Any, ...]]


def seed_history(engine: Engine, count: int, days: int, end: datetime,
                 chunk: int = 50_000) -> Seeded:
    """Write the history (module docstring) in chunks of ``chunk`` cases, then ANALYZE; the
    caller builds case_facts (as the migration does)."""
    rng = random.Random(20261126)
    # A long tail: merchant m gets weight 1/(m+1), so a few big ones and many small ones.
    weights = [1 / (m + 1) for m in range(MERCHANTS)]
    merchants = rng.choices(range(MERCHANTS), weights, k=count)
    seeded = Seeded()
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for start in range(0, count, chunk):
            rows = _make(rng, range(start, min(count, start + chunk)), count, days, end,
                         merchants, seeded.breaches)
            _copy(cursor, "cases", CASE_COLUMNS, rows.cases)
            _copy(cursor, "deadlines", DEADLINE_COLUMNS, rows.deadlines)
            _copy(cursor, "breaches", BREACH_COLUMNS, rows.breaches)
            _copy(cursor, "compensations", COMPENSATION_COLUMNS, rows.compensations)
            seeded.cases += len(rows.cases)
            seeded.deadlines += len(rows.deadlines)
            seeded.breaches += len(rows.breaches)
        raw.commit()
    finally:
        raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # Breach ids were given explicitly; the next breach a real sweep records follows them.
        conn.execute(text("SELECT setval(pg_get_serial_sequence('breaches', 'id'), "
                          "(SELECT coalesce(max(id), 1) FROM breaches))"))
        for table in ("cases", "deadlines", "breaches", "compensations"):
            conn.execute(text(f"ANALYZE {table}"))  # for the plan that builds case_facts
    return seeded


def _copy(cursor: Any, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _make(rng: random.Random, numbers: range, count: int, days: int, end: datetime,
          merchants: list[int], breaches_before: int) -> _Rows:
    rows = _Rows([], [], [], [])
    first = end - timedelta(days=days)
    spacing = timedelta(days=days) / count
    for n in numbers:
        case_id = f"B{n:08d}"
        opened = first + n * spacing
        policy = "tmall-legacy" if n % 10 == 0 else "tmall-2022"
        ends: dict[str, datetime | None] = {}
        for kind, window, points, in_time in PROMISES:
            due = opened + window
            answered = _answer(rng, opened, window, in_time)
            ends[kind] = answered if answered is None or answered <= end else None
            state, met_at = _state(ends[kind], due, end)
            rows.deadlines.append((case_id, kind, "wall_clock", policy, due,
                                   opened + window * 0.75, due + timedelta(minutes=1), points,
                                   state, state != "pending", met_at,
                                   None if state == "pending" else min(due, end), opened))
            if state == "breached":
                breach_id = breaches_before + len(rows.breaches) + 1
                status = rng.choices(("settled", "open", "contested"), (0.7, 0.25, 0.05))[0]
                detected = due + timedelta(minutes=1, seconds=rng.random())
                rows.breaches.append((breach_id, case_id, kind, policy, due,
                                      due + timedelta(minutes=1), detected, points, status))
                compensation = {"settled": "issued", "open": "pending",
                                "contested": "cancelled"}[status]
                rows.compensations.append((
                    breach_id, case_id, kind, f"tb_{n % 500_000}", points, f"{case_id}:{kind}",
                    compensation, 1, detected,
                    detected + timedelta(seconds=2) if compensation == "issued" else None))
        rows.cases.append((
            case_id, "open", True, policy, opened, f"O{n:08d}", f"tb_{n % 500_000}",
            f"M{merchants[n]:04d}",
            f"P{rng.randrange(PROVIDERS):03d}", f"C{rng.randrange(CITIES):03d}",
            CATEGORIES[n % len(CATEGORIES)], SERVICES, 0, ends["response"], ends["resolution"],
            opened, opened, opened))
    return rows


def _answer(rng: random.Random, opened: datetime, window: timedelta,
            in_time: float) -> datetime | None:
    """When the promise was kept: mostly inside the window, sometimes late, sometimes never."""
    draw = rng.random()
    if draw < in_time:
        return opened + window * rng.random()
    if draw < in_time + (1 - in_time) / 2:
        return opened + window * (1 + rng.random())
    return None


def _state(answered: datetime | None, due: datetime, end: datetime) -> tuple[str, datetime | None]:
    if answered is not None and answered <= due:
        return "met", answered
    if due + timedelta(minutes=1) > end:
        return "pending", None
    return "breached", None
