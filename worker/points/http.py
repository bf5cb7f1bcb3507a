"""The HTTP adapter of the points port: pays penalties through a remote points service.

Wire contract (what the points service implements; ``tests/support/points_server.py`` is a
working example):

    POST <url>
    Content-Type: application/json
    Idempotency-Key: <case_id:kind>
    webhook-id: <case_id:kind>              (the same key: it is signed with the body)
    webhook-timestamp: <Unix seconds>
    webhook-signature: v1,<base64 HMAC-SHA256(key, "<key>.<timestamp>.<body bytes>")> [v1,…]

    {"account": "tb_buyer_1", "points": 5000, "idempotency_key": "H1:response",
     "reason": "...", "case_id": "H1", "kind": "response"}

Responses, mapped to the port's outcomes:

    2xx                      → issued (``reference`` from the JSON body, if any)
    409                      → already_issued (an earlier call with this key paid)
    429, 5xx                 → RetryableIssueError (``Retry-After`` seconds are passed on)
    timeouts, network errors → RetryableIssueError (the points may or may not have been paid;
                               the retry's idempotency key makes that safe)
    any other status         → RejectedIssueError with the body's ``reason``

The signature is the Standard Webhooks scheme (:mod:`slamon.models.signing`), with the
grant's idempotency key as the message id: a captured request cannot be sent again later nor
under another key, and a points service can verify it with any Standard Webhooks library.
Several ``whsec_`` secrets sign every call with each, so the service can rotate its secret.
Error texts never quote the service's URL whole (it may carry credentials).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from types import TracebackType
from urllib.parse import urlsplit

import httpx

from slamon.models.redaction import Redactor, mask_url
from slamon.models.signing import SigningKeys, signature_headers
from slamon.worker.points.port import (
    IssueRequest,
    IssueResult,
    RejectedIssueError,
    RetryableIssueError,
)

IDEMPOTENCY_HEADER = "Idempotency-Key"
# Longest piece of a non-JSON error body quoted in a reason: enough to read, not a whole page.
_REASON_EXCERPT = 200


class HttpPointsIssuer:
    """Issues points with signed, idempotent POSTs; see the module docstring for the contract.

    One ``httpx.Client`` (and so one connection pool) per process is reused for every call.
    It is created on first use, not in ``__init__``, and again after a fork: Celery's prefork
    workers fork after the app (and this adapter) is built, and two processes must not share
    the sockets of one pool.
    """

    def __init__(
        self,
        url: str,
        keys: SigningKeys,
        *,
        connect_timeout: float,
        read_timeout: float,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"points service URL must be http(s)://host/path, got {mask_url(url)!r}"
            )
        self.url = url
        self._keys = keys
        self._redact = Redactor([url])
        self._clock = clock
        self._transport = transport
        # write/pool get the connect budget: a request body is tiny, and waiting for a free
        # pooled connection is, like connecting, time before the service saw anything.
        self._timeout = httpx.Timeout(
            connect=connect_timeout, read=read_timeout, write=connect_timeout, pool=connect_timeout
        )
        self._client: httpx.Client | None = None
        self._client_pid = 0
        self._lock = threading.Lock()

    def issue(self, request: IssueRequest) -> IssueResult:
        body = _encode(request)
        headers = {
            "Content-Type": "application/json",
            IDEMPOTENCY_HEADER: request.idempotency_key,
            **signature_headers(self._keys, request.idempotency_key, body, self._clock()),
        }
        try:
            response = self._http().post(self.url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise RetryableIssueError(
                f"points service timed out ({type(exc).__name__}); outcome unknown, retry"
            ) from exc
        except httpx.HTTPError as exc:
            raise RetryableIssueError(
                f"points service unreachable: {type(exc).__name__}: {self._redact(str(exc))}"
            ) from exc
        return _interpret(response, self._redact)

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None or self._client_pid != os.getpid():
                # After a fork the inherited client is left alone (closing it would close the
                # parent's sockets too); this process starts a pool of its own.
                self._client = httpx.Client(
                    timeout=self._timeout, transport=self._transport, follow_redirects=False
                )
                self._client_pid = os.getpid()
            return self._client

    def close(self) -> None:
        """Close this process's connection pool; the next call opens a new one."""
        with self._lock:
            if self._client is not None and self._client_pid == os.getpid():
                self._client.close()
            self._client = None

    def __enter__(self) -> HttpPointsIssuer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _encode(request: IssueRequest) -> bytes:
    payload = {
        "account": request.account,
        "points": request.points,
        "idempotency_key": request.idempotency_key,
        "reason": request.reason,
        "case_id": request.case_id,
        "kind": request.kind,
    }
    # Compact and UTF-8 (reasons may be Chinese); the signature covers exactly these bytes.
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _interpret(response: httpx.Response, redact: Callable[[str], str]) -> IssueResult:
    status = response.status_code
    if 200 <= status < 300:
        return IssueResult("issued", _field(response, "reference"))
    if status == 409:
        return IssueResult("already_issued", _field(response, "reference"))
    # The reason is stored (compensations.last_error) and shown: a service that echoes our
    # request or its own URL must not put a secret there.
    reason = redact(_reason(response))
    if status == 429 or status >= 500:
        raise RetryableIssueError(
            f"points service answered {status}: {reason}", retry_after=_retry_after(response)
        )
    raise RejectedIssueError(f"points service refused the grant ({status}): {reason}")


def _json_object(response: httpx.Response) -> dict[str, object]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _field(response: httpx.Response, name: str) -> str | None:
    value = _json_object(response).get(name)
    return str(value) if value is not None else None


def _reason(response: httpx.Response) -> str:
    data = _json_object(response)
    # "reason" is our contract; "detail", "error" and "message" are what common frameworks send.
    for name in ("reason", "detail", "error", "message"):
        if data.get(name):
            return str(data[name])
    text = response.text.strip()
    return text[:_REASON_EXCERPT] if text else response.reason_phrase or "no reason given"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    # Only the delay-seconds form; an HTTP-date is rare from APIs and our backoff covers it.
    return float(value) if value.isdigit() else None
