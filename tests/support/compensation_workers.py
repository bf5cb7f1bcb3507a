"""Compensation workers as separate processes for replica tests: each runs the compensation
service (the function the ``sla.compensate_batch`` task calls) against the ledger, for the
chunks of ids it is sent.

Processes rather than threads so that the Python work of paying runs on every core, as it
does with Celery's prefork pool; spawned, so no connection pool crosses a fork.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
from datetime import UTC, datetime
from multiprocessing.synchronize import Event

from slamon.models.db.engine import create_db_engine
from slamon.worker.compensation import compensate_many
from slamon.worker.payout_guard import GuardLimits
from slamon.worker.points.ledger import LedgerPointsIssuer
from tests.support.runtime import DEFAULTS, LIMITS


def _utcnow() -> datetime:
    return datetime.now(UTC)


def run_worker(
    database_url: str,
    todo: mp.Queue[list[int]],
    outcomes: mp.Queue[str],
    stop: Event,
    limits: GuardLimits = LIMITS,
) -> None:
    """Pay each chunk of compensation ids from ``todo`` under the payout guard's ``limits``;
    put each outcome's status."""
    engine = create_db_engine(database_url)
    issuer = LedgerPointsIssuer(engine)
    while not stop.is_set():
        try:
            compensation_ids = todo.get(timeout=0.1)
        except queue.Empty:
            continue
        redispatch_after = DEFAULTS.redispatch_after
        for outcome in compensate_many(engine, issuer, compensation_ids, _utcnow, redispatch_after,
                                       limits=limits):
            outcomes.put(outcome.status)
    engine.dispose()
