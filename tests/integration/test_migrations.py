"""The Alembic migrations build exactly the schema the models declare, on SQLite and Postgres."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from slamon.models.db.migrate import current_revision, head_revision, upgrade
from slamon.models.db.tables import Base


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
