"""Evidence applied while the sweeper judges the same deadline: one of them waits for the
other (the per-case lock on Postgres, the single writer on SQLite), so a deadline met by a
response is never also recorded as breached."""

from __future__ import annotations

import sys
import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select, text

from slamon.models.case_state import DeadlineEffect
from slamon.models.db.engine import _sqlite_begin, transaction
from slamon.models.db.locks import case_lock_key, lock_cases
from slamon.models.db.tables import Breach, Deadline
from slamon.scheduler.sweeper import SweepResult, sweep
from slamon.worker.evidence import apply_effect
from tests.support.processes import wait_for
from tests.support.runtime import DEFAULTS
from tests.support.seed import seed_cases

DUE = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
NOW = DUE + timedelta(minutes=2, seconds=1)  # past judge_at: the sweeper is judging it now


def waiting_for_the_case(engine: Engine, sweeper: threading.Thread) -> bool:
    """Whether the sweeper now waits for the transaction that holds the case."""
    if engine.dialect.name == "postgresql":  # for the case's advisory lock
        with engine.connect() as conn:
            return bool(conn.scalar(text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            )))
    # SQLite: in its BEGIN IMMEDIATE, which cannot pass while our write transaction is open.
    frame = sys._current_frames().get(sweeper.ident or -1)
    while frame is not None:
        if frame.f_code is _sqlite_begin.__code__:
            return True
        frame = frame.f_back
    return False


def test_a_response_applied_during_the_sweep_is_not_also_a_breach(engine: Engine) -> None:
    [case_id] = seed_cases(engine, 1, DUE)
    results: list[SweepResult] = []
    timings = DEFAULTS.claim_lease, DEFAULTS.redispatch_after
    sweeper = threading.Thread(
        target=lambda: results.append(sweep(engine, NOW, "s1", 10, *timings))
    )
    with transaction(engine) as session:  # ingest, mid-event, holding the case
        lock_cases(session, [case_id])
        deadline = session.scalars(select(Deadline)).one()
        sweeper.start()
        wait_for(lambda: waiting_for_the_case(engine, sweeper), timeout=10, interval=0.01,
                 what="the sweeper to wait for the case")
        # The response occurred in time; its message arrived after judge_at, before judgement.
        apply_effect(session, deadline, DeadlineEffect("response", "met", DUE), NOW)
    sweeper.join(timeout=30)
    assert results and results[0].breaches == ()
    with transaction(engine) as session:
        assert session.scalars(select(Deadline.state)).one() == "met"
        assert session.scalar(select(func.count()).select_from(Breach)) == 0


def test_lock_keys_are_stable() -> None:
    # Ingest and the sweeper, in any process, must agree on the key of a case.
    assert case_lock_key("H20261126001") == case_lock_key("H20261126001")
    assert case_lock_key("H1") != case_lock_key("H2")
    assert -(2**63) <= case_lock_key("一键求助") < 2**63
