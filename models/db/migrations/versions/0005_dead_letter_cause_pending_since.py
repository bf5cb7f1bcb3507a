"""dead letters record their cause; deadlines record since when they are pending

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

``dead_letters.cause`` lets ``/metrics`` count dead letters by cause (a bounded vocabulary,
slamon.models.dead_letter_causes). Rows written before it are classified by the words their
error has always started with; the patterns are copied here, not imported, so that this
migration keeps meaning what it meant when it was written.

``deadlines.pending_since`` is when the row last became pending (the case was opened, or
reopened): a deadline whose judge instant had already passed by then was never the
scheduler's to fire on time, so its lag is left out of the scheduler's fire-lag figures.
Existing rows take the instant their case was stored.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from slamon.models.db import types as db_types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CAUSES = (
    ("not JSON:%", "not_json"),
    ("an event must be a JSON object%", "not_an_object"),
    ("an empty batch%", "empty_batch"),
    ("%is in the future%", "future_event"),
    ("could not be stored:%", "not_storable"),
    ("internal error:%", "internal_error"),
    ("undecodable message:%", "undecodable"),
    ("not a Celery task message%", "not_a_task"),
    ("unknown task %", "unknown_task"),
    ("invalid task message:%", "invalid_task"),
)


def upgrade() -> None:
    with op.batch_alter_table("dead_letters") as batch:
        batch.add_column(
            sa.Column("cause", sa.String(32), nullable=False, server_default="invalid_event")
        )
    error = sa.column("error", sa.Text())
    letters = sa.table("dead_letters", error, sa.column("cause", sa.String()))
    op.execute(
        letters.update().values(
            cause=sa.case(
                *((error.like(pattern), cause) for pattern, cause in _CAUSES),
                else_="invalid_event",
            )
        )
    )
    with op.batch_alter_table("dead_letters") as batch:
        # The default only classified the existing rows; every writer names the cause.
        batch.alter_column("cause", server_default=None)

    with op.batch_alter_table("deadlines") as batch:
        batch.add_column(
            sa.Column("pending_since", db_types.UTCDateTime(timezone=True), nullable=True)
        )
    op.execute(
        "UPDATE deadlines SET pending_since = "
        "(SELECT cases.created_at FROM cases WHERE cases.case_id = deadlines.case_id)"
    )
    with op.batch_alter_table("deadlines") as batch:
        batch.alter_column(
            "pending_since", existing_type=db_types.UTCDateTime(timezone=True), nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("deadlines") as batch:
        batch.drop_column("pending_since")
    with op.batch_alter_table("dead_letters") as batch:
        batch.drop_column("cause")
