"""What an operator may do to a compensation (``slamon compensations …`` and the HTTP API).

Each action is one move of the compensation lifecycle
(:data:`slamon.models.states.COMPENSATION`), taken on the row locked for update, so two
operators (or an operator and a worker) cannot both move the same compensation; and each is
one row of the audit trail (``operator_actions``: who, when, from which status to which,
the note), written in the same transaction.

* **release** a held compensation: pending again, approved by a person (``released_by``), so
  the payout guard lets it through and does not count it; the scheduler dispatches it within
  its next step and the worker pays it once, with its original idempotency key.
* **cancel** a held (or failed) one: not owed, never paid.
* **retry** a failed one: pending again, due at once.
* **resolve** a review (paid, then contested): the payment *stands* (issued again, and the
  breach counts as settled) or was *wrong* (``paid_in_error``; the breach stays contested).
* **reset** the tripped payout guard: automatic payment resumes (the held ones stay held
  until released or cancelled one by one or in bulk).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from slamon.models.audit import Action, Resolution
from slamon.models.db.bulk import chunks
from slamon.models.db.case_facts import refresh_case_facts
from slamon.models.db.engine import snapshot, transaction
from slamon.models.db.ops import compensation_view
from slamon.models.db.tables import (
    GUARD_ROW,
    Breach,
    Compensation,
    OperatorAction,
    PayoutGuard,
)
from slamon.models.db.views import UTC_ZONE
from slamon.models.instants import as_read
from slamon.models.states import (
    BREACH,
    COMPENSATION,
    BreachStatus,
    CompensationStatus,
)

_P = CompensationStatus
# Bulk actions lock and move this many rows per transaction.
BULK_CHUNK = 500
MAX_NOTE = 2000


class CompensationNotFoundError(LookupError):
    """No compensation has this id."""


class CompensationStateError(ValueError):
    """The action does not apply to the compensation's status; the message says which."""


# The name the retry has always raised; a retry is one action among several now.
CompensationNotRetryableError = CompensationStateError


class GuardNotTrippedError(ValueError):
    """A reset was asked for while the payout guard is not tripped."""


@dataclass
class BulkResult:
    """What a bulk action did: the ids moved, and the ones refused with why."""

    done: list[int] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"done": len(self.done), "ids": self.done, "refused": self.refused}


Act = Callable[[Session, int], dict[str, Any]]


def retry_compensation(
    session: Session,
    compensation_id: int,
    now: datetime,
    zone: tzinfo = UTC_ZONE,
    *,
    actor: str = "cli",
    note: str | None = None,
) -> dict[str, Any]:
    """Put a failed compensation back to pending, due for dispatch at ``now``.

    The scheduler dispatches pending compensations whose ``next_attempt_at`` has passed, so
    the retry is sent within its next step; no broker is needed here. The idempotency key is
    unchanged, so a grant the points service did record is never paid twice.
    """
    comp = _locked(session, compensation_id, (_P.FAILED,), "retried")
    _move(session, comp, _P.PENDING, Action.RETRY, actor, now, note)
    comp.next_attempt_at = now
    session.flush()
    return compensation_view(comp, zone)


def release_compensation(
    session: Session,
    compensation_id: int,
    actor: str,
    now: datetime,
    note: str | None = None,
    zone: tzinfo = UTC_ZONE,
) -> dict[str, Any]:
    """Let a held compensation be paid: a person decided, so the guard neither holds nor
    counts it again; dispatched by the scheduler at once, paid with its idempotency key."""
    comp = _locked(session, compensation_id, (_P.HELD,), "released")
    _move(session, comp, _P.PENDING, Action.RELEASE, actor, now, note)
    comp.approved_at = now
    comp.released_by = actor
    comp.next_attempt_at = now
    session.flush()
    return compensation_view(comp, zone)


def cancel_compensation(
    session: Session,
    compensation_id: int,
    actor: str,
    now: datetime,
    note: str | None = None,
    zone: tzinfo = UTC_ZONE,
) -> dict[str, Any]:
    """A held (or failed) compensation is not owed: cancelled, never paid."""
    comp = _locked(session, compensation_id, (_P.HELD, _P.FAILED), "cancelled")
    _move(session, comp, _P.CANCELLED, Action.CANCEL, actor, now, note)
    comp.next_attempt_at = None
    session.flush()
    return compensation_view(comp, zone)


