"""An in-memory points issuer for unit tests: the stub beside the real adapters.

It keeps the port's contract (idempotent by key, same key with a different grant refused) and
lets a test script failures, including the nasty one where the points *were* paid but the
caller never heard back (``after_issue=True``), which is what a timeout looks like from the
caller's side.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from slamon.worker.points.port import (
    IssueRequest,
    IssueResult,
    PointsError,
    RejectedIssueError,
)


@dataclass(frozen=True)
class _Failure:
    error: PointsError
    after_issue: bool


class InMemoryPointsIssuer:
    """Pays points into a dict. Thread-safe, so concurrent workers can share one in a test.

    ``grants`` maps idempotency key → the request that paid it; ``calls`` counts every call,
    failed ones included.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._grants: dict[str, IssueRequest] = {}
        self._failures: deque[_Failure] = deque()
        self.calls = 0

    def fail_next(self, *errors: PointsError, after_issue: bool = False) -> None:
        """Make the next ``len(errors)`` calls raise these errors, in order.

        With ``after_issue=True`` the grant is recorded before the error is raised: the points
        were paid and the reply was lost.
        """
        with self._lock:
            self._failures.extend(_Failure(error, after_issue) for error in errors)

    def issue(self, request: IssueRequest) -> IssueResult:
        with self._lock:
            self.calls += 1
            failure = self._failures.popleft() if self._failures else None
            if failure is not None and not failure.after_issue:
                raise failure.error
            result = self._record(request)
            if failure is not None:
                raise failure.error
            return result

    def _record(self, request: IssueRequest) -> IssueResult:
        reference = f"mem-{request.idempotency_key}"
        earlier = self._grants.get(request.idempotency_key)
        if earlier is None:
            self._grants[request.idempotency_key] = request
            return IssueResult("issued", reference)
        if not earlier.same_grant(request):
            raise RejectedIssueError(
                f"idempotency key {request.idempotency_key!r} already paid "
                f"{earlier.points} points to {earlier.account!r}; refusing "
                f"{request.points} points to {request.account!r}"
            )
        return IssueResult("already_issued", reference)

    @property
    def grants(self) -> dict[str, IssueRequest]:
        """A snapshot of what was paid, by idempotency key."""
        with self._lock:
            return dict(self._grants)

    def balance(self, account: str) -> int:
        """Total points paid to ``account``."""
        with self._lock:
            return sum(g.points for g in self._grants.values() if g.account == account)
