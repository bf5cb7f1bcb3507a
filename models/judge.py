"""Breach judgement by event time: was a deadline met, breached, cancelled, or is it too soon?

A deadline is met by *when the evidence occurred* (the response was given, the problem was
solved), not by when its message reached us: a response at 10:59 meets an 11:00 deadline even
if its event arrives at 11:01. Messages can be late, so a deadline with no timely evidence is
only called breached once its grace period is over (``judge_at = due_at + grace``); before that
the answer is "wait". The due instant itself still counts as in time.

Pure: no clock, no database. The caller passes ``now`` and the deadline's facts; every
datetime must be timezone-aware. Instants are compared in UTC, never as wall-clock readings:
two datetimes in one ``ZoneInfo`` compare by their wall time and ignore ``fold``, so in the
hour a DST zone repeats, 01:10 EST (the second 01:10) would wrongly sort before 01:30 EDT.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Literal

from slamon.models.instants import DISPLAY_ZONE, as_read

Outcome = Literal["met", "breached", "cancelled", "wait"]
Settlement = Literal["met", "cancelled"]


def _instant(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)


@dataclass(frozen=True)
class DeadlineView:
    """What judgement needs to know about one deadline of a case.

    ``met_at`` is when the earliest evidence that fulfils the deadline (a response for the
    response deadline, a resolution for the resolution deadline) *occurred*; ``cancelled_at``
    when the help request was withdrawn. Both are ``None`` until such an event is known.
    ``zone`` is the policy's calendar zone: the reason's instants are written in it.
    """

    kind: str
    due_at: datetime
    judge_at: datetime
    met_at: datetime | None = None
    cancelled_at: datetime | None = None
    zone: tzinfo = DISPLAY_ZONE

    def __post_init__(self) -> None:
        for name in ("due_at", "judge_at", "met_at", "cancelled_at"):
            value = getattr(self, name)
            if value is not None:
                _instant(value, name)
        if _instant(self.judge_at, "judge_at") < _instant(self.due_at, "due_at"):
            raise ValueError(
                f"judge_at {self.judge_at.isoformat()} is before due_at "
                f"{self.due_at.isoformat()}; the grace period cannot be negative"
            )


@dataclass(frozen=True)
class Verdict:
    """The judgement and, for the record and the operators, why."""

    outcome: Outcome
    reason: str


def judge(deadline: DeadlineView, now: datetime) -> Verdict:
    """Judge ``deadline`` as of ``now``; steps 1 and 2 are :func:`settlement`.

    1. Timely evidence (``met_at <= due_at``) → ``met``, at once: an event that occurred in
       time settles the deadline whatever arrives later.
    2. Cancelled at or before ``due_at`` → ``cancelled``, at once: the help request was
       withdrawn before the promise could be broken.
    3. Before ``judge_at`` → ``wait``: evidence that occurred in time may still be in flight,
       and the grace period exists to let it arrive. Evidence after the due instant or a
       cancellation after it does not end the wait, since earlier evidence may still come.
    4. From ``judge_at`` on → ``breached``: the evidence came after the due instant, the case
       was cancelled after it (the promise was already broken), or nothing came at all.
    """
    settled = settlement(deadline.due_at, deadline.met_at, deadline.cancelled_at)
    due_text = as_read(deadline.due_at, deadline.zone)
    if settled == "met":
        return Verdict(
            "met",
            f"{deadline.kind} evidence occurred at {_text(deadline.met_at, deadline.zone)}, "
            f"at or before the due instant {due_text}",
        )
    if settled == "cancelled":
        return Verdict(
            "cancelled",
            f"help request cancelled at {_text(deadline.cancelled_at, deadline.zone)}, "
            f"before the {deadline.kind} deadline {due_text}",
        )
    if _instant(now, "now") < _instant(deadline.judge_at, "judge_at"):
        return Verdict(
            "wait",
            f"no {deadline.kind} evidence at or before {due_text} yet; "
            f"grace period runs until {as_read(deadline.judge_at, deadline.zone)}",
        )
    if deadline.met_at is not None:
        why = f"{deadline.kind} evidence occurred at {_text(deadline.met_at, deadline.zone)}, after"
    elif deadline.cancelled_at is not None:
        why = f"help request cancelled at {_text(deadline.cancelled_at, deadline.zone)}, after"
    else:
        why = f"no {deadline.kind} evidence by the end of the grace period, none at or before"
    return Verdict("breached", f"{why} the due instant {due_text}")


def settlement(
    due_at: datetime, met_at: datetime | None, cancelled_at: datetime | None
) -> Settlement | None:
    """What the facts alone settle a deadline as, whatever the time: steps 1-2 of :func:`judge`.

    1. Evidence that occurred in time (:func:`in_time`) → ``met``.
    2. Otherwise a withdrawal in time → ``cancelled``.
    3. Otherwise ``None``: only judgement at ``judge_at`` decides, since evidence that
       occurred in time may still be in flight until then.

    The sweeper's judgement and the evidence applied to a stored deadline
    (:mod:`slamon.worker.evidence`) both settle by this function, so a deadline ends in the
    same state whichever of them sees the facts first.
    """
    if met_at is not None and in_time(met_at, due_at):
        return "met"
    if cancelled_at is not None and in_time(cancelled_at, due_at):
        return "cancelled"
    return None


def in_time(at: datetime, due_at: datetime) -> bool:
    """Whether what occurred at ``at`` counts for the deadline due at ``due_at``: at or before
    the due instant (the due instant itself is in time), compared as instants in UTC.

    This is also what lets evidence arriving after a breach was recorded contest it: the
    deadline was in fact met, only the message was late (later than the grace period).
    """
    return _instant(at, "at") <= _instant(due_at, "due_at")


def _text(value: datetime | None, zone: tzinfo) -> str:
    return as_read(value, zone) if value is not None else "-"
