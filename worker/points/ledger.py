"""The embedded points adapter: grants are rows of ``points_ledger``, one per idempotency key.

The default when no points service is configured. It keeps the port's contract with the
database's help: the unique key makes a repeated grant a no-op (``already_issued``), the same
key asking for a different grant is refused, and a database that is down or locked is a
retryable failure, exactly like a points service that times out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from slamon.models.db.tables import LedgerEntry
from slamon.models.db.upsert import insert_new
from slamon.worker.points.port import (
    IssueRequest,
    IssueResult,
    PointsError,
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
        """Pay one grant; raises :class:`RetryableIssueError` or :class:`RejectedIssueError`."""
        [outcome] = self.issue_many([request])
        if isinstance(outcome, PointsError):
            raise outcome
        return outcome

    def issue_many(self, requests: Sequence[IssueRequest]) -> list[IssueResult | PointsError]:
        """Pay several grants in one transaction (one commit, not one per grant); per request,
        its result or the error it would have raised.

        1. ``INSERT … ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, key``.
        2. A key inserted: this call paid → ``issued``.
        3. A key not inserted: an earlier call paid; the same grant → ``already_issued``,
           another grant under the same key → RejectedIssueError (a bug upstream, never paid
           twice).
        A database that is down fails them all as retryable; a row the database refuses
        (a value too long) would fail the whole statement, so each is then tried alone.
        """
        try:
            return self._insert(requests)
        except (IntegrityError, DataError) as exc:
            if len(requests) == 1:
                # The row itself is unacceptable: asking again cannot help.
                return [RejectedIssueError(f"points ledger refused the grant: {exc.orig or exc}")]
            return [self.issue_many([request])[0] for request in requests]
        except DBAPIError as exc:
            # Connection lost, lock timeout, database restarting: the grants may succeed later.
            error = f"points ledger unavailable: {exc.orig or exc}"
            return [RetryableIssueError(error) for _ in requests]

    def _insert(self, requests: Sequence[IssueRequest]) -> list[IssueResult | PointsError]:
        now = self._clock()
        keys = [request.idempotency_key for request in requests]
        # A Core connection, not an ORM session: this is the hot path of every payment.
        with self.engine.begin() as conn:
            inserted = conn.execute(
                insert_new(conn, LedgerEntry, ["idempotency_key"],
                           (LedgerEntry.id, LedgerEntry.idempotency_key)),
                [
                    {
                        "idempotency_key": r.idempotency_key,
                        "account": r.account,
                        "points": r.points,
                        "reason": r.reason,
                        "case_id": r.case_id,
                        "kind": r.kind,
                        "issued_at": now,
                    }
                    for r in requests
                ],
            ).all()
            new = {row.idempotency_key: row.id for row in inserted}
            earlier = {
                row.idempotency_key: row
                for row in conn.execute(
                    select(LedgerEntry.id, LedgerEntry.idempotency_key, LedgerEntry.account,
                           LedgerEntry.points, LedgerEntry.case_id, LedgerEntry.kind)
                    .where(LedgerEntry.idempotency_key.in_([k for k in keys if k not in new]))
                )
            } if len(new) < len(set(keys)) else {}
        outcomes: list[IssueResult | PointsError] = []
        for request in requests:
            if request.idempotency_key in new:
                outcomes.append(IssueResult("issued", _reference(new[request.idempotency_key])))
            else:
                outcomes.append(_compare(request, earlier[request.idempotency_key]))
        return outcomes


def _compare(request: IssueRequest, earlier: Any) -> IssueResult | PointsError:
    paid = (earlier.account, earlier.points, earlier.case_id, earlier.kind)
    if paid != (request.account, request.points, request.case_id, request.kind):
        return RejectedIssueError(
            f"idempotency key {request.idempotency_key!r} already paid {earlier.points} "
            f"points to {earlier.account!r}; refusing {request.points} points to "
            f"{request.account!r}"
        )
    return IssueResult("already_issued", _reference(earlier.id))


def _reference(entry_id: int) -> str:
    return f"ledger-{entry_id}"
