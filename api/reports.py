"""``GET /v1/reports/{dimension}``: the compliance report as JSON (the *read* role).

Every query parameter is checked (:mod:`slamon.models.db.report_params`); a bad one is a 422
whose body names it: ``{"detail": {"error": "since: … needs a UTC offset", "field": "since"}}``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from sqlalchemy import Engine

from slamon.models.db.engine import read_only
from slamon.models.db.report_params import report_query
from slamon.models.db.reports import ReportError, compliance_report
from slamon.models.instants import DISPLAY_ZONE
from slamon.settings import Role, Settings


def reports_router(
    settings: Settings, engine: Engine, require: Callable[[Role], Callable[[Request], Any]]
) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["reports"])

    @router.get("/reports/{dimension}", dependencies=[Depends(require("read"))])
    def get_report(dimension: str, request: Request) -> dict[str, Any]:
        """Per group of ``dimension`` (merchant, provider, city, category, policy, day, week):
        cases, response and resolution met %, breaches open / settled / contested, points
        paid, median and p90 time to response and resolution. Query: since, until (ISO-8601
        with offset, or a date), sort, order (asc|desc), limit, offset, tz, and merchant,
        provider, city, category or policy to report on one group's cases only."""
        params = dict(request.query_params)
        if len(params) != len(request.query_params.multi_items()):
            repeated = next(k for k in params if len(request.query_params.getlist(k)) > 1)
            raise _refused(ReportError(repeated, "given more than once"))
        try:
            query = report_query(
                dimension, params, now=datetime.now(UTC), default_zone=DISPLAY_ZONE,
                max_days=settings.report_max_days, max_limit=settings.report_max_rows,
            )
        except ReportError as exc:
            raise _refused(exc) from exc
        with read_only(engine).connect() as conn:
            return compliance_report(conn, query).as_dict()

    return router


def _refused(exc: ReportError) -> HTTPException:
    return HTTPException(422, detail={"error": str(exc), "field": exc.field})
