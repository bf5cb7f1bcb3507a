"""The points the payout guard approved automatically in a rolling window, read in constant time.

Every automatic approval adds its points to the row of its minute (``payout_minutes``) in the
transaction that approves it, under the guard's lock (:mod:`slamon.worker.payout_guard`), so
the rows are exactly the approvals' sums. A window ``(start, …]`` is then the minutes wholly
after ``start`` plus, read from ``compensations`` itself, the approvals of the one minute
``start`` falls in: exact, and a few dozen rows whatever the rate. A release by an operator
is not the guard's (it counts in no window), so it never lands here.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from slamon.models.db.tables import Compensation, PayoutMinute
from slamon.models.db.upsert import dialect_name

MINUTE = timedelta(minutes=1)
# Longer than the longest window read from these rows (the guard's hour), so pruning never
# races a reader: older minutes are deleted as new ones are written.
KEPT = timedelta(hours=2)


def minute_of(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def add_automatic_approvals(conn: Connection, points: int, at: datetime) -> None:
    """Count ``points`` approved automatically at ``at``; call in the approving transaction."""
    if points <= 0:
        return
    minute = minute_of(at)
    conn.execute(_add(dialect_name(conn)), {"minute": minute, "points": points})
    conn.execute(delete(PayoutMinute).where(PayoutMinute.minute < minute - KEPT))


def points_approved_automatically_after(conn: Connection, start: datetime) -> int:
    """Points approved automatically after ``start`` (any time since: the windows are rolling
    and end now)."""
    cut = minute_of(start)
    whole = (
        select(func.coalesce(func.sum(PayoutMinute.points), 0))
        .where(PayoutMinute.minute > cut)
        .scalar_subquery()
    )
    part = (
        select(func.coalesce(func.sum(Compensation.points), 0))
        .where(
            Compensation.approved_at > start,
            Compensation.approved_at < cut + MINUTE,
            Compensation.released_by.is_(None),
        )
        .scalar_subquery()
    )
    return int(conn.execute(select(whole + part)).scalar_one())  # one round trip


@lru_cache(maxsize=2)
def _add(dialect: str) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(PayoutMinute)
    return statement.on_conflict_do_update(
        index_elements=["minute"],
        set_={"points": PayoutMinute.points + statement.excluded.points},
    )
