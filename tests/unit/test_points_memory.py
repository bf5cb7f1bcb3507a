"""The in-memory points issuer keeps the port's contract, and the port validates requests."""

from __future__ import annotations

import pytest

from slamon.worker.points.memory import InMemoryPointsIssuer
from slamon.worker.points.port import IssueRequest, RejectedIssueError, RetryableIssueError


def grant(
    key: str = "H1:response", points: int = 5000, account: str = "tb_buyer_1"
) -> IssueRequest:
    case_id, _, kind = key.partition(":")
    return IssueRequest(account, points, key, "response breach", case_id, kind)


def test_same_key_twice_pays_once() -> None:
    issuer = InMemoryPointsIssuer()
    first, second = issuer.issue(grant()), issuer.issue(grant())

    assert (first.status, second.status) == ("issued", "already_issued")
    assert issuer.balance("tb_buyer_1") == 5000
    assert issuer.calls == 2


@pytest.mark.parametrize("change", [{"points": 30000}, {"account": "tb_other"}])
def test_same_key_for_a_different_grant_is_rejected(change: dict[str, object]) -> None:
    issuer = InMemoryPointsIssuer()
    issuer.issue(grant())
    with pytest.raises(RejectedIssueError, match="already paid 5000 points"):
        issuer.issue(grant(**change))  # type: ignore[arg-type]
    assert issuer.grants == {"H1:response": grant()}


def test_injected_failures_are_raised_in_order_before_paying() -> None:
    issuer = InMemoryPointsIssuer()
    issuer.fail_next(RetryableIssueError("down"), RejectedIssueError("no"))

    with pytest.raises(RetryableIssueError):
        issuer.issue(grant())
    with pytest.raises(RejectedIssueError):
        issuer.issue(grant())
    assert issuer.grants == {}
    assert issuer.issue(grant()).status == "issued"


def test_failure_after_issue_pays_and_the_retry_is_already_issued() -> None:
    issuer = InMemoryPointsIssuer()
    issuer.fail_next(RetryableIssueError("reply lost"), after_issue=True)

    with pytest.raises(RetryableIssueError):
        issuer.issue(grant())
    assert issuer.balance("tb_buyer_1") == 5000
    assert issuer.issue(grant()).status == "already_issued"
    assert issuer.balance("tb_buyer_1") == 5000


@pytest.mark.parametrize(
    ("points", "error"), [(0, ValueError), (-5, ValueError), (True, TypeError), (5.0, TypeError)]
)
def test_request_refuses_points_that_are_not_a_positive_int(
    points: object, error: type[Exception]
) -> None:
    with pytest.raises(error, match="points"):
        IssueRequest("tb_buyer_1", points, "H1:response", "r", "H1", "response")  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["account", "idempotency_key"])
def test_request_refuses_blank_account_or_key(field: str) -> None:
    fields = {"account": "tb_buyer_1", "idempotency_key": "H1:response", field: "  "}
    with pytest.raises(ValueError, match=field):
        IssueRequest(points=1, reason="r", case_id="H1", kind="response", **fields)
