"""case_facts stays what its sources say, whichever writer changed them (SQLite and Postgres).

Random lawful histories are delivered late and out of order through the real ingest, with
the real sweeper judging and the compensation service paying (some refused) in between;
after every delivery the table must equal a fresh computation from the sources.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, delete, insert, select, text, true

from slamon.models.db.case_facts import COLUMNS, facts_query, rebuild_case_facts
from slamon.models.db.engine import create_db_engine, transaction
from slamon.models.db.migrate import upgrade
from slamon.models.db.tables import Breach, Case, CaseFacts, Compensation, Deadline
from slamon.models.states import CompensationStatus
from slamon.scheduler.sweeper import sweep
from slamon.worker.compensation import compensate_many
from slamon.worker.ingest import ingest_events, ingest_raw
from slamon.worker.points.memory import InMemoryPointsIssuer
from slamon.worker.points.port import RejectedIssueError
from tests.support.histories import history, opened_event
from tests.support.runtime import DEFAULTS, LIMITS, Clock, runtime_for

SH = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 16, 9, 30, tzinfo=SH)  # a Monday morning


def stored(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(*(getattr(CaseFacts, c) for c in COLUMNS)).order_by(CaseFacts.case_id))]


def recomputed(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(facts_query(lambda column: true())))


def test_every_writer_keeps_the_facts(engine: Engine) -> None:
    rng = random.Random(12)
    clock = Clock(START)
    runtime = runtime_for(engine.url.render_as_string(hide_password=False), clock)
    issuer = InMemoryPointsIssuer()
    deliveries: list[tuple[datetime, dict[str, Any]]] = []
    for i in range(24):
        h = history(rng, f"F{i:02d}", START + timedelta(minutes=9 * i), steps=4,
                    max_gap_minutes=600)
        for event in h.events:
            at = datetime.fromisoformat(event["occurred_at"])
            # Most arrive within a minute, some hours late (after their deadline was judged).
            lag = timedelta(seconds=rng.randint(0, 60)) if rng.random() < 0.7 else timedelta(
                hours=rng.randint(1, 30))
            deliveries.append((at + lag, event))
    deliveries.sort(key=lambda d: d[0])
    refusals = 0
    for delivered_at, event in deliveries:
        clock.now = delivered_at
        sweep(engine, delivered_at, "test", 500, timedelta(seconds=30), DEFAULTS.redispatch_after)
        owed = _pending_compensations(engine)
        if owed:
            if rng.random() < 0.2:
                issuer.fail_next(RejectedIssueError("account frozen"))
                refusals += 1
            compensate_many(engine, issuer, owed, clock, DEFAULTS.redispatch_after, LIMITS)
        ingest_raw(runtime, json.dumps(event, ensure_ascii=False))
        assert stored(engine) == recomputed(engine), (delivered_at, event)
    end = deliveries[-1][0] + timedelta(days=3)
    clock.now = end
    sweep(engine, end, "test", 500, timedelta(seconds=30), DEFAULTS.redispatch_after)
    compensate_many(engine, issuer, _pending_compensations(engine), clock,
                    DEFAULTS.redispatch_after, LIMITS)
    facts = stored(engine)
    assert facts == recomputed(engine)
    # The run went through the states that matter: judged, kept, open, settled, contested, paid.
    by_name = [dict(zip(COLUMNS, row, strict=True)) for row in facts]
    for name in ("response_judged", "response_kept", "resolution_judged", "breaches_open",
                 "breaches_settled", "breaches_contested", "points_paid"):
        assert any(f[name] for f in by_name), name
    assert refusals > 0


def test_a_batch_of_openings_gets_its_facts(engine: Engine) -> None:
    runtime = runtime_for(engine.url.render_as_string(hide_password=False), Clock(START))
    from slamon.models.events import parse_event

    events = [parse_event(opened_event(f"B{i}", f"b-{i}", START)) for i in range(30)]
    ingest_events(runtime, events)  # the bulk path of independent openings
    facts = stored(engine)
    assert len(facts) == 30 and facts == recomputed(engine)


def test_the_migration_fills_the_table_from_existing_cases(db_url: str) -> None:
    engine = create_db_engine(db_url)
    try:
        upgrade(engine, "0006")
        opened = START - timedelta(days=1)
        with transaction(engine) as session:
            session.execute(insert(Case), [{
                "case_id": "OLD-1", "status": "open", "monitored": True, "policy_id": "p",
                "opened_at": opened, "order_id": "O", "buyer_account": "b", "merchant_id": "M",
                "category": "furniture", "services": [], "reopen_count": 0,
                "responded_at": opened + timedelta(minutes=90), "last_event_at": opened,
                "created_at": opened, "updated_at": opened}])
            session.execute(insert(Deadline), [{
                "case_id": "OLD-1", "kind": "response", "clock": "wall_clock", "policy_id": "p",
                "due_at": opened + timedelta(hours=1), "at_risk_at": opened,
                "judge_at": opened + timedelta(hours=1), "points": 5000, "state": "breached",
                "pending_since": opened}])
            breach_id = session.execute(insert(Breach).returning(Breach.id), [{
                "case_id": "OLD-1", "kind": "response", "policy_id": "p",
                "due_at": opened + timedelta(hours=1), "judge_at": opened + timedelta(hours=1),
                "detected_at": opened + timedelta(hours=1), "points": 5000,
                "status": "settled"}]).scalar_one()
            session.execute(insert(Compensation), [{
                "breach_id": breach_id, "case_id": "OLD-1", "kind": "response", "account": "b",
                "points": 5000, "idempotency_key": "OLD-1:response",
                "status": CompensationStatus.ISSUED, "created_at": opened,
                "issued_at": opened + timedelta(hours=2)}])
        upgrade(engine)
        (facts,) = [dict(zip(COLUMNS, row, strict=True)) for row in stored(engine)]
        assert facts["response_judged"] == 1 and facts["response_kept"] == 0
        assert facts["breaches_settled"] == 1 and facts["points_paid"] == 5000
        assert facts["response_seconds"] == 5400.0
        assert stored(engine) == recomputed(engine)
        # Rebuilding what is already right writes nothing new.
        with transaction(engine) as session:
            rebuild_case_facts(session)
        assert stored(engine) == recomputed(engine)
        with transaction(engine) as session:
            session.execute(delete(Case))
        with engine.connect() as conn:  # gone with their case
            assert conn.execute(text("SELECT count(*) FROM case_facts")).scalar_one() == 0
    finally:
        engine.dispose()


def _pending_compensations(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(select(Compensation.id).where(
            Compensation.status == CompensationStatus.PENDING)).scalars())
