"""The case lifecycle as a pure function: (state, event) -> transition.

    opened ──▶ open ──responded──▶ responded ──resolved──▶ resolved
                 │                     │   ▲                   │
                 │                     │   └────reopened───────┘
                 └─────────cancelled───┴──▶ cancelled

``help.assigned`` may arrive any number of times while the case is live; it records who is
responsible and never touches the clocks. Nothing here reads the clock or the database: the
ingest service loads a :class:`CaseState`, calls :func:`apply`, stores the new state and turns
the :class:`DeadlineEffect` list into deadline-row updates (it owns "met iff at or before the
due instant"; this module only reports *when* the evidence happened).

Events are normally applied in ``occurred_at`` order, but producers deliver late: an event
older than the last one applied is still applied when it is legal *at the time it happened*,
which is why the state keeps instants and not only a status. A transition is one of:

- applied (``ok``), with a ``note`` when it changed nothing;
- refused for good (not ``ok``), with the ``reason``;
- refused for now (not ``ok``, ``waiting``): it would be legal after an earlier event that may
  still arrive late (a reopen before the resolution it rejects). The caller parks it and
  applies it again after the case's next applied event.

Nothing raises. The rules, with t the event's ``occurred_at``:

0. Evidence cannot predate its case: any event but the opening with t before the case's
   ``opened_at`` is refused, so a provider cannot backdate a response to meet a deadline.
   An event parked before its opening arrived meets this rule when it is retried then.
1. ``help.opened`` starts a case (:func:`initial`); a second one for the case is refused.
2. ``help.assigned`` is refused once the case was cancelled at or before t, and waits when the
   case was resolved at or before t (a reopen may be late). Otherwise it replaces the provider
   (and the merchant, if named), unless an assignment newer than t is on record: a late
   re-assignment cannot undo a later one. No deadline effect: re-assignment keeps the clocks.
3. ``help.responded`` is refused once the case was cancelled at or before t. Otherwise it is
   evidence for the response deadline: when it is the earliest response known it becomes
   ``responded_at`` and emits ``response met at t``, whatever the status (late evidence of a
   kept promise still counts). ``open`` becomes ``responded``.
4. ``help.resolved`` is refused once the case was cancelled at or before t. A resolution is
   also a response (a problem is not solved without a solution being given), so it is
   response evidence too, and a resolution without a prior response is legal. For the
   resolution deadline the earliest resolution after the latest reopen counts: one older
   than that reopen was superseded; an earlier one than on record replaces it; a later one
   changes nothing but is remembered in case a reopen before it arrives late (rule 5). A late
   resolution that happened before a recorded cancellation is evidence (``met`` effects) but
   the case stays cancelled: the withdrawal came after it.
5. ``help.reopened`` on a resolved case puts it back to ``responded`` and the resolution
   deadline back to pending with its original due time (``reopen`` effect). If a resolution
   after t was already seen, that one stands: ``reopen`` then ``met`` at it, status resolved.
   A reopen older than the latest one on record, or older than the standing resolution, is
   counted and changes nothing else. On an open or responded case it waits (the resolution
   it rejects may be late). On a cancelled case it is refused when it happened at or after
   the cancellation; before it, it reopens the resolution deadline (the case stays
   cancelled) once a resolution before it is known, and waits until then.
6. ``help.cancelled`` on an open or responded case cancels it and emits ``cancel`` for each
   deadline not yet met (the ingest keeps a deadline already past due to be judged). On a
   resolved case it is refused when it happened before the resolution (once the promise was
   kept, withdrawing the help does not take that back) and waits when after it (a reopen may
   be late). A second cancellation changes nothing.

With waiting events retried, any delivery order of a lawful history (the opening first) ends
in the same state and deadline evidence as delivery in event-time order (property-tested).
Known limit: the state keeps a few instants, not the whole history, so repeated resolutions
without a reopen between them, delivered out of order around a late reopen, leave the
standing resolution at the latest of them (rule 5), not the earliest after the reopen.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from slamon.models.events import (
    HelpAssigned,
    HelpCancelled,
    HelpEvent,
    HelpOpened,
    HelpReopened,
    HelpResolved,
    HelpResponded,
)
from slamon.models.instants import as_read
from slamon.models.states import CASE, CaseStatus

OPEN, RESPONDED, RESOLVED, CANCELLED = (
    CaseStatus.OPEN, CaseStatus.RESPONDED, CaseStatus.RESOLVED, CaseStatus.CANCELLED
)

DeadlineKind = Literal["response", "resolution"]
EffectAction = Literal["met", "cancel", "reopen"]


@dataclass(frozen=True)
class CaseState:
    """What the lifecycle needs to know about a case (as stored on the ``cases`` row).

    ``merchant_id`` follows a re-assignment to another merchant. ``assigned_at``,
    ``reopened_at`` and ``last_resolved_at`` only make late deliveries exact; a caller that does
    not store them gets the in-order behaviour. ``opened_at`` bounds the evidence (rule 0); a
    state without it accepts any instant.
    """

    status: CaseStatus
    responded_at: datetime | None  # earliest evidence of a solution
    resolved_at: datetime | None  # the standing resolution (None while not resolved)
    cancelled_at: datetime | None
    provider_id: str | None
    reopen_count: int
    merchant_id: str | None = None
    assigned_at: datetime | None = None  # when provider_id was assigned
    reopened_at: datetime | None = None  # the latest reopen
    last_resolved_at: datetime | None = None  # the latest resolution ever seen
    opened_at: datetime | None = None  # help.opened's occurred_at: no evidence before it

    def __post_init__(self) -> None:
        try:
            status = CaseStatus(self.status)
        except ValueError:
            known = tuple(s.value for s in CaseStatus)
            raise ValueError(
                f"unknown case status {self.status!r}; expected one of {known}"
            ) from None
        object.__setattr__(self, "status", status)  # a stored string becomes the enum


@dataclass(frozen=True)
class DeadlineEffect:
    """What an event means for one of the case's deadlines.

    ``met``: evidence that the promise was kept at ``at``; ``cancel``: the help was withdrawn
    at ``at``; ``reopen``: the consumer rejected the resolution at ``at``, so the deadline is
    pending again with its original due time.
    """

    kind: DeadlineKind
    action: EffectAction
    at: datetime


@dataclass(frozen=True)
class Transition:
    ok: bool
    state: CaseState  # the new state; the very same object when refused
    effects: tuple[DeadlineEffect, ...] = ()
    reason: str | None = None  # why the event was refused (ok is False)
    note: str | None = None  # why a legal event changed nothing, or how it was read
    waiting: bool = False  # refused for now: apply again after the case's next change


def initial(event: HelpOpened) -> CaseState:
    """The state of a case just opened: Tmall assigns at once, so the clocks start now."""
    return CaseState(
        status=OPEN,
        responded_at=None,
        resolved_at=None,
        cancelled_at=None,
        provider_id=event.provider_id,
        reopen_count=0,
        merchant_id=event.merchant_id,
        assigned_at=event.occurred_at,
        opened_at=event.occurred_at,
    )


def apply(state: CaseState, event: HelpEvent) -> Transition:
    """The transition ``event`` causes from ``state``; see the module docstring for the rules.

    Every status change is one the case lifecycle (:data:`slamon.models.states.CASE`) allows;
    anything else would be a bug in the rules below, and raises.
    """
    transition = _transition(state, event)
    CASE.move(state.status, transition.state.status)
    return transition


def _transition(state: CaseState, event: HelpEvent) -> Transition:
    if isinstance(event, HelpOpened):
        return _refuse(state, "the case was already opened; a case is opened once")
    if state.opened_at is not None and event.occurred_at < state.opened_at:
        return _refuse(state, backdated_reason(event, state.opened_at))
    if isinstance(event, HelpAssigned):
        return _assigned(state, event)
    if isinstance(event, HelpResponded):
        return _responded(state, event.occurred_at)
    if isinstance(event, HelpResolved):
        return _resolved(state, event.occurred_at)
    if isinstance(event, HelpReopened):
        return _reopened(state, event.occurred_at)
    return _cancelled(state, event)


def _assigned(state: CaseState, event: HelpAssigned) -> Transition:
    t = event.occurred_at
    if state.cancelled_at is not None and state.cancelled_at <= t:
        return _refuse(
            state, f"cannot assign: the case was cancelled at {_iso(state.cancelled_at)}"
        )
    if state.status == RESOLVED and state.resolved_at is not None and state.resolved_at <= t:
        return _wait(
            state,
            f"cannot assign: the case was resolved at {_iso(state.resolved_at)} "
            "(legal if a reopen before it arrives)",
        )
    if state.assigned_at is not None and t < state.assigned_at:
        return _unchanged(
            state, f"an older assignment: the one at {_iso(state.assigned_at)} stands"
        )
    new = replace(
        state,
        provider_id=event.provider_id,
        merchant_id=event.merchant_id or state.merchant_id,
        assigned_at=t,
    )
    return Transition(ok=True, state=new)


def _responded(state: CaseState, t: datetime) -> Transition:
    if state.cancelled_at is not None and state.cancelled_at <= t:
        return _refuse(
            state, f"cannot respond: the case was cancelled at {_iso(state.cancelled_at)}"
        )
    if state.responded_at is not None and state.responded_at <= t:
        return _unchanged(state, f"already responded at {_iso(state.responded_at)}")
    status = RESPONDED if state.status == OPEN else state.status
    new = replace(state, status=status, responded_at=t)
    return Transition(ok=True, state=new, effects=(DeadlineEffect("response", "met", t),))


def _resolved(state: CaseState, t: datetime) -> Transition:
    if state.cancelled_at is not None and state.cancelled_at <= t:
        return _refuse(
            state, f"cannot resolve: the case was cancelled at {_iso(state.cancelled_at)}"
        )
    # Rule 4: whatever it means for the resolution, a resolution is response evidence.
    earlier_response = state.responded_at is None or t < state.responded_at
    response = (DeadlineEffect("response", "met", t),) if earlier_response else ()
    responded_at = t if earlier_response else state.responded_at
    if state.reopened_at is not None and t < state.reopened_at:
        new = replace(state, responded_at=responded_at)
        superseded = f"superseded by the reopen at {_iso(state.reopened_at)}"
        return Transition(ok=True, state=new, effects=response, note=superseded)
    last = _latest(state.last_resolved_at, t)
    if state.resolved_at is not None and state.resolved_at <= t:
        new = replace(state, last_resolved_at=last)
        return _unchanged(new, f"already resolved at {_iso(state.resolved_at)}")
    effects = (*response, DeadlineEffect("resolution", "met", t))
    if state.status == CANCELLED:
        # Before the cancellation: the promise was kept, yet the help was withdrawn later.
        new = replace(state, responded_at=responded_at, last_resolved_at=last)
        note = f"resolved before the cancellation at {_iso(state.cancelled_at)}: evidence only"
        return Transition(ok=True, state=new, effects=effects, note=note)
    # Resolved now, or earlier than the resolution on record.
    new = replace(
        state, status=RESOLVED, responded_at=responded_at, resolved_at=t, last_resolved_at=last
    )
    return Transition(ok=True, state=new, effects=effects)


def _reopened(state: CaseState, t: datetime) -> Transition:
    counted = replace(
        state, reopen_count=state.reopen_count + 1, reopened_at=_latest(state.reopened_at, t)
    )
    if state.reopened_at is not None and t < state.reopened_at:
        # A resolution and a later reopen followed it: there is nothing left to reopen.
        return _unchanged(counted, f"older than the reopen at {_iso(state.reopened_at)}")
    if state.status == CANCELLED:
        return _reopened_cancelled(state, counted, t)
    if state.status != RESOLVED or state.resolved_at is None:
        return _wait(
            state,
            f"cannot reopen: the case is {state.status}, not resolved "
            "(legal if the resolution it rejects arrives)",
        )
    if t < state.resolved_at:
        return _unchanged(
            counted, f"resolved again at {_iso(state.resolved_at)}, after this reopen"
        )
    reopen = DeadlineEffect("resolution", "reopen", t)
    last = state.last_resolved_at
    if last is not None and t < last:
        # A resolution after this reopen arrived first: it is the standing one (rule 5).
        again = replace(counted, resolved_at=last)
        met = DeadlineEffect("resolution", "met", last)
        note = f"resolved again at {_iso(last)}"
        return Transition(ok=True, state=again, effects=(reopen, met), note=note)
    new = replace(counted, status=RESPONDED, resolved_at=None)
    return Transition(ok=True, state=new, effects=(reopen,))


def _reopened_cancelled(state: CaseState, counted: CaseState, t: datetime) -> Transition:
    """A reopen of a case cancelled since: it still reopens the resolution deadline."""
    cancelled = _iso(state.cancelled_at)
    if state.cancelled_at is None or state.cancelled_at <= t:
        return _refuse(state, f"cannot reopen: the case was cancelled at {cancelled}")
    if state.last_resolved_at is None or t < state.last_resolved_at:
        return _wait(
            state,
            f"cannot reopen: no resolution before it is known (legal if it arrives; the case "
            f"was cancelled at {cancelled})",
        )
    reopen = DeadlineEffect("resolution", "reopen", t)
    return Transition(
        ok=True, state=counted, effects=(reopen,), note=f"the case was cancelled at {cancelled}"
    )


def _cancelled(state: CaseState, event: HelpCancelled) -> Transition:
    t = event.occurred_at
    if state.status == RESOLVED and state.resolved_at is not None:
        resolved = _iso(state.resolved_at)
        if t < state.resolved_at:
            return _refuse(state, f"cannot cancel: the case was resolved at {resolved}")
        return _wait(
            state,
            f"cannot cancel: the case was resolved at {resolved} "
            "(legal if a reopen before it arrives)",
        )
    if state.status == CANCELLED:
        return _unchanged(state, f"already cancelled at {_iso(state.cancelled_at)}")
    effects: list[DeadlineEffect] = []
    if state.responded_at is None:
        effects.append(DeadlineEffect("response", "cancel", t))
    effects.append(DeadlineEffect("resolution", "cancel", t))
    new = replace(state, status=CANCELLED, cancelled_at=t)
    return Transition(ok=True, state=new, effects=tuple(effects))


def backdated_reason(event: HelpEvent, opened_at: datetime) -> str:
    """Why ``event`` is refused by rule 0: it happened before its case was opened.

    Both instants are shown in the event's own offset, so the producer reads them side by side
    (a stored ``opened_at`` comes back in UTC).
    """
    opened = opened_at.astimezone(event.occurred_at.tzinfo)
    return (
        f"{event.type} occurred at {_iso(event.occurred_at)}, before the case was opened at "
        f"{_iso(opened)}: evidence cannot predate its case"
    )


def _refuse(state: CaseState, reason: str) -> Transition:
    return Transition(ok=False, state=state, reason=reason)


def _wait(state: CaseState, reason: str) -> Transition:
    return Transition(ok=False, state=state, reason=reason, waiting=True)


def _unchanged(state: CaseState, note: str) -> Transition:
    return Transition(ok=True, state=state, note=note)


def _latest(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b > a else a


def _iso(at: datetime | None) -> str:
    return as_read(at) if at is not None else "an unknown time"
