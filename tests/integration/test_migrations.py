"""The Alembic migrations build exactly the schema the models declare, on SQLite and Postgres."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from slamon.models.db.engine import create_db_engine
from slamon.models.db.migrate import current_revision, head_revision, upgrade
from slamon.models.db.tables import Base
from slamon.models.states import (
    BreachStatus,
    CaseStatus,
    CompensationStatus,
    DeadlineState,
    InboxOutcome,
)


def test_migrated_schema_matches_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    assert current_revision(engine) == head_revision()


def test_upgrade_is_idempotent(engine: Engine) -> None:
    upgrade(engine)
    assert current_revision(engine) == head_revision()


def test_sweeper_indexes_are_partial(engine: Engine) -> None:
    indexes = {ix["name"]: ix for ix in inspect(engine).get_indexes("deadlines")}
    assert indexes["ix_deadlines_due_pending"]["column_names"] == ["judge_at"]
    unique = {uc["name"] for uc in inspect(engine).get_unique_constraints("breaches")}
    assert "uq_breaches_case_id_kind" in unique


CHECKED = {
    "cases": ("status", CaseStatus),
    "deadlines": ("state", DeadlineState),
    "events": ("outcome", InboxOutcome),
    "breaches": ("status", BreachStatus),
    "compensations": ("status", CompensationStatus),
}


def test_every_status_column_has_its_named_check(engine: Engine) -> None:
    for table, (column, _) in CHECKED.items():
        names = {ck["name"] for ck in inspect(engine).get_check_constraints(table)}
        assert f"ck_{table}_{column}" in names, table


def test_the_checks_admit_every_lifecycle_value_and_refuse_others(db_url: str) -> None:
    """Migrating rows written before the checks existed keeps them as they were (no data
    change), and afterwards the database itself refuses a status no lifecycle knows."""
    engine = create_db_engine(db_url)
    upgrade(engine, "0004")
    seed_every_status(engine, compensations=BEFORE_GUARD)
    before = statuses(engine)
    upgrade(engine)
    assert statuses(engine) == before
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text("UPDATE compensations SET status = 'paid-twice'"))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text("UPDATE deadlines SET state = 'sort of met'"))
    engine.dispose()


# The compensation statuses that existed before the payout guard (migration 0006).
BEFORE_GUARD = ("pending", "issued", "failed", "cancelled", "review")


def test_the_guard_migration_keeps_every_row_and_admits_the_new_statuses(db_url: str) -> None:
    engine = create_db_engine(db_url)
    upgrade(engine, "0004")  # the seed's schema; 0005 and the guard's 0006 follow
    seed_every_status(engine, compensations=BEFORE_GUARD)
    before = statuses(engine)
    upgrade(engine)
    assert statuses(engine) == before
    with engine.begin() as conn:
        for status in (CompensationStatus.HELD, CompensationStatus.PAID_IN_ERROR):
            conn.execute(text("UPDATE compensations SET status = :s WHERE status = 'pending'"),
                         {"s": status.value})
            conn.execute(text("UPDATE compensations SET status = 'pending' WHERE status = :s"),
                         {"s": status.value})
        guard = conn.execute(text("SELECT id, tripped_at FROM payout_guard")).all()
        undecided = conn.execute(
            text("SELECT count(*) FROM compensations WHERE approved_at IS NOT NULL")
        ).scalar_one()
    assert [tuple(row) for row in guard] == [(1, None)]  # the one row, not tripped
    assert undecided == 0  # rows from before the guard were decided without it
    engine.dispose()


def seed_every_status(
    engine: Engine, compensations: tuple[str, ...] = tuple(CompensationStatus)
) -> None:
    at = "2026-11-26 02:00:00"
    with engine.begin() as conn:
        for n, case_status in enumerate(CaseStatus):
            case_id = f"H{n}"
            conn.execute(
                text(
                    "INSERT INTO cases (case_id, status, monitored, opened_at, order_id,"
                    " buyer_account, merchant_id, category, services, reopen_count,"
                    " last_event_at, created_at, updated_at) VALUES (:c, :s, true, :t, 'O',"
                    " 'b', 'M', 'furniture', '[]', 0, :t, :t, :t)"
                ),
                {"c": case_id, "s": case_status.value, "t": at},
            )
        for n, state in enumerate(DeadlineState):
            conn.execute(
                text(
                    "INSERT INTO deadlines (case_id, kind, clock, policy_id, due_at, at_risk_at,"
                    " judge_at, points, state, at_risk_sent) VALUES ('H0', :k, 'wall', 'p',"
                    " :t, :t, :t, 1, :s, false)"
                ),
                {"k": f"kind{n}", "s": state.value, "t": at},
            )
        # The seed's schema (0004) predates the conflict outcome (0009).
        for n, outcome in enumerate(o for o in InboxOutcome if o != InboxOutcome.CONFLICT):
            conn.execute(
                text(
                    "INSERT INTO events (event_id, case_id, type, occurred_at, received_at,"
                    " payload, outcome, duplicates) VALUES (:e, 'H0', 'help.opened', :t, :t,"
                    " '{}', :o, 0)"
                ),
                {"e": f"e{n}", "o": outcome.value, "t": at},
            )
        breach_statuses = list(BreachStatus)
        for n, comp in enumerate(compensations):
            breach_id = conn.execute(
                text(
                    "INSERT INTO breaches (case_id, kind, policy_id, due_at, judge_at,"
                    " detected_at, points, status) VALUES ('H0', :k, 'p', :t, :t, :t, 1,"
                    " :s) RETURNING id"
                ),
                {"k": f"kind{n}", "s": breach_statuses[n % len(breach_statuses)], "t": at},
            ).scalar_one()
            conn.execute(
                text(
                    "INSERT INTO compensations (breach_id, case_id, kind, account, points,"
                    " idempotency_key, status, attempts, created_at) VALUES (:b, 'H0', :k,"
                    " 'b', 1, :key, :s, 0, :t)"
                ),
                {"b": breach_id, "k": f"kind{n}", "key": f"H0:kind{n}", "s": comp, "t": at},
            )


def statuses(engine: Engine) -> dict[str, list[str]]:
    with engine.connect() as conn:
        return {
            table: sorted(conn.execute(text(f"SELECT {column} FROM {table}")).scalars())
            for table, (column, _) in CHECKED.items()
        }


def test_0005_classifies_old_dead_letters_and_dates_pending_deadlines(db_url: str) -> None:
    """Rows written before migration 0005 get a cause from their error's words, and deadlines
    are pending since their case was stored."""
    from sqlalchemy import text

    from slamon.models.db.engine import create_db_engine

    engine = create_db_engine(db_url)
    try:
        upgrade(engine, "0004")
        errors = {
            "not JSON: Expecting value: line 1 column 1 (char 0)": "not_json",
            "an event must be a JSON object, got a list": "not_an_object",
            "occurred_at 2030-01-01T00:00:00+08:00 is in the future (more than 300 s after …)":
                "future_event",
            "unknown task 'x.y': KeyError": "unknown_task",
            "internal error: RuntimeError('boom')": "internal_error",
            "event_id: field required": "invalid_event",
        }
        with engine.begin() as conn:
            for error in errors:
                conn.execute(
                    text("INSERT INTO dead_letters (received_at, source, raw, error) "
                         "VALUES (:at, 'queue', 'x', :error)"),
                    {"at": "2026-11-26 01:00:00", "error": error},
                )
            conn.execute(text(
                "INSERT INTO cases (case_id, status, monitored, opened_at, order_id, "
                "buyer_account, merchant_id, category, services, reopen_count, last_event_at, "
                "created_at, updated_at) VALUES ('H1', 'open', true, '2026-11-26 01:00:00', "
                "'O1', 'b', 'M1', 'furniture', '[]', 0, '2026-11-26 01:00:00', "
                "'2026-11-26 01:00:05', '2026-11-26 01:00:05')"
            ))
            conn.execute(text(
                "INSERT INTO deadlines (case_id, kind, clock, policy_id, due_at, at_risk_at, "
                "judge_at, points, state, at_risk_sent) VALUES ('H1', 'response', "
                "'business_hours', 'p', '2026-11-26 02:00:00', '2026-11-26 01:45:00', "
                "'2026-11-26 02:01:00', 5000, 'pending', false)"
            ))
        upgrade(engine)
        with engine.connect() as conn:
            causes = dict(conn.execute(text("SELECT error, cause FROM dead_letters")).all())
            [since] = conn.execute(text("SELECT pending_since FROM deadlines")).scalars().all()
        assert causes == errors
        assert str(since).startswith("2026-11-26 01:00:05")
    finally:
        engine.dispose()


def test_case_facts_index_is_partial(engine: Engine) -> None:
    # compare_metadata does not compare partial predicates: checked here.
    (index,) = inspect(engine).get_indexes("case_facts")
    assert (index["name"], index["column_names"]) == ("ix_case_facts_opened_at", ["opened_at"])
    if engine.dialect.name == "postgresql":
        assert index["dialect_options"]["postgresql_where"] == "monitored"
