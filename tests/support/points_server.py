"""A real, local HTTP points service for tests: the other end of ``slamon.worker.points.http``.

It speaks the wire contract documented in ``worker/points/http.py`` and behaves like a strict
production service, so that tests of the HTTP adapter (and the exactly-once integration test)
exercise real sockets, real timeouts and real signatures:

* refuses a missing, stale or wrong Standard Webhooks signature (401; any of its ``whsec_``
  secrets may match, as during a rotation), a signature of another idempotency key than the
  one in the request (401), and a malformed grant (400);
* dedupes by ``Idempotency-Key``: a repeat of the same grant answers 409 with the original
  reference; the same key with a different account, amount, case or kind answers 422;
* refuses grants to ``frozen_accounts`` (403), a permanent refusal with a reason;
* misbehaves on purpose, deterministically: each well-formed call draws its fate from
  ``script`` first, then from a ``random.Random(seed)``: ``fail`` answers 500 *before*
  anything is recorded; ``hang`` records the grant and *then* stalls for ``hang_seconds``
  (longer than the client's timeout), the worst case for a client: paid, but it never hears so.

Usage::

    with PointsServer(secret=SECRET, fail_ratio=0.5, hang_ratio=0.1, seed=1) as srv:
        issuer = HttpPointsIssuer(srv.url, SigningKeys.parse(SECRET), connect_timeout=0.5,
                                  read_timeout=0.2)
        ...
        assert len(srv.grants) == expected

The fates are drawn in the order calls arrive; with concurrent clients that order (and so which
call gets which fate) varies, but the sequence of fates does not.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterable, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal

from slamon.models.signing import SignatureError, SigningKeys, verify

Fate = Literal["ok", "fail", "hang"]

GRANT_PATH = "/v1/grants"
_GRANT_FIELDS = ("account", "points", "case_id", "kind")
_TEXT_FIELDS = ("account", "idempotency_key", "reason", "case_id", "kind")


class _Refusal(Exception):
    def __init__(self, status: HTTPStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class PointsServer:
    """A threaded HTTP points service on 127.0.0.1 and a free port, for the ``with`` block."""

    def __init__(
        self,
        secret: str,
        *,
        fail_ratio: float = 0.0,
        hang_ratio: float = 0.0,
        hang_seconds: float = 2.0,
        seed: int = 0,
        script: Sequence[Fate] = (),
        frozen_accounts: Iterable[str] = (),
    ) -> None:
        if not 0.0 <= fail_ratio + hang_ratio <= 1.0 or fail_ratio < 0 or hang_ratio < 0:
            raise ValueError("fail_ratio and hang_ratio must be >= 0 and sum to at most 1")
        self.keys = SigningKeys.parse(secret)  # one whsec_ secret, or several (rotation)
        self.fail_ratio = fail_ratio
        self.hang_ratio = hang_ratio
        self.hang_seconds = hang_seconds
        self.frozen_accounts = frozenset(frozen_accounts)
        self._script = list(script)
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._grants: dict[str, dict[str, Any]] = {}
        self._references: dict[str, str] = {}
        self._fates: list[Fate] = []
        self._calls = 0
        self._connections = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> PointsServer:
        httpd = _Httpd(("127.0.0.1", 0), _handler_for(self))
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes hanging handlers so they do not outlive the server
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> PointsServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what tests look at ------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("PointsServer is not started; use it as a context manager")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}{GRANT_PATH}"

    @property
    def grants(self) -> dict[str, dict[str, Any]]:
        """Every grant recorded, by idempotency key → the JSON payload that paid it."""
        with self._lock:
            return dict(self._grants)

    @property
    def calls(self) -> int:
        """POSTs received, whatever their outcome."""
        with self._lock:
            return self._calls

    @property
    def connections(self) -> int:
        """TCP connections accepted: fewer than ``calls`` when the client reuses its pool."""
        with self._lock:
            return self._connections

    def _connected(self) -> None:
        with self._lock:
            self._connections += 1

    @property
    def fates(self) -> list[Fate]:
        """The fate drawn for each well-formed, correctly signed call, in arrival order."""
        with self._lock:
            return list(self._fates)

    # -- the service -------------------------------------------------------------------------

    def handle(self, headers: dict[str, str], body: bytes) -> tuple[HTTPStatus, dict[str, Any]]:
        """Answer one grant request: (status, JSON body). Hangs are served by the caller."""
        with self._lock:
            self._calls += 1
        try:
            signed_key = verify(self.keys, body, headers, now=time.time())
            if headers.get("idempotency-key") != signed_key:
                raise SignatureError("the signature is for another idempotency key")
            grant = _parse_grant(headers, body)
            if grant["account"] in self.frozen_accounts:
                raise _Refusal(HTTPStatus.FORBIDDEN, f"account {grant['account']} is frozen")
        except SignatureError as exc:
            return HTTPStatus.UNAUTHORIZED, {"reason": str(exc)}
        except _Refusal as refusal:
            return refusal.status, {"reason": refusal.reason}

        with self._lock:
            fate = self._draw_fate()
            if fate == "fail":
                return HTTPStatus.INTERNAL_SERVER_ERROR, {"reason": "injected failure"}
            status, answer = self._record(grant)
        if fate == "hang":
            self._stopping.wait(self.hang_seconds)
        return status, answer

    def _draw_fate(self) -> Fate:
        if self._script:
            fate = self._script.pop(0)
        else:
            draw = self._rng.random()
            if draw < self.fail_ratio:
                fate = "fail"
            elif draw < self.fail_ratio + self.hang_ratio:
                fate = "hang"
            else:
                fate = "ok"
        self._fates.append(fate)
        return fate

    def _record(self, grant: dict[str, Any]) -> tuple[HTTPStatus, dict[str, Any]]:
        key = grant["idempotency_key"]
        earlier = self._grants.get(key)
        if earlier is None:
            self._grants[key] = grant
            self._references[key] = f"grant-{len(self._grants)}"
            return HTTPStatus.CREATED, {"reference": self._references[key]}
        if any(earlier[field] != grant[field] for field in _GRANT_FIELDS):
            return HTTPStatus.UNPROCESSABLE_ENTITY, {
                "reason": f"idempotency key {key} was used for a different grant"
            }
        return HTTPStatus.CONFLICT, {"reference": self._references[key], "reason": "already issued"}


def _parse_grant(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    try:
        grant = json.loads(body)
    except ValueError as exc:
        raise _Refusal(HTTPStatus.BAD_REQUEST, f"body is not JSON: {exc}") from exc
    if not isinstance(grant, dict):
        raise _Refusal(HTTPStatus.BAD_REQUEST, "body must be a JSON object")
    for field in _TEXT_FIELDS:
        if not isinstance(grant.get(field), str):
            raise _Refusal(HTTPStatus.BAD_REQUEST, f"{field} must be a string")
    points = grant.get("points")
    if isinstance(points, bool) or not isinstance(points, int) or points <= 0:
        raise _Refusal(HTTPStatus.BAD_REQUEST, "points must be a positive integer")
    if headers.get("idempotency-key") != grant["idempotency_key"]:
        raise _Refusal(
            HTTPStatus.BAD_REQUEST, "Idempotency-Key header must equal the body's idempotency_key"
        )
    return grant


class _Httpd(ThreadingHTTPServer):
    # Do not wait for handler threads on close: a pooled keep-alive connection keeps its
    # thread blocked on a read until the client goes away.
    block_on_close = False


def _handler_for(service: PointsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, so the client's connection pool is used
        timeout = 10  # an idle keep-alive connection's thread ends after this many seconds
        # Headers and body go out in two writes; with Nagle on, the body waits for the
        # client's delayed ACK and every call takes ~40 ms.
        disable_nagle_algorithm = True

        def setup(self) -> None:
            super().setup()
            service._connected()

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            if self.path != GRANT_PATH:
                self._answer(HTTPStatus.NOT_FOUND, {"reason": f"no such path {self.path}"})
                return
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, answer = service.handle(headers, body)
            self._answer(status, answer)

        def _answer(self, status: HTTPStatus, answer: dict[str, Any]) -> None:
            payload = json.dumps(answer).encode("utf-8")
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                # The client gave up (a hang outlived its timeout); nobody is listening.
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per request would drown the test output

    return Handler
