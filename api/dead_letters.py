"""``GET /v1/dead-letters`` and ``GET /v1/dead-letters/{id}``: what could not be ingested, the
same JSON as ``slamon dead-letters list --json`` and ``show``. Reads need the *read* role;
replaying stays on the command line, where an operator can correct the payload."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlalchemy import Engine

from slamon.api.auth import Require
from slamon.models.db.engine import transaction
from slamon.models.instants import DISPLAY_ZONE
from slamon.worker.dead_letters import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    DeadLetterNotFoundError,
    get_dead_letter,
    list_dead_letters,
)

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


def dead_letters_router(
    engine: Engine, require: Require
) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["dead letters"], dependencies=[Depends(require("read"))])

    @router.get("/dead-letters")
    def list_letters(
        limit: Limit = DEFAULT_LIMIT, include_replayed: bool = False
    ) -> list[dict[str, Any]]:
        with transaction(engine) as session:
            return list_dead_letters(session, limit, include_replayed, DISPLAY_ZONE)

    @router.get("/dead-letters/{letter_id}")
    def show_letter(letter_id: int) -> dict[str, Any]:
        with transaction(engine) as session:
            try:
                return get_dead_letter(session, letter_id, DISPLAY_ZONE)
            except DeadLetterNotFoundError as exc:
                raise HTTPException(404, detail={"error": str(exc)}) from exc

    return router
