"""A sweep costs in proportion to the due rows: the claim walks the partial index on Postgres.

The statements :func:`slamon.scheduler.sweeper.claim_due` really sends (captured, not copied) are
EXPLAINed with their own parameters, over many deadlines that are judged or not due and a few
that are due. Neither may scan the table.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, text

from slamon.scheduler import sweeper
from tests.support.seed import SeedDeadline, seed_cases

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


@pytest.mark.postgres
def test_claim_uses_the_partial_index_not_a_scan(postgres_url: str) -> None:
    from slamon.models.db.migrate import upgrade

    engine: Engine = create_engine(postgres_url)
    upgrade(engine)
    # Judged long ago (outside the partial index), pending but not due, and due: only the
    # last kind may cost anything.
    seed_cases(engine, 10_000, NOW, (SeedDeadline(due_in=timedelta(days=-1)),), prefix="J")
    seed_cases(engine, 10_000, NOW, (SeedDeadline(due_in=timedelta(days=1)),), prefix="F")
    seed_cases(engine, 50, NOW, (SeedDeadline(due_in=timedelta(minutes=-5)),), prefix="D")
    with engine.begin() as conn:
        met = conn.execute(text("UPDATE deadlines SET state = 'met' WHERE case_id LIKE 'J%'"))
        assert met.rowcount == 10_000
        conn.execute(text("ANALYZE deadlines"))
    statements: list[tuple[str, Any]] = []

    def capture(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
        statements.append((statement, params))

    event.listen(engine, "before_cursor_execute", capture)
    assert len(sweeper.claim_due(engine, NOW, "s1", 1000, timedelta(seconds=60))) == 50
    event.remove(engine, "before_cursor_execute", capture)
    [pick] = [s for s in statements if s[0].startswith("SELECT deadlines.id")]
    [mark] = [s for s in statements if s[0].startswith("UPDATE deadlines SET claimed_until")]
    with engine.begin() as conn:  # EXPLAIN ANALYZE runs the statements: roll them back
        for statement, params in (pick, mark):
            # As sent, with the same server-side parameters (a custom plan, as in production).
            rows = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", params)
            plan = "\n".join(r[0] for r in rows)
            assert "Seq Scan" not in plan, plan
            if statement is pick[0]:
                assert "ix_deadlines_due_pending" in plan, plan
        conn.rollback()
    engine.dispose()
