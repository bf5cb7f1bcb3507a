"""The operators' dashboard: ``GET /`` (one HTML page: overview, search, case, at risk,
reports) and ``GET /v1/summary`` (the overview's data; the other views read
:mod:`slamon.api.lookup`, ``/v1/cases/{id}`` and :mod:`slamon.api.reports`).

The page is public and holds no data: its script asks for a bearer token once, keeps it in
``sessionStorage`` (a ``#token=…`` fragment is moved there and removed from the address, so
a link can carry it without it reaching a server log or a Referer), and polls
``/v1/summary``, which needs the *read* role. Everything is inline (the machines it runs on
may have no internet): the stylesheet and the script are kept as files beside the template
and inlined when the app starts, and the Content-Security-Policy allows exactly those two
(by hash) and requests to this origin, nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib import resources
from string import Template
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine

from slamon.api.auth import token_role_checker
from slamon.api.broker_gauges import BrokerProbe
from slamon.api.ingest_status import ingest_summary
from slamon.api.summary import build_summary
from slamon.models.db.engine import read_only
from slamon.models.instants import DISPLAY_ZONE
from slamon.models.policy.policy import load_policies
from slamon.settings import Settings

REFRESH_SECONDS = 5
# The page's script, in order: shared parts, one file per view, then the start.
SCRIPTS = ("core.js", "charts.js", "overview.js", "case.js", "at_risk.js", "reports.js",
           "main.js")
# Several open dashboards share one set of queries per this many seconds.
SUMMARY_CACHE_SECONDS = 2.0


def dashboard_router(
    settings: Settings,
    engine: Engine,
    broker: BrokerProbe | None = None,
    cache_seconds: float = SUMMARY_CACHE_SECONDS,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> APIRouter:
    require = token_role_checker(settings)
    grace_bound = largest_grace(settings)
    page, csp = render_page()
    headers = {
        "Content-Security-Policy": csp,
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-store",
    }
    cached = _Cached(cache_seconds)
    router = APIRouter()

    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    def dashboard() -> HTMLResponse:
        return HTMLResponse(page, headers=headers)

    @router.get("/v1/summary", dependencies=[Depends(require("read"))])
    def get_summary() -> dict[str, Any]:
        def build() -> dict[str, Any]:
            with read_only(engine).connect() as conn:
                summary = build_summary(conn, clock(), DISPLAY_ZONE, grace_bound)
            if broker is not None:
                summary["ingest"] = ingest_summary(broker, settings.ingest_behind_seconds)
            return summary

        return cached.get(build)

    return router


def largest_grace(settings: Settings) -> timedelta:
    """The largest grace of the loaded policies: bounds ``judge_at - due_at`` of any deadline."""
    policies = load_policies([settings.policy] if settings.policy else [])
    return timedelta(seconds=max(p.grace_seconds for p in policies))


def render_page() -> tuple[str, str]:
    """The page with its stylesheet and script inlined, and the CSP that admits just those."""
    static = resources.files("slamon.api") / "static"
    style = (static / "dashboard.css").read_text(encoding="utf-8")
    # One script, one hash: the files share one function scope (core.js says how).
    parts = [(static / name).read_text(encoding="utf-8") for name in SCRIPTS]
    script = '"use strict";\n(() => {\n' + "\n".join(parts) + "})();\n"
    page = Template((static / "dashboard.html").read_text(encoding="utf-8")).substitute(
        style=style, script=script, refresh_seconds=REFRESH_SECONDS
    )
    csp = "; ".join(
        [
            "default-src 'none'",
            f"script-src {_hash(script)}",
            f"style-src {_hash(style)}",
            "connect-src 'self'",
            "img-src 'self' data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    return page, csp


def _hash(source: str) -> str:
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


class _Cached:
    """The last summary, reused for ``ttl`` seconds; one build at a time."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self.lock = threading.Lock()
        self.value: dict[str, Any] | None = None
        self.built_at = 0.0

    def get(self, build: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        with self.lock:
            if self.value is None or time.monotonic() - self.built_at >= self.ttl:
                self.value = build()
                self.built_at = time.monotonic()
            return self.value
