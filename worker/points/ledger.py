"""The embedded points adapter: grants are rows of ``points_ledger``, one per idempotency key.

The default when no points service is configured. It keeps the port's contract with the
database's help: the unique key makes a repeated grant a no-op (``already_issued``), the same
key asking for a different grant is refused, and a database that is down or locked is a
retryable failure, exactly like a points service that times out.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine, select
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from models.tables import LedgerEntry
from models.upsert import insert_new
from worker.points.port import (
    IssueRequest,
    IssueResult,
    RejectedIssueError,
    RetryableIssueError,
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class LedgerPointsIssuer:
    """Pays points by inserting into ``points_ledger`` of ``engine``'s database."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = _utcnow) -> None:
        self.engine = engine
        self._clock = clock

    def issue(self, request: IssueRequest) -> IssueResult:
        """Insert the grant unless its key is already there (then compare the two).

        1. ``INSERT … ON CONFLICT (idempotency_key) DO NOTHING RETURNING id``.
        2. A row back: this call paid → ``issued``.
        3. No row: an earlier call paid; the same grant → ``already_issued``, another grant
           under the same key → RejectedIssueError (a bug upstream, never paid twice).
        """
        try:
            # A Core connection, not an ORM session: this is the hot path of every payment.
            with self.engine.begin() as conn:
                inserted = conn.execute(
                    insert_new(conn, LedgerEntry, ["idempotency_key"])
                    .values(
                        idempotency_key=request.idempotency_key,
                        account=request.account,
                        points=request.points,
                        reason=request.reason,
                        case_id=request.case_id,
                        kind=request.kind,
                        issued_at=self._clock(),
                    )
                    .returning(LedgerEntry.id)
                ).scalar_one_or_none()
                if inserted is not None:
                    return IssueResult("issued", _reference(inserted))
                earlier = conn.execute(
                    select(LedgerEntry.id, LedgerEntry.account, LedgerEntry.points,
                           LedgerEntry.case_id, LedgerEntry.kind)
                    .where(LedgerEntry.idempotency_key == request.idempotency_key)
                ).one()
        except (IntegrityError, DataError) as exc:
            # The row itself is unacceptable (e.g. a value too long): asking again cannot help.
            raise RejectedIssueError(f"points ledger refused the grant: {exc.orig or exc}") from exc
        except DBAPIError as exc:
            # Connection lost, lock timeout, database restarting: the grant may succeed later.
            raise RetryableIssueError(f"points ledger unavailable: {exc.orig or exc}") from exc
        paid = (earlier.account, earlier.points, earlier.case_id, earlier.kind)
        if paid != (request.account, request.points, request.case_id, request.kind):
            raise RejectedIssueError(
                f"idempotency key {request.idempotency_key!r} already paid {earlier.points} "
                f"points to {earlier.account!r}; refusing {request.points} points to "
                f"{request.account!r}"
            )
        return IssueResult("already_issued", _reference(earlier.id))


def _reference(entry_id: int) -> str:
    return f"ledger-{entry_id}"
