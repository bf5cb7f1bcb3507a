"""payout_minutes: the payout guard's automatic approvals summed per minute

The guard's hourly window read every compensation approved in the last hour on each payment;
it now reads these sums (slamon.models.db.payout_minutes). Filled here from the approvals of
the last two hours, the longest any window looks back through them.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

from slamon.models.db import types as db_types

Instant = db_types.UTCDateTime(timezone=True)

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    minutes = op.create_table(
        "payout_minutes",
        sa.Column("minute", Instant, nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("minute", name=op.f("pk_payout_minutes")),
    )
    compensations = sa.table(
        "compensations",
        sa.column("points", sa.BigInteger()),
        sa.column("approved_at", Instant),
        sa.column("released_by", sa.String(64)),
    )
    since = datetime.now(UTC) - timedelta(hours=2)
    approvals = op.get_bind().execute(
        sa.select(compensations.c.approved_at, compensations.c.points).where(
            compensations.c.approved_at > since, compensations.c.released_by.is_(None)
        )
    )
    sums: dict[datetime, int] = {}
    for approved_at, points in approvals:
        minute = approved_at.replace(second=0, microsecond=0)
        sums[minute] = sums.get(minute, 0) + int(points)
    if sums:
        op.bulk_insert(minutes, [{"minute": m, "points": p} for m, p in sorted(sums.items())])


def downgrade() -> None:
    op.drop_table("payout_minutes")
