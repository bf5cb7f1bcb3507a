"""Typed lifecycles: every status slamon stores, and the moves each one may make.

Each stored status column holds one of these ``StrEnum`` values (the database keeps the same
strings as before, guarded by a named CHECK constraint built from the same enum), and each
lifecycle's legal moves are written once, here, in a :class:`Lifecycle`. Code that changes a
status asks its lifecycle: :meth:`Lifecycle.move` for a row in hand (an illegal move is a bug
and raises), :meth:`Lifecycle.sources` for a conditional ``UPDATE … WHERE status IN (…)``, so
that a row another process already moved on is left alone rather than overwritten.

Staying put is always legal (a late duplicate changes nothing); it is not listed as a move.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar


class CaseStatus(StrEnum):
    """Where a help request stands (moved by :mod:`slamon.models.case_state`)."""

    OPEN = "open"
    RESPONDED = "responded"  # a solution was given
    RESOLVED = "resolved"  # 核销 / 完结
    CANCELLED = "cancelled"  # withdrawn


class DeadlineState(StrEnum):
    """A promise of a case: still running, kept, broken, or void because the help was withdrawn.

    ``met``, ``cancelled`` and ``pending`` follow from the evidence instants
    (:func:`slamon.models.judge.judge`), so late or out-of-order evidence may move a deadline
    among them; ``breached`` is the sweeper's judgement and is final (late timely evidence
    contests the breach instead).
    """

    PENDING = "pending"
    MET = "met"
    BREACHED = "breached"
    CANCELLED = "cancelled"


class BreachStatus(StrEnum):
    """A broken promise as it counts against the merchant (违背承诺)."""

    OPEN = "open"  # counts as a violation until its penalty is paid
    SETTLED = "settled"  # the consumer was paid: no longer counted
    CONTESTED = "contested"  # timely evidence arrived after the judgement


class CompensationStatus(StrEnum):
    """The penalty owed for a breach, on its way to the points service."""

    PENDING = "pending"  # to be paid (or being retried)
    ISSUED = "issued"  # the points service paid it
    FAILED = "failed"  # refused for good; an operator may retry it
    CANCELLED = "cancelled"  # not owed after all (contested before it was paid, or by hand)
    REVIEW = "review"  # paid, but its breach was contested: a person must look
    HELD = "held"  # over a payout-guard limit: not paid until a person releases it
    PAID_IN_ERROR = "paid_in_error"  # paid, and a person's review found it was not owed


# The compensations whose points the points port paid, whatever happened after: every
# "points paid" figure (dashboard, /metrics, reports) sums exactly these.
PAID_COMPENSATIONS = frozenset(
    {CompensationStatus.ISSUED, CompensationStatus.REVIEW, CompensationStatus.PAID_IN_ERROR}
)


class InboxOutcome(StrEnum):
    """What became of an event received (the inbox row's outcome)."""

    APPLIED = "applied"
    PARKED = "parked"  # waiting for its case to open, or for an earlier late event
    DUPLICATE = "duplicate"
    REJECTED = "rejected"  # illegal for good, with the reason
    # An event id seen again with other content: the first one stands, the copy is kept as a
    # dead letter for an operator (a copy's outcome, tallied on the first row like duplicate).
    CONFLICT = "conflict"


class OutboxState(StrEnum):
    """An outbound announcement (derived from ``published_at``; no column of its own)."""

    UNPUBLISHED = "unpublished"
    PUBLISHED = "published"


class IllegalTransitionError(ValueError):
    """A status change its lifecycle does not allow: a bug, never a user error."""


S = TypeVar("S", bound=StrEnum)


@dataclass(frozen=True)
class Lifecycle(Generic[S]):
    """The legal moves of one status: ``moves[a]`` are the states ``a`` may become."""

    name: str
    states: type[S]
    moves: Mapping[S, frozenset[S]]

    def __post_init__(self) -> None:
        states = set(self.states)
        if set(self.moves) != states:
            raise ValueError(f"{self.name}: every state needs its moves listed")
        for targets in self.moves.values():
            if not targets <= states:
                raise ValueError(f"{self.name}: moves to states of another lifecycle")

    def allows(self, current: S, target: S) -> bool:
        return current == target or target in self.moves[current]

    def move(self, current: S | str, target: S) -> S:
        """``target`` if ``current`` may become it, else :class:`IllegalTransitionError`."""
        source = self.states(current)
        if not self.allows(source, target):
            raise IllegalTransitionError(f"{self.name}: {source} cannot become {target}")
        return target

    def sources(self, target: S) -> tuple[S, ...]:
        """The states that may become ``target`` in one move (for a conditional UPDATE)."""
        return tuple(s for s in self.states if target in self.moves[s])

    def only_from(self, sources: tuple[S, ...], target: S) -> tuple[S, ...]:
        """``sources``, once checked to be legal moves to ``target``: for an UPDATE that takes
        only some of the legal paths (``WHERE status IN sources``)."""
        for source in sources:
            self.move(source, target)
        return sources

    def terminal(self) -> frozenset[S]:
        return frozenset(s for s, targets in self.moves.items() if not targets)


def _lifecycle(name: str, states: type[S], moves: Mapping[S, set[S]]) -> Lifecycle[S]:
    return Lifecycle(name, states, {state: frozenset(t) for state, t in moves.items()})


_C = CaseStatus
CASE = _lifecycle(
    "case",
    CaseStatus,
    {
        _C.OPEN: {_C.RESPONDED, _C.RESOLVED, _C.CANCELLED},
        _C.RESPONDED: {_C.RESOLVED, _C.CANCELLED},
        _C.RESOLVED: {_C.RESPONDED},  # reopened: the consumer rejected the resolution
        _C.CANCELLED: set(),
    },
)

_D = DeadlineState
DEADLINE = _lifecycle(
    "deadline",
    DeadlineState,
    {
        _D.PENDING: {_D.MET, _D.CANCELLED, _D.BREACHED},
        # Evidence instants arrive in any order and a reopen clears the evidence.
        _D.MET: {_D.PENDING, _D.CANCELLED},
        _D.CANCELLED: {_D.PENDING, _D.MET},
        _D.BREACHED: set(),
    },
)

_B = BreachStatus
BREACH = _lifecycle(
    "breach",
    BreachStatus,
    {
        _B.OPEN: {_B.SETTLED, _B.CONTESTED},
        _B.SETTLED: {_B.CONTESTED},
        # A review found the payment stands although the breach was contested.
        _B.CONTESTED: {_B.SETTLED},
    },
)

_P = CompensationStatus
COMPENSATION = _lifecycle(
    "compensation",
    CompensationStatus,
    {
        _P.PENDING: {_P.ISSUED, _P.FAILED, _P.CANCELLED, _P.HELD},
        # An operator's retry; contested; or paid after all (a refusal followed by a payment:
        # an operator's retry racing a late reply still means the consumer was paid).
        _P.FAILED: {_P.PENDING, _P.CANCELLED, _P.ISSUED},
        _P.ISSUED: {_P.REVIEW},  # contested after it was paid
        # A payment that lands after the compensation was cancelled is flagged, not hidden.
        _P.CANCELLED: {_P.REVIEW},
        # A person's review: the payment stands (issued again), or it was not owed.
        _P.REVIEW: {_P.ISSUED, _P.PAID_IN_ERROR},
        # Released by an operator (then paid), cancelled by one, or contested while held.
        _P.HELD: {_P.PENDING, _P.CANCELLED},
        _P.PAID_IN_ERROR: set(),
    },
)

_I = InboxOutcome
INBOX = _lifecycle(
    "inbox event",
    InboxOutcome,
    {
        _I.PARKED: {_I.APPLIED, _I.REJECTED},  # retried after each change of its case
        _I.APPLIED: set(),
        _I.DUPLICATE: set(),
        _I.REJECTED: set(),
        _I.CONFLICT: set(),
    },
)

_O = OutboxState
OUTBOX = _lifecycle(
    "outbox message",
    OutboxState,
    {_O.UNPUBLISHED: {_O.PUBLISHED}, _O.PUBLISHED: set()},
)


def values(states: type[StrEnum]) -> tuple[str, ...]:
    """The stored strings of a status, in declaration order (for CHECK constraints, filters)."""
    return tuple(state.value for state in states)
