"""Paying penalties in Tmall points: the port, its adapters and the request signing.

The compensation service depends on :class:`PointsIssuer` only; which adapter stands behind it
(the local ``points_ledger``, a remote points service over HTTP, or the in-memory stub in unit
tests) is chosen once, where the worker is wired up.
"""

from slamon.worker.points.backoff import backoff_delay
from slamon.worker.points.port import (
    IssueRequest,
    IssueResult,
    PointsError,
    PointsIssuer,
    RejectedIssueError,
    RetryableIssueError,
)

__all__ = [
    "IssueRequest",
    "IssueResult",
    "PointsError",
    "PointsIssuer",
    "RejectedIssueError",
    "RetryableIssueError",
    "backoff_delay",
]
