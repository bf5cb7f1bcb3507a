"""Ops API: breaches and compensations, the same JSON as ``slamon breaches`` and
``slamon compensations``; ``POST /v1/compensations/{id}/retry`` sends a failed one again.

Reads need the *read* role, the retry the *produce* role (it makes the service act).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlalchemy import Engine

from slamon.api.auth import Require
from slamon.models.db.engine import snapshot, transaction
from slamon.models.db.ops import DEFAULT_LIMIT, MAX_LIMIT, breaches_view, compensations_view
from slamon.models.db.views import DISPLAY_ZONE
from slamon.models.states import BreachStatus, CompensationStatus
from slamon.worker.compensation_actions import (
    CompensationNotFoundError,
    CompensationNotRetryableError,
    retry_compensation,
)

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Since = Annotated[datetime | None, Query(description="ISO-8601 instant with a UTC offset.")]


def ops_router(
    engine: Engine, require: Require
) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["ops"])

    @router.get("/breaches", dependencies=[Depends(require("read"))])
    def list_breaches(
        since: Since = None,
        kind: str | None = None,
        status: BreachStatus | None = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> list[dict[str, Any]]:
        if since is not None and since.utcoffset() is None:
            raise HTTPException(422, detail={"error": "since needs a UTC offset (+08:00 or Z)"})
        with snapshot(engine) as session:
            return breaches_view(session, since=since, kind=kind, status=status, limit=limit,
                                 zone=DISPLAY_ZONE)

    @router.get("/compensations", dependencies=[Depends(require("read"))])
    def list_compensations(
        status: CompensationStatus | None = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> list[dict[str, Any]]:
        with snapshot(engine) as session:
            return compensations_view(session, status=status, limit=limit, zone=DISPLAY_ZONE)

    @router.post("/compensations/{compensation_id}/retry",
                 dependencies=[Depends(require("produce"))])
    def retry(compensation_id: int) -> dict[str, Any]:
        try:
            with transaction(engine) as session:
                return retry_compensation(session, compensation_id, datetime.now(UTC),
                                          DISPLAY_ZONE)
        except CompensationNotFoundError as exc:
            raise HTTPException(404, detail={"error": str(exc)}) from exc
        except CompensationNotRetryableError as exc:
            raise HTTPException(409, detail={"error": str(exc)}) from exc

    return router
