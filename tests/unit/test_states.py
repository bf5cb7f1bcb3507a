"""The lifecycles: their legal moves are written once and mean what the rules say."""

from __future__ import annotations

import pytest

from slamon.models.states import (
    BREACH,
    CASE,
    COMPENSATION,
    DEADLINE,
    INBOX,
    OUTBOX,
    BreachStatus,
    CaseStatus,
    CompensationStatus,
    DeadlineState,
    IllegalTransitionError,
    InboxOutcome,
    Lifecycle,
    OutboxState,
    values,
)

ALL = (CASE, DEADLINE, BREACH, COMPENSATION, INBOX, OUTBOX)


def test_the_stored_strings_are_the_ones_the_database_always_held() -> None:
    # Renaming one of these would orphan rows; a change here needs a migration.
    assert values(CaseStatus) == ("open", "responded", "resolved", "cancelled")
    assert values(DeadlineState) == ("pending", "met", "breached", "cancelled")
    assert values(BreachStatus) == ("open", "settled", "contested")
    assert values(CompensationStatus) == (
        "pending", "issued", "failed", "cancelled", "review", "held", "paid_in_error")
    assert values(InboxOutcome) == (
        "applied", "parked", "duplicate", "rejected", "conflict")  # conflict: 0009
    assert values(OutboxState) == ("unpublished", "published")


C, D, B, P, IN = CaseStatus, DeadlineState, BreachStatus, CompensationStatus, InboxOutcome
LEGAL = [
    (CASE, C.OPEN, C.RESPONDED),
    (CASE, C.OPEN, C.RESOLVED),
    (CASE, C.RESPONDED, C.CANCELLED),
    (CASE, C.RESOLVED, C.RESPONDED),  # reopened
    (DEADLINE, D.PENDING, D.BREACHED),
    (DEADLINE, D.MET, D.PENDING),  # a reopen clears the evidence
    (DEADLINE, D.CANCELLED, D.MET),  # earlier evidence arrived late
    (BREACH, B.OPEN, B.SETTLED),
    (BREACH, B.SETTLED, B.CONTESTED),
    (COMPENSATION, P.PENDING, P.ISSUED),
    (COMPENSATION, P.FAILED, P.PENDING),  # an operator's retry
    (COMPENSATION, P.FAILED, P.ISSUED),  # a refusal followed by a payment
    (COMPENSATION, P.ISSUED, P.REVIEW),
    (COMPENSATION, P.CANCELLED, P.REVIEW),  # paid after it was cancelled
    (COMPENSATION, P.PENDING, P.HELD),  # over a payout-guard limit
    (COMPENSATION, P.HELD, P.PENDING),  # released by an operator
    (COMPENSATION, P.HELD, P.CANCELLED),  # cancelled by one, or contested while held
    (COMPENSATION, P.REVIEW, P.ISSUED),  # reviewed: the payment stands
    (COMPENSATION, P.REVIEW, P.PAID_IN_ERROR),  # reviewed: it was not owed
    (BREACH, B.CONTESTED, B.SETTLED),  # reviewed: the payment stands
    (INBOX, IN.PARKED, IN.APPLIED),
    (OUTBOX, OutboxState.UNPUBLISHED, OutboxState.PUBLISHED),
]
ILLEGAL = [
    (CASE, C.CANCELLED, C.OPEN),
    (CASE, C.RESOLVED, C.CANCELLED),
    (DEADLINE, D.BREACHED, D.MET),  # a judged breach is contested, never undone
    (DEADLINE, D.MET, D.BREACHED),
    (BREACH, B.CONTESTED, B.OPEN),
    (BREACH, B.SETTLED, B.OPEN),
    (COMPENSATION, P.ISSUED, P.PENDING),  # never paid twice
    (COMPENSATION, P.ISSUED, P.CANCELLED),
    (COMPENSATION, P.REVIEW, P.PENDING),  # a reviewed payment is never paid again
    (COMPENSATION, P.HELD, P.ISSUED),  # only a release (to pending) leads to payment
    (COMPENSATION, P.PAID_IN_ERROR, P.ISSUED),
    (INBOX, IN.APPLIED, IN.PARKED),
    (INBOX, IN.DUPLICATE, IN.APPLIED),
    (OUTBOX, OutboxState.PUBLISHED, OutboxState.UNPUBLISHED),
]


@pytest.mark.parametrize(("lifecycle", "current", "target"), LEGAL)
def test_legal_moves(lifecycle: Lifecycle, current: object, target: object) -> None:  # type: ignore[type-arg]
    assert lifecycle.allows(current, target)
    assert lifecycle.move(current, target) is target
    assert lifecycle.move(str(current), target) is target  # as read back from a column
    assert current in lifecycle.sources(target)


@pytest.mark.parametrize(("lifecycle", "current", "target"), ILLEGAL)
def test_illegal_moves_raise(lifecycle: Lifecycle, current: object, target: object) -> None:  # type: ignore[type-arg]
    assert not lifecycle.allows(current, target)
    with pytest.raises(IllegalTransitionError, match=f"{current} cannot become {target}"):
        lifecycle.move(current, target)
    assert current not in lifecycle.sources(target)


@pytest.mark.parametrize("lifecycle", ALL, ids=lambda lc: lc.name)
def test_staying_put_is_always_legal(lifecycle: Lifecycle) -> None:  # type: ignore[type-arg]
    for state in lifecycle.states:
        assert lifecycle.move(state, state) is state


def test_terminal_states() -> None:
    assert CASE.terminal() == {C.CANCELLED}
    assert DEADLINE.terminal() == {D.BREACHED}
    assert BREACH.terminal() == set()  # a contested breach may still be settled by a review
    assert COMPENSATION.terminal() == {P.PAID_IN_ERROR}
    assert INBOX.terminal() == {IN.APPLIED, IN.DUPLICATE, IN.REJECTED, IN.CONFLICT}


def test_sources_are_what_a_conditional_update_may_take() -> None:
    assert set(COMPENSATION.sources(P.ISSUED)) == {P.PENDING, P.FAILED, P.REVIEW}
    assert set(COMPENSATION.sources(P.CANCELLED)) == {P.PENDING, P.FAILED, P.HELD}
    assert COMPENSATION.only_from((P.PENDING,), P.FAILED) == (P.PENDING,)
    with pytest.raises(IllegalTransitionError):
        COMPENSATION.only_from((P.PENDING, P.ISSUED), P.FAILED)


def test_an_unknown_stored_value_fails_loudly() -> None:
    with pytest.raises(ValueError, match="'paid-twice' is not a valid CompensationStatus"):
        COMPENSATION.move("paid-twice", P.ISSUED)


def test_a_lifecycle_must_list_every_state() -> None:
    with pytest.raises(ValueError, match="every state needs its moves"):
        Lifecycle("broken", OutboxState, {OutboxState.UNPUBLISHED: frozenset()})
