"""Per-case mutual exclusion between ingest and the sweeper.

Ingest reads a deadline and writes back what the evidence means; the sweeper reads the same
row and writes a judgement. Without a shared lock the later writer would silently undo the
earlier one (a deadline met by a response could end up ``breached`` with a compensation). On
Postgres both take the transaction-scoped advisory lock of the case, in key order (so two
holders of several locks cannot deadlock); on SQLite ``BEGIN IMMEDIATE`` already serialises
every writer, so there is nothing to take.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from slamon.models.db.upsert import dialect_name


def case_lock_key(case_id: str) -> int:
    """A stable signed 64-bit key for the case's advisory lock (the same as ingest's)."""
    digest = hashlib.blake2b(case_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def lock_cases(db: Session | Connection, case_ids: Iterable[str]) -> None:
    """Take the advisory locks of ``case_ids`` for this transaction, in ascending key order.

    One statement for the whole batch: ``unnest`` yields the sorted array in order, and the
    locks are taken as the rows are produced.
    """
    if dialect_name(db) != "postgresql":
        return
    keys = sorted({case_lock_key(case_id) for case_id in case_ids})
    if len(keys) == 1:  # the common case (one payment, one event): the plain call is cheaper
        db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": keys[0]})
    elif keys:
        db.execute(
            text(
                "SELECT count(pg_advisory_xact_lock(k)) "
                "FROM unnest(CAST(:keys AS bigint[])) AS k"
            ),
            {"keys": keys},
        )
