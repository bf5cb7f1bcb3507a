"""an event id seen again with other content is a conflict: the inbox outcome admits it, each
inbox row tallies its conflicting copies, and dead letters are found by event id

The CHECK constraint's values are written out (the schema as of this revision). Existing rows
keep their outcome and start with no conflicts.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = ("applied", "parked", "duplicate", "rejected")
AFTER = (*BEFORE, "conflict")


def _outcome_check(batch: object, allowed: tuple[str, ...]) -> None:
    listed = ", ".join(f"'{value}'" for value in allowed)
    batch.create_check_constraint(  # type: ignore[attr-defined]
        op.f("ck_events_outcome"), f"outcome IN ({listed})"
    )


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_constraint(op.f("ck_events_outcome"), type_="check")
        _outcome_check(batch, AFTER)
        batch.add_column(sa.Column("conflicts", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("events") as batch:
        # The default only filled the existing rows; every writer sets the tally.
        batch.alter_column("conflicts", existing_type=sa.Integer(), server_default=None)
    op.create_index(op.f("ix_dead_letters_event_id"), "dead_letters", ["event_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_dead_letters_event_id"), table_name="dead_letters")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("conflicts")
        batch.drop_constraint(op.f("ck_events_outcome"), type_="check")
        _outcome_check(batch, BEFORE)
