"""case_facts for compliance reports; indexes for the dashboard's case search and a case's
payment history

The table is filled from the existing cases by slamon.models.db.case_facts, the module that
defines the projection (its rows are a function of the other tables, so this revision builds
them as the code of this revision computes them; a later change to the projection comes with
a revision that rebuilds it).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from slamon.models.db import types as db_types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_facts",
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("opened_at", db_types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("monitored", sa.Boolean(), nullable=False),
        sa.Column("policy_id", sa.String(length=64), nullable=True),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=True),
        sa.Column("city", sa.String(length=64), nullable=True),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("response_judged", sa.Integer(), nullable=False),
        sa.Column("response_kept", sa.Integer(), nullable=False),
        sa.Column("resolution_judged", sa.Integer(), nullable=False),
        sa.Column("resolution_kept", sa.Integer(), nullable=False),
        sa.Column("breaches_open", sa.Integer(), nullable=False),
        sa.Column("breaches_settled", sa.Integer(), nullable=False),
        sa.Column("breaches_contested", sa.Integer(), nullable=False),
        sa.Column("points_paid", sa.Integer(), nullable=False),
        sa.Column("response_seconds", sa.Float(), nullable=True),
        sa.Column("resolution_seconds", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.case_id"], name=op.f("fk_case_facts_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_case_facts")),
    )
    with op.batch_alter_table("case_facts") as batch:
        batch.create_index(
            "ix_case_facts_opened_at",
            ["opened_at"],
            postgresql_where=sa.text("monitored"),
            sqlite_where=sa.text("monitored = 1"),
        )
    with op.batch_alter_table("cases") as batch:
        batch.create_index("ix_cases_order_id", ["order_id"])
        batch.create_index("ix_cases_buyer_account", ["buyer_account"])
        batch.create_index("ix_cases_merchant_id_opened_at", ["merchant_id", "opened_at"])
    with op.batch_alter_table("outbox") as batch:
        batch.create_index("ix_outbox_case_id", ["case_id"])

    from slamon.models.db.case_facts import rebuild_case_facts

    rebuild_case_facts(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_case_id")
    with op.batch_alter_table("cases") as batch:
        batch.drop_index("ix_cases_merchant_id_opened_at")
        batch.drop_index("ix_cases_buyer_account")
        batch.drop_index("ix_cases_order_id")
    op.drop_table("case_facts")