def resolve_review(
    session: Session,
    compensation_id: int,
    resolution: Resolution,
    actor: str,
    now: datetime,
    note: str,
    zone: tzinfo = UTC_ZONE,
) -> dict[str, Any]:
    """End a review (points paid, breach contested): the payment stands, or was wrong.

    *stands*: the compensation is issued again and its breach counts as settled (paid, so no
    longer a violation). *wrong*: the compensation is recorded as paid in error and its breach
    stays contested (the promise was kept). Either way the points were paid, and every figure
    of points paid keeps counting them; the note says why.
    """
    if not note or not note.strip():
        raise CompensationStateError("a review's resolution needs a note saying why")
    comp = _locked(session, compensation_id, (_P.REVIEW,), "resolved")
    if resolution == Resolution.STANDS:
        _move(session, comp, _P.ISSUED, Action.RESOLVE_REVIEW, actor, now, note)
        breach = session.get(Breach, comp.breach_id, with_for_update=True)
        if breach is not None and breach.status != BreachStatus.SETTLED:
            breach.status = BREACH.move(breach.status, BreachStatus.SETTLED)
    else:
        _move(session, comp, _P.PAID_IN_ERROR, Action.RESOLVE_REVIEW, actor, now, note)
    comp.last_error = f"review resolved by {actor}: payment {resolution}: {_bounded(note)}"
    # A payment that stands settles the breach: what the compliance reports count changes.
    refresh_case_facts(session, [comp.case_id])
    return compensation_view(comp, zone)


def act_in_bulk(engine: Engine, compensation_ids: Sequence[int] | None, act: Act) -> BulkResult:
    """Apply ``act`` (a release, a cancel) to each of ``compensation_ids``, or, given None, to
    every compensation held when the call starts (one held after it is left to a person).

    One transaction per chunk of :data:`BULK_CHUNK` (a release of thousands neither holds
    thousands of row locks nor loses all its work to one error), and a savepoint per
    compensation: one that is refused (no longer held, unknown) is reported, the rest go on.
    """
    result = BulkResult()
    if compensation_ids is not None:
        for chunk in chunks(list(dict.fromkeys(compensation_ids)), BULK_CHUNK):
            with transaction(engine) as session:
                _act_on(session, chunk, act, result)
        return result
    with snapshot(engine) as session:
        up_to = session.scalar(
            select(func.max(Compensation.id)).where(Compensation.status == _P.HELD))
    after = 0
    while up_to is not None:
        with transaction(engine) as session:
            ids = list(session.scalars(
                select(Compensation.id)
                .where(Compensation.status == _P.HELD, Compensation.id > after,
                       Compensation.id <= up_to)
                .order_by(Compensation.id)
                .limit(BULK_CHUNK)
            ))
            if not ids:
                break
            _act_on(session, ids, act, result)
        after = ids[-1]
    return result


def _act_on(session: Session, ids: Sequence[int], act: Act, result: BulkResult) -> None:
    for compensation_id in ids:
        try:
            with session.begin_nested():
                act(session, compensation_id)
            result.done.append(compensation_id)
        except (CompensationNotFoundError, CompensationStateError) as exc:
            result.refused.append({"id": compensation_id, "error": str(exc)})


def reset_guard(
    session: Session, actor: str, now: datetime, note: str | None = None
) -> dict[str, Any]:
    """Re-arm the tripped payout guard: compensations are decided by the limits again."""
    guard = session.get(PayoutGuard, GUARD_ROW, with_for_update=True)
    if guard is None or guard.tripped_at is None:
        raise GuardNotTrippedError("the payout guard is not tripped; nothing to reset")
    session.add(OperatorAction(
        at=now, actor=actor, action=Action.RESET_GUARD, compensation_id=None,
        from_status=f"tripped:{guard.tripped_limit}", to_status="armed", note=_note(note),
    ))
    guard.tripped_at = guard.tripped_limit = guard.tripped_reason = None
    guard.reset_at = now
    guard.reset_by = actor
    session.flush()
    return {"tripped": False, "reset_at": as_read(now), "reset_by": actor}


def _locked(
    session: Session, compensation_id: int, allowed: tuple[CompensationStatus, ...], verb: str
) -> Compensation:
    comp = session.get(Compensation, compensation_id, with_for_update=True)
    if comp is None:
        raise CompensationNotFoundError(f"no compensation {compensation_id}")
    if comp.status not in allowed:
        only = " or ".join(str(s) for s in allowed)
        raise CompensationStateError(
            f"compensation {compensation_id} is {comp.status}; only a {only} one can be {verb}"
        )
    return comp


def _move(
    session: Session,
    comp: Compensation,
    target: CompensationStatus,
    action: Action,
    actor: str,
    now: datetime,
    note: str | None,
) -> None:
    source = comp.status
    comp.status = COMPENSATION.move(source, target)
    session.add(OperatorAction(
        at=now, actor=actor, action=action, compensation_id=comp.id,
        from_status=str(source), to_status=str(target), note=_note(note),
    ))


def _note(note: str | None) -> str | None:
    return _bounded(note.strip()) if note and note.strip() else None


def _bounded(text: str) -> str:
    return text if len(text) <= MAX_NOTE else text[: MAX_NOTE - 1] + "…"
