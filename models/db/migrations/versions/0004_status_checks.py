"""every stored status is one of its lifecycle's values (named CHECK constraints)

The values are written out here, not taken from slamon.models.states: a migration records the
schema as it was at this revision, and a later one that adds a status replaces the constraint.
No data changes: the columns already held exactly these strings.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECKS = {
    "cases": ("status", ("open", "responded", "resolved", "cancelled")),
    "deadlines": ("state", ("pending", "met", "breached", "cancelled")),
    "events": ("outcome", ("applied", "parked", "duplicate", "rejected")),
    "breaches": ("status", ("open", "settled", "contested")),
    "compensations": ("status", ("pending", "issued", "failed", "cancelled", "review")),
}


def upgrade() -> None:
    for table, (column, allowed) in CHECKS.items():
        listed = ", ".join(f"'{value}'" for value in allowed)
        # SQLite cannot add a constraint in place: batch mode rebuilds the table (indexes
        # included); Postgres gets a plain ALTER TABLE.
        with op.batch_alter_table(table) as batch:
            batch.create_check_constraint(op.f(f"ck_{table}_{column}"), f"{column} IN ({listed})")


def downgrade() -> None:
    for table, (column, _) in CHECKS.items():
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(f"ck_{table}_{column}"), type_="check")
