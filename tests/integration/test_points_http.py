"""The HTTP points adapter against a real local points service (and, for the status mapping
edges the service never produces, an httpx mock transport)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from slamon.models.signing import SigningKeys, new_secret, verify
from slamon.worker.points.backoff import backoff_delay
from slamon.worker.points.http import HttpPointsIssuer
from slamon.worker.points.port import IssueRequest, RejectedIssueError, RetryableIssueError
from tests.support.points_server import PointsServer

SECRET = new_secret()
KEYS = SigningKeys.parse(SECRET)
# Client timeouts are short so the hang tests stay fast; the server hangs well past them.
CONNECT_TIMEOUT = 0.2
READ_TIMEOUT = 0.2


def grant(key: str = "H20261126001:response", points: int = 5000, **overrides: str) -> IssueRequest:
    case_id, _, kind = key.partition(":")
    fields = {
        "account": "tb_buyer_1",
        "reason": "一小时内未给出解决方案 (response breach)",
        "case_id": case_id,
        "kind": kind,
    }
    fields.update(overrides)
    return IssueRequest(points=points, idempotency_key=key, **fields)


@pytest.fixture
def server() -> Iterator[PointsServer]:
    with PointsServer(secret=SECRET, frozen_accounts=["tb_frozen"]) as srv:
        yield srv


def issuer_for(
    url: str, secret: str = SECRET, clock: Callable[[], float] = time.time
) -> HttpPointsIssuer:
    return HttpPointsIssuer(
        url, SigningKeys.parse(secret), connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT, clock=clock,
    )


def test_success_issues_and_sends_every_field(server: PointsServer) -> None:
    request = grant()
    with issuer_for(server.url) as issuer:
        result = issuer.issue(request)

    assert result.status == "issued"
    assert result.reference == "grant-1"
    assert server.grants == {
        request.idempotency_key: {
            "account": request.account,
            "points": request.points,
            "idempotency_key": request.idempotency_key,
            "reason": request.reason,
            "case_id": request.case_id,
            "kind": request.kind,
        }
    }


def test_replay_of_same_key_is_already_issued_with_original_reference(
    server: PointsServer,
) -> None:
    with issuer_for(server.url) as issuer:
        first = issuer.issue(grant())
        second = issuer.issue(grant())

    assert (first.status, second.status) == ("issued", "already_issued")
    assert second.reference == first.reference
    assert len(server.grants) == 1
    assert server.calls == 2


def test_same_key_different_points_is_rejected_with_reason(server: PointsServer) -> None:
    with issuer_for(server.url) as issuer:
        issuer.issue(grant(points=5000))
        with pytest.raises(RejectedIssueError) as caught:
            issuer.issue(grant(points=30000))

    assert "422" in caught.value.reason
    assert "different grant" in caught.value.reason
    assert server.grants["H20261126001:response"]["points"] == 5000


def test_refusal_for_a_frozen_account_carries_the_service_reason(server: PointsServer) -> None:
    with issuer_for(server.url) as issuer, pytest.raises(RejectedIssueError) as caught:
        issuer.issue(grant(account="tb_frozen"))

    assert "403" in caught.value.reason
    assert "account tb_frozen is frozen" in caught.value.reason
    assert server.grants == {}


def test_server_error_is_retryable_and_the_retry_pays_once() -> None:
    with PointsServer(secret=SECRET, script=["fail", "ok"]) as srv, issuer_for(srv.url) as issuer:
        with pytest.raises(RetryableIssueError) as caught:
            issuer.issue(grant())
        assert "500" in caught.value.reason
        assert srv.grants == {}

        assert issuer.issue(grant()).status == "issued"
        assert len(srv.grants) == 1


def test_hang_times_out_as_retryable_and_the_retry_finds_it_already_paid() -> None:
    with PointsServer(secret=SECRET, script=["hang"], hang_seconds=5) as srv:
        with issuer_for(srv.url) as issuer:
            started = time.monotonic()
            with pytest.raises(RetryableIssueError) as caught:
                issuer.issue(grant())
            elapsed = time.monotonic() - started
            # The service recorded the grant before hanging: the reply, not the payment, was lost.
            retried = issuer.issue(grant())

        assert "timed out (ReadTimeout); outcome unknown" in caught.value.reason
        assert elapsed < 1.0, "the client's read timeout, not the server's hang, must end the call"
        assert retried.status == "already_issued"
        assert len(srv.grants) == 1


def test_wrong_secret_is_refused_by_the_server(server: PointsServer) -> None:
    with (
        issuer_for(server.url, secret=new_secret()) as issuer,
        pytest.raises(RejectedIssueError) as caught,
    ):
        issuer.issue(grant())

    assert "401" in caught.value.reason
    assert "no signature matches" in caught.value.reason
    assert server.grants == {}


def test_a_rotating_client_signs_with_both_secrets_and_either_server_accepts() -> None:
    new = new_secret()
    with (
        PointsServer(secret=SECRET) as old_server,
        PointsServer(secret=new) as new_server,
        issuer_for(old_server.url, secret=f"{new} {SECRET}") as to_old,
        issuer_for(new_server.url, secret=f"{new} {SECRET}") as to_new,
    ):
        assert to_old.issue(grant()).status == "issued"
        assert to_new.issue(grant()).status == "issued"


def test_stale_timestamp_is_refused_by_the_server(server: PointsServer) -> None:
    an_hour_ago = time.time() - 3600
    with (
        issuer_for(server.url, clock=lambda: an_hour_ago) as issuer,
        pytest.raises(RejectedIssueError) as caught,
    ):
        issuer.issue(grant())

    assert "401" in caught.value.reason
    assert "stale" in caught.value.reason
    assert server.grants == {}


def test_connection_refused_is_retryable() -> None:
    with PointsServer(secret=SECRET) as srv:
        url = srv.url
    # The server is gone and its port closed: nothing listens there any more.
    with issuer_for(url) as issuer, pytest.raises(RetryableIssueError) as caught:
        issuer.issue(grant())
    assert "unreachable" in caught.value.reason


def test_calls_reuse_one_pooled_connection(server: PointsServer) -> None:
    with issuer_for(server.url) as issuer:
        for n in range(5):
            issuer.issue(grant(f"H{n}:response"))

    assert server.calls == 5
    assert server.connections == 1


def test_close_then_issue_opens_a_new_pool(server: PointsServer) -> None:
    issuer = issuer_for(server.url)
    issuer.issue(grant("H1:response"))
    issuer.close()
    issuer.issue(grant("H2:response"))
    issuer.close()

    assert server.connections == 2
    assert set(server.grants) == {"H1:response", "H2:response"}


def test_server_fates_are_deterministic_for_a_seed() -> None:
    def fates(seed: int) -> list[str]:
        with PointsServer(secret=SECRET, fail_ratio=0.5, seed=seed) as srv:
            with issuer_for(srv.url) as issuer:
                for n in range(20):
                    with contextlib.suppress(RetryableIssueError):
                        issuer.issue(grant(f"H{n}:response"))
            return list(srv.fates)

    first = fates(seed=1)
    assert fates(seed=1) == first
    assert {"ok", "fail"} <= set(first)


def test_invalid_url_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="http"):
        HttpPointsIssuer(
            "ftp://points.example/v1/grants",
            KEYS,
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
        )


# -- status mapping edges the local service never produces -----------------------------------


def mocked(
    status: int, *, body: bytes = b"", headers: dict[str, str] | None = None
) -> HttpPointsIssuer:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers=headers)

    return HttpPointsIssuer(
        "http://points.test/v1/grants",
        KEYS,
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        transport=httpx.MockTransport(answer),
    )


def test_429_is_retryable_and_passes_retry_after_on() -> None:
    issuer = mocked(429, body=b'{"reason": "slow down"}', headers={"Retry-After": "7"})
    with pytest.raises(RetryableIssueError) as caught:
        issuer.issue(grant())
    assert caught.value.retry_after == 7.0
    assert "slow down" in caught.value.reason


def test_503_with_http_date_retry_after_has_no_retry_after() -> None:
    issuer = mocked(503, headers={"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"})
    with pytest.raises(RetryableIssueError) as caught:
        issuer.issue(grant())
    assert caught.value.retry_after is None


@pytest.mark.parametrize(
    ("status", "body", "expected_reason"),
    [
        (400, json.dumps({"detail": "points too large"}).encode(), "points too large"),
        (404, b"<html>Not Found</html>", "<html>Not Found</html>"),
        (410, b"", "Gone"),
        (302, b"", "Found"),
    ],
)
def test_other_statuses_are_rejected_with_the_best_reason_available(
    status: int, body: bytes, expected_reason: str
) -> None:
    with pytest.raises(RejectedIssueError) as caught:
        mocked(status, body=body).issue(grant())
    assert str(status) in caught.value.reason
    assert expected_reason in caught.value.reason


def test_2xx_without_json_body_is_issued_without_reference() -> None:
    result = mocked(204).issue(grant())
    assert (result.status, result.reference) == ("issued", None)


def test_request_carries_idempotency_key_and_verifiable_signature() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"reference": "r-1"})

    issuer = HttpPointsIssuer(
        "http://points.test/v1/grants",
        KEYS,
        clock=lambda: 1_795_684_800.7,
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        transport=httpx.MockTransport(answer),
    )
    issuer.issue(grant())

    (request,) = seen
    assert request.headers["Idempotency-Key"] == "H20261126001:response"
    assert request.headers["webhook-timestamp"] == "1795684800"
    # The idempotency key is the signed id: key and body are signed together.
    assert verify(KEYS, request.content, request.headers, now=1_795_684_800) == (
        "H20261126001:response")
    assert json.loads(request.content)["reason"] == grant().reason


def test_concurrent_retries_against_a_flaky_service_pay_each_grant_exactly_once() -> None:
    """Half the calls fail, a tenth hang after paying: retries with backoff still pay once."""
    grants = [grant(f"H{n}:response", points=5000 + n) for n in range(24)]

    def pay_with_retries(issuer: HttpPointsIssuer, request: IssueRequest) -> str:
        for attempt in range(30):
            try:
                return issuer.issue(request).status
            except RetryableIssueError:
                time.sleep(backoff_delay(attempt, base=0.005, cap=0.05))
        raise AssertionError(f"{request.idempotency_key} never got through")

    with (
        PointsServer(secret=SECRET, fail_ratio=0.5, hang_ratio=0.1, hang_seconds=2, seed=1) as srv,
        issuer_for(srv.url) as issuer,
        ThreadPoolExecutor(max_workers=8) as pool,
    ):
        statuses = list(pool.map(lambda request: pay_with_retries(issuer, request), grants))

        assert set(statuses) <= {"issued", "already_issued"}
        assert {key: paid["points"] for key, paid in srv.grants.items()} == {
            request.idempotency_key: request.points for request in grants
        }
        assert srv.fates.count("fail") > 0 and srv.fates.count("hang") > 0
