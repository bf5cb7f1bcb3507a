"""The HTTP API: a thin adapter over the producer SDK and the read models.

Routes: ``GET /healthz``, ``GET /readyz``, ``POST /v1/events``, ``GET /v1/cases/{case_id}``,
``GET /metrics``, and the dashboard (``GET /``, ``GET /v1/summary``: :mod:`slamon.api.dashboard`).
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from slamon.api.auth import token_caller, token_role_checker
from slamon.api.broker_gauges import BrokerProbe
from slamon.api.dashboard import dashboard_router
from slamon.api.dead_letters import dead_letters_router
from slamon.api.lookup import lookup_router
from slamon.api.metrics import render_metrics
from slamon.api.ops import ops_router
from slamon.api.readiness import readiness_checks, ready, run_checks
from slamon.api.reports import reports_router
from slamon.models.db.engine import create_db_engine, snapshot
from slamon.models.db.views import case_view
from slamon.models.event_fields import ID_PATTERN, json_type
from slamon.models.events import EventError, HelpEvent, check_not_future, parse_event
from slamon.models.instants import DISPLAY_ZONE
from slamon.models.policy.policy import load_policies
from slamon.models.redaction import Redactor
from slamon.sdk import Producer
from slamon.settings import NoBrokerError, Settings, get_settings

log = logging.getLogger("slamon.api")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine = create_db_engine(settings.database)
    require = token_role_checker(settings)
    policies = load_policies([settings.policy] if settings.policy else [])
    redact = Redactor(settings.secrets())
    producer: Producer | None = None

    def get_producer() -> Producer:
        nonlocal producer
        if producer is None:
            try:
                producer = Producer(settings.broker, max_clock_skew=settings.max_clock_skew)
            except NoBrokerError as exc:
                raise HTTPException(503, detail={"error": str(exc)}) from exc
        return producer

    # No /docs or /redoc: FastAPI serves them with scripts from a CDN, which an offline or
    # locked-down machine cannot load and should not trust; /openapi.json stays.
    app = FastAPI(
        title="slamon",
        version="0.1.0",
        description="SLA monitor for Tmall one-click help requests.",
        docs_url=None,
        redoc_url=None,
    )
    app.add_middleware(NoSniff)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    broker = BrokerProbe(
        lambda: settings.broker, presumed_lost_after=settings.ingest_presumed_lost_seconds
    )
    checks = readiness_checks(settings, engine, broker=broker)

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        """Readiness: database, broker, a worker consuming events, a scheduler sweeping (503
        names each check that fails; :mod:`slamon.api.readiness`), and whether judgement
        waits for ingest (said, never failing)."""
        results = run_checks(checks, redact)
        is_ready = ready(checks, results)
        return JSONResponse(
            {"status": "ok" if is_ready else "unavailable", "checks": results},
            status_code=200 if is_ready else 503,
        )

    @app.post("/v1/events", status_code=202, dependencies=[Depends(require("produce"))])
    async def post_events(request: Request) -> JSONResponse:
        """Validate one event or a batch (all or nothing), then queue it as one message."""
        body = await _read_limited(request, settings.max_body_bytes)
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as exc:
            return _error(422, f"body is not JSON: {_bounded(exc)}")
        items = data if isinstance(data, list) else [data]
        if not items:
            return _error(422, "an empty batch: send at least one event")
        if len(items) > settings.max_batch:
            return _error(
                413, f"batch of {len(items)} events exceeds the limit of {settings.max_batch}"
            )
        events, errors = _validate(items, datetime.now(UTC), settings.max_clock_skew)
        if errors:
            # All or nothing: the producer fixes the batch and sends it again (the inbox dedupes).
            return JSONResponse(
                {"error": "invalid events; nothing was queued", "events": errors}, status_code=422
            )
        try:
            await run_in_threadpool(get_producer().publish_many, events)
        except HTTPException:
            raise
        except Exception as exc:  # the broker is down or refused: say so, retryable
            log.warning("could not queue %d events: %s", len(events), exc)
            problem = _bounded(redact(str(exc)))
            return _error(503, f"could not queue the events, try again: {problem}")
        return JSONResponse(
            {
                "queued": len(events),
                "events": [{"event_id": e.event_id, "status": "queued"} for e in events],
            },
            status_code=202,
        )

    @app.get("/v1/cases/{case_id}", dependencies=[Depends(require("read"))])
    def get_case(case_id: str) -> dict[str, Any]:
        with snapshot(engine) as session:
            view = case_view(session, case_id, DISPLAY_ZONE)
        if view is None:
            raise HTTPException(404, detail={"error": f"no case {case_id!r}"})
        return view

    app.include_router(ops_router(engine, require, settings.payout_limits))

    kinds = sorted({kind for policy in policies for kind in policy.metrics})
    metrics_guard = [Depends(require("read"))] if settings.metrics_require_token else []

    @app.get("/metrics", dependencies=metrics_guard)
    def metrics() -> Response:
        payload, content_type = render_metrics(engine, broker=broker, kinds=kinds)
        return Response(payload, media_type=content_type)

    app.include_router(dead_letters_router(engine, require))
    app.include_router(reports_router(settings, engine, require))
    app.include_router(lookup_router(engine, require, token_caller(settings)))
    app.include_router(dashboard_router(settings, engine, broker))
    return app


class NoSniff:
    """``X-Content-Type-Options: nosniff`` on every response (a browser must not guess that a
    JSON error is HTML). Plain ASGI: no per-request task as with BaseHTTPMiddleware."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
            await send(message)

        await self.app(scope, receive, send_with_header)


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, detail={"error": f"body larger than {limit} bytes"})
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, detail={"error": f"body larger than {limit} bytes"})
        chunks.append(chunk)
    return b"".join(chunks)


def _validate(
    items: list[Any], now: datetime, max_clock_skew: timedelta
) -> tuple[list[HelpEvent], list[dict[str, Any]]]:
    """The events, and per refused item its index, event_id and field errors."""
    events: list[HelpEvent] = []
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            event = parse_event(item) if isinstance(item, dict) else _not_object(item)
            events.append(check_not_future(event, now, max_clock_skew))
        except EventError as exc:
            errors.append(
                {
                    "index": index,
                    "event_id": _event_id(item),
                    "errors": exc.errors,
                    "message": str(exc),
                }
            )
    return events, errors


def _bounded(exc: BaseException | str, limit: int = 200) -> str:
    text = str(exc)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _not_object(item: Any) -> Any:
    raise EventError([{"loc": "", "msg": f"an event must be a JSON object, got {json_type(item)}"}])


def _event_id(item: Any) -> str | None:
    # Echoed only when it is a valid id: the errors already describe an invalid one safely.
    event_id = item.get("event_id") if isinstance(item, dict) else None
    return event_id if isinstance(event_id, str) and re.fullmatch(ID_PATTERN, event_id) else None


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)
