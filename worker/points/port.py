"""The points port: how the compensation service pays a consumer's penalty in Tmall points.

One operation, :meth:`PointsIssuer.issue`, and a contract every adapter keeps (the local
``points_ledger`` one, the HTTP one, the in-memory one used by unit tests):

* **Idempotent by key.** The idempotency key (``case_id:kind``) names one compensation. Issuing
  the same key again never pays twice: it answers ``already_issued``. The same key with a
  different account or amount is a bug upstream and is refused (:class:`RejectedIssueError`).
* **Two kinds of failure.** :class:`RetryableIssueError` means "the outcome is unknown or the
  service is unavailable; ask again later with the same key" (timeouts, connection errors, 5xx,
  429). :class:`RejectedIssueError` means "the service looked at this request and will never
  accept it" (other 4xx); retrying is pointless and the compensation is marked ``failed`` with
  the ``reason``. Because of idempotency, retrying after a timeout is always safe even when the
  first call did pay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

IssueStatus = Literal["issued", "already_issued"]


@dataclass(frozen=True)
class IssueRequest:
    """One compensation to pay: ``points`` to the buyer's Taobao ``account``.

    ``case_id`` and ``kind`` (``response`` / ``resolution``) say which breach it pays for; the
    points service receives them so its own records can be matched with ours.
    """

    account: str
    points: int
    idempotency_key: str
    reason: str
    case_id: str
    kind: str

    def __post_init__(self) -> None:
        # bool is an int subclass; True points would be a silent bug, not a penalty.
        if isinstance(self.points, bool) or not isinstance(self.points, int):
            raise TypeError(f"points must be an int, got {type(self.points).__name__}")
        if self.points <= 0:
            raise ValueError(f"points must be positive, got {self.points}")
        for name in ("account", "idempotency_key"):
            if not getattr(self, name).strip():
                raise ValueError(f"{name} must not be empty")

    def same_grant(self, other: IssueRequest) -> bool:
        """Whether ``other`` asks for the same payment (the fields a replay must repeat)."""
        return (self.account, self.points, self.case_id, self.kind) == (
            other.account,
            other.points,
            other.case_id,
            other.kind,
        )


@dataclass(frozen=True)
class IssueResult:
    """The points were paid, by this call (``issued``) or an earlier one (``already_issued``).

    ``reference`` is the points service's own id for the grant, when it gives one.
    """

    status: IssueStatus
    reference: str | None = None


class PointsError(Exception):
    """Base of the errors a points issuer raises."""


class RetryableIssueError(PointsError):
    """The outcome is unknown or the service is unavailable: retry later with the same key.

    ``retry_after`` is the delay in seconds the service asked for (HTTP ``Retry-After``), if
    any; callers should wait at least that long.
    """

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class RejectedIssueError(PointsError):
    """The service refused the grant for good; ``reason`` says why (shown to operators)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PointsIssuer(Protocol):
    """Pays points; see the module docstring for the idempotency and error contract."""

    def issue(self, request: IssueRequest) -> IssueResult:
        """Pay ``request.points`` to ``request.account`` once per ``request.idempotency_key``.

        Raises :class:`RetryableIssueError` or :class:`RejectedIssueError`.
        """
        ...
