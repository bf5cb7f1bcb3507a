"""The dashboard's lookups: ``GET /v1/search?q=`` (a case by case, order, buyer or merchant
id), ``GET /v1/at-risk`` (deadlines at risk now, with the server's clock so that pages count
down from the same instant) and ``GET /v1/whoami`` (the roles of the token, so that a page
offers only the actions it may take). Reads need the *read* role; whoami any valid token.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from sqlalchemy import Engine

from slamon.models.db.engine import snapshot
from slamon.models.db.lookup import at_risk_now, search_cases
from slamon.models.db.views import iso
from slamon.models.instants import DISPLAY_ZONE
from slamon.settings import Caller, Role

ID_LENGTH = 64  # the longest id the tables hold
MAX_RESULTS = 200
Limit = Annotated[int, Query(ge=1, le=MAX_RESULTS)]


def lookup_router(
    engine: Engine,
    require: Callable[[Role], Callable[[Request], Any]],
    identify: Callable[[Request], Caller],
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["dashboard"])
    @router.get("/search", dependencies=[Depends(require("read"))])
    def search(q: str = "", limit: Limit = 50) -> dict[str, Any]:
        """Cases whose case, order, buyer or merchant id is exactly ``q``, newest first."""
        text = q.strip()
        if not text or len(text) > ID_LENGTH:
            raise HTTPException(422, detail={
                "error": f"q: give an id of 1 to {ID_LENGTH} characters", "field": "q"})
        with snapshot(engine) as session:
            return {"q": text, "cases": search_cases(session, text, limit, DISPLAY_ZONE)}

    @router.get("/at-risk", dependencies=[Depends(require("read"))])
    def at_risk(limit: Limit = 100) -> dict[str, Any]:
        now = clock()
        with snapshot(engine) as session:
            deadlines = at_risk_now(session, now, limit, DISPLAY_ZONE)
        return {"now": iso(now, DISPLAY_ZONE), "deadlines": deadlines}

    @router.get("/whoami")
    def whoami(request: Request) -> dict[str, Any]:
        caller = identify(request)
        return {"name": caller.name, "roles": sorted(caller.roles),
                "now": iso(clock(), DISPLAY_ZONE)}

    return router
