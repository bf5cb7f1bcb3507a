"""The audit trail's vocabulary: what an operator may do by hand, each recorded once.

Every action that moves money or lets it move (release, cancel, retry, a review's
resolution, a reset of the payout guard) is one row of ``operator_actions``: who (the API
token's *name*, or ``cli:<user>``), when, on what, from which status to which, and the note
the operator gave.
"""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    RELEASE = "release"  # a held compensation: pay it (a person decided)
    CANCEL = "cancel"  # a held or failed compensation: not owed, never paid
    RETRY = "retry"  # a failed compensation: send it again
    RESOLVE_REVIEW = "resolve_review"  # a paid, contested one: the payment stands, or was wrong
    RESET_GUARD = "reset_guard"  # the tripped payout guard: automatic payment resumes


class Resolution(StrEnum):
    """How a review ends."""

    STANDS = "stands"  # the payment stands: issued, and the breach counts as settled
    WRONG = "wrong"  # the payment was not owed: recorded as paid in error (a note says why)
