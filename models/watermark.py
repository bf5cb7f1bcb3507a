"""The ingest watermark: how far judgement may go without outrunning evidence still in transit.

Every message slamon accepts (SDK, HTTP intake, ``slamon send``) is recorded as *unapplied*
with its acceptance instant before it is queued, and forgotten once a worker has applied it
(or dead-lettered it). The low watermark is the acceptance instant of the oldest unapplied
message, or the broker's clock when none is unapplied. A deadline is judged only when its
``judge_at`` is below the watermark: then every message accepted before ``judge_at`` has been
applied, so any evidence it carried is already in the database, and a breach recorded is one
whose evidence really came late.

This module is the pure part: what a reading means. Where the unapplied messages are kept is
:mod:`slamon.worker.ingest_watermark`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class IngestWatermark:
    """A reading: the broker's clock ``now``; ``oldest_accepted`` of the unapplied messages
    still presumed in transit (None when there are none); how many are unapplied; how many of
    those are older than the presumed-lost limit and no longer hold judgement back."""

    now: datetime
    oldest_accepted: datetime | None
    unapplied: int = 0
    presumed_lost: int = 0

    @property
    def horizon(self) -> datetime:
        """Deadlines with ``judge_at`` before this instant may be judged."""
        return self.oldest_accepted if self.oldest_accepted is not None else self.now

    @property
    def behind_seconds(self) -> float:
        """How long the oldest unapplied message has waited (0 when ingest is caught up)."""
        return max(0.0, (self.now - self.horizon).total_seconds())

    def paused(self, behind_limit: float) -> bool:
        """Whether ingest is far enough behind for operators to hear that judgement waits."""
        return self.behind_seconds > behind_limit

    def describe(self, behind_limit: float) -> str:
        """"ok", or what an operator reads on /readyz and the dashboard."""
        if not self.paused(behind_limit):
            return "ok"
        return f"judgement paused, ingest behind by {self.behind_seconds:.0f} s"


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
