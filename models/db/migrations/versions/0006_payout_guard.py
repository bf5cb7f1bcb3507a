"""the payout guard: held and paid-in-error compensations, the guard's row, the audit trail

Compensations gain the guard's decision (approved_at, released_by; held_at, hold_limit,
hold_reason, each null on existing rows: they were decided before the guard existed) and the
statuses ``held`` and ``paid_in_error``; ``payout_guard`` holds the one row every payment
decision locks; ``operator_actions`` records what operators do by hand. Values are written
out here, not taken from slamon.models: a migration records the schema as of its revision.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from slamon.models.db import types as db_types

Instant = db_types.UTCDateTime(timezone=True)

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = ("pending", "issued", "failed", "cancelled", "review")
NEW_STATUSES = (*OLD_STATUSES, "held", "paid_in_error")
ACTIONS = ("release", "cancel", "retry", "resolve_review", "reset_guard")
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _listed(values: Sequence[str]) -> str:
    return ", ".join(f"'{value}'" for value in values)


def upgrade() -> None:
    with op.batch_alter_table("compensations") as batch:
        batch.add_column(sa.Column("approved_at", Instant, nullable=True))
        batch.add_column(sa.Column("released_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("held_at", Instant, nullable=True))
        batch.add_column(sa.Column("hold_limit", sa.String(32), nullable=True))
        batch.add_column(sa.Column("hold_reason", sa.Text(), nullable=True))
        batch.drop_constraint(op.f("ck_compensations_status"), type_="check")
        batch.create_check_constraint(
            op.f("ck_compensations_status"), f"status IN ({_listed(NEW_STATUSES)})"
        )
        batch.create_index(op.f("ix_compensations_approved_at"), ["approved_at"])
        batch.create_index(
            op.f("ix_compensations_account_approved_at"), ["account", "approved_at"]
        )
    guard = op.create_table(
        "payout_guard",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("tripped_at", Instant, nullable=True),
        sa.Column("tripped_limit", sa.String(32), nullable=True),
        sa.Column("tripped_reason", sa.Text(), nullable=True),
        sa.Column("reset_at", Instant, nullable=True),
        sa.Column("reset_by", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout_guard")),
    )
    op.bulk_insert(guard, [{"id": 1}])
    op.create_table(
        "operator_actions",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("at", Instant, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("compensation_id", Id, nullable=True),
        sa.Column("from_status", sa.String(32), nullable=True),
        sa.Column("to_status", sa.String(32), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_actions")),
        sa.CheckConstraint(
            f"action IN ({_listed(ACTIONS)})", name=op.f("ck_operator_actions_action")
        ),
    )
    op.create_index(
        op.f("ix_operator_actions_compensation_id"), "operator_actions", ["compensation_id"]
    )


def downgrade() -> None:
    op.drop_table("operator_actions")
    op.drop_table("payout_guard")
    # Rows in the new statuses have no place in the old schema. A held one was never paid and
    # must not be paid by guard-less code on its own: failed (an operator may retry it); a
    # paid-in-error one was paid and reviewed: review.
    op.execute(
        "UPDATE compensations SET status = 'failed', "
        "last_error = 'held by the payout guard; schema downgraded: retry by hand if owed' "
        "WHERE status = 'held'"
    )
    op.execute("UPDATE compensations SET status = 'review' WHERE status = 'paid_in_error'")
    with op.batch_alter_table("compensations") as batch:
        batch.drop_index(op.f("ix_compensations_account_approved_at"))
        batch.drop_index(op.f("ix_compensations_approved_at"))
        batch.drop_constraint(op.f("ck_compensations_status"), type_="check")
        batch.create_check_constraint(
            op.f("ck_compensations_status"), f"status IN ({_listed(OLD_STATUSES)})"
        )
        for column in ("hold_reason", "hold_limit", "held_at", "released_by", "approved_at"):
            batch.drop_column(column)
