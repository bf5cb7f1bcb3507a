"""Claiming rows among replicas: pick and lock, then mark, in the caller's transaction.

1. ``SELECT id … ORDER BY … LIMIT n FOR UPDATE SKIP LOCKED``: on Postgres the rows another
   replica is claiming are skipped, not waited for; SQLite renders neither clause, and its
   ``BEGIN IMMEDIATE`` already makes the transaction the only writer.
2. ``UPDATE … WHERE id IN (<those ids>)`` (``= ANY(<array>)`` on Postgres, see
   :mod:`slamon.models.db.bulk`): mark them (a lease, a flag). The rows are locked
   since step 1, so nothing can have changed them in between.

Two statements on purpose, not ``UPDATE … WHERE id IN (SELECT … LIMIT n FOR UPDATE SKIP
LOCKED)``: Postgres may run that subquery as the inner side of a nested loop and rescan it,
and each rescan skips the rows the UPDATE itself has just changed, so the LIMIT applies afresh
(seen here: a claim of 3 rows took 7). As a materialized CTE it runs once, but the planner
then may hash-join it against a sequential scan of the whole table. A list of ids is probed
through the primary key, whatever the table size.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, update
from sqlalchemy.orm import Session

from slamon.models.db.bulk import among


def claim_rows(session: Session, entity: Any, picked: Select[Any], **values: Any) -> list[int]:
    """Lock the rows ``picked`` selects (their ids) and set ``values`` on them; the ids, in
    ``picked``'s order."""
    ids = [int(i) for i in session.scalars(picked.with_for_update(skip_locked=True))]
    if ids:
        session.execute(
            update(entity).where(among(session, entity.id, ids)).values(**values),
            execution_options={"synchronize_session": False},
        )
    return ids
