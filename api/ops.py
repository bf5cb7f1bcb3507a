"""Ops API: breaches, compensations, the payout guard and the audit trail, the same JSON as
``slamon breaches``, ``slamon compensations``, ``slamon guard`` and ``slamon audit``; and the
operator's actions on them.

Reads need the *read* role; every action (retry, release, cancel, resolve a review, reset the
guard) the *operate* role: it moves money, which a producer's token must never be able to do.
Each action is recorded in the audit trail under the token's name.

No ``from __future__ import annotations`` here: the routes' annotations name the router's own
``Operator`` dependency, which FastAPI must see evaluated, not as a string to look up.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Engine

from slamon.api.auth import Require
from slamon.models.audit import Resolution
from slamon.models.db.engine import snapshot, transaction
from slamon.models.db.ops import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    breaches_view,
    compensations_view,
    operator_actions_view,
    payout_guard_view,
)
from slamon.models.instants import DISPLAY_ZONE
from slamon.models.payout import PayoutLimits
from slamon.models.states import BreachStatus, CompensationStatus
from slamon.settings import Caller
from slamon.worker.compensation_actions import (
    MAX_NOTE,
    Act,
    CompensationNotFoundError,
    CompensationStateError,
    GuardNotTrippedError,
    act_in_bulk,
    cancel_compensation,
    release_compensation,
    reset_guard,
    resolve_review,
    retry_compensation,
)

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Since = Annotated[datetime | None, Query(description="ISO-8601 instant with a UTC offset.")]
Note = Annotated[str | None, Field(None, max_length=MAX_NOTE)]


class NoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Note = None


class ResolveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resolution: Resolution
    note: str = Field(min_length=1, max_length=MAX_NOTE)


class BulkBody(BaseModel):
    """Either ``ids`` or ``all_held: true`` (every compensation held when the call starts)."""

    model_config = ConfigDict(extra="forbid")

    ids: list[int] | None = Field(None, min_length=1, max_length=MAX_LIMIT)
    all_held: bool = False
    note: Note = None

    @model_validator(mode="after")
    def _one_selection(self) -> "BulkBody":
        if (self.ids is None) == (not self.all_held):
            raise ValueError("give either ids or all_held: true")
        return self


def ops_router(engine: Engine, require: Require, limits: PayoutLimits) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["ops"])
    Operator = Annotated[Caller, Depends(require("operate"))]

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

    @router.post("/compensations/{compensation_id}/retry")
    def retry(compensation_id: int, caller: Operator,
              body: Annotated[NoteBody | None, Body()] = None) -> dict[str, Any]:
        with _refusals(), transaction(engine) as session:
            return retry_compensation(session, compensation_id, _now(), DISPLAY_ZONE,
                                      actor=caller.name, note=body.note if body else None)

    @router.post("/compensations/{compensation_id}/release")
    def release(compensation_id: int, caller: Operator,
                body: Annotated[NoteBody | None, Body()] = None) -> dict[str, Any]:
        with _refusals(), transaction(engine) as session:
            return release_compensation(session, compensation_id, caller.name, _now(),
                                        body.note if body else None, DISPLAY_ZONE)

    @router.post("/compensations/{compensation_id}/cancel")
    def cancel(compensation_id: int, caller: Operator,
               body: Annotated[NoteBody | None, Body()] = None) -> dict[str, Any]:
        with _refusals(), transaction(engine) as session:
            return cancel_compensation(session, compensation_id, caller.name, _now(),
                                       body.note if body else None, DISPLAY_ZONE)

    @router.post("/compensations/{compensation_id}/resolve")
    def resolve(compensation_id: int, caller: Operator, body: ResolveBody) -> dict[str, Any]:
        with _refusals(), transaction(engine) as session:
            return resolve_review(session, compensation_id, body.resolution, caller.name,
                                  _now(), body.note, DISPLAY_ZONE)

    @router.post("/compensations/release")
    def release_many(caller: Operator, body: BulkBody) -> dict[str, Any]:
        now = _now()

        def act(session: Any, compensation_id: int) -> dict[str, Any]:
            return release_compensation(session, compensation_id, caller.name, now, body.note)

        return _bulk(body, act)

    @router.post("/compensations/cancel")
    def cancel_many(caller: Operator, body: BulkBody) -> dict[str, Any]:
        now = _now()

        def act(session: Any, compensation_id: int) -> dict[str, Any]:
            return cancel_compensation(session, compensation_id, caller.name, now, body.note)

        return _bulk(body, act)

    def _bulk(body: BulkBody, act: Act) -> dict[str, Any]:
        return act_in_bulk(engine, None if body.all_held else body.ids, act).as_json()

    @router.get("/payout-guard", dependencies=[Depends(require("read"))])
    def guard() -> dict[str, Any]:
        with snapshot(engine) as session:
            return {**payout_guard_view(session, _now(), DISPLAY_ZONE),
                    "limits": asdict(limits)}

    @router.post("/payout-guard/reset")
    def reset(caller: Operator,
              body: Annotated[NoteBody | None, Body()] = None) -> dict[str, Any]:
        try:
            with transaction(engine) as session:
                return reset_guard(session, caller.name, _now(), body.note if body else None)
        except GuardNotTrippedError as exc:
            raise HTTPException(409, detail={"error": str(exc)}) from exc

    @router.get("/audit", dependencies=[Depends(require("read"))])
    def audit(compensation_id: int | None = None,
              limit: Limit = DEFAULT_LIMIT) -> list[dict[str, Any]]:
        with snapshot(engine) as session:
            return operator_actions_view(session, compensation_id=compensation_id, limit=limit,
                                         zone=DISPLAY_ZONE)

    return router


def _now() -> datetime:
    return datetime.now(UTC)


@contextmanager
def _refusals() -> Iterator[None]:
    """An action refused by the compensation's state → 409; an unknown id → 404."""
    try:
        yield
    except CompensationNotFoundError as exc:
        raise HTTPException(404, detail={"error": str(exc)}) from exc
    except CompensationStateError as exc:
        raise HTTPException(409, detail={"error": str(exc)}) from exc
