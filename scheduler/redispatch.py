"""Pending compensations whose task was lost, claimed for dispatch again.

A compensation's ``next_attempt_at`` is the instant after which, if it is still pending, no
task can be working on it any more: the sweeper sets it a while after the first dispatch, the
compensation task pushes it past each retry's countdown. A worker killed mid-task, a message
lost by the broker, a scheduler that died between commit and dispatch: each leaves a pending
compensation whose ``next_attempt_at`` passes, and this claim hands it out again. Claiming
pushes ``next_attempt_at`` forward first, so replicas never dispatch the same row together.
A duplicate task is harmless anyway: the compensation task and the points port are idempotent.

A burst (thousands of breaches at once) can leave tasks waiting in the queue longer than the
threshold although none is lost; the scheduler then passes ``due_by`` far in the past (see
:mod:`slamon.scheduler.loop`) so that only long-overdue rows are dispatched again meanwhile.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, select

from slamon.models.db.claims import claim_rows
from slamon.models.db.engine import transaction
from slamon.models.db.tables import COMPENSATION_PENDING, Compensation

_PENDING = COMPENSATION_PENDING


def claim_for_dispatch(
    engine: Engine,
    now: datetime,
    redispatch_after: timedelta,
    batch: int,
    due_by: datetime | None = None,
) -> list[int]:
    """Claim up to ``batch`` pending compensations due for (re)dispatch; their ids.

    1. Pick pending rows with ``next_attempt_at <= due_by`` (``now`` by default; index on
       status, next_attempt_at), skipping rows another replica is claiming
       (:func:`slamon.models.db.claims.claim_rows`).
    2. Set ``next_attempt_at = now + redispatch_after`` on them.
    """
    due = (
        select(Compensation.id)
        .where(_PENDING, Compensation.next_attempt_at <= (due_by or now))
        .order_by(Compensation.next_attempt_at)
        .limit(batch)
    )
    with transaction(engine) as session:
        return claim_rows(session, Compensation, due, next_attempt_at=now + redispatch_after)
