"""Exactly once against a bad points service: a real local HTTP service (signed requests,
idempotency keys) that fails half of the calls and hangs on some after recording the grant.
Every compensation ends issued, and the service recorded each grant exactly once."""

from __future__ import annotations

import queue
import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select

from slamon.models.db.engine import transaction
from slamon.models.db.tables import Breach, Compensation, OutboxMessage
from slamon.models.signing import SigningKeys, new_secret
from slamon.scheduler.sweeper import sweep
from slamon.worker.compensation import compensate
from slamon.worker.points.http import HttpPointsIssuer
from tests.support.points_server import PointsServer
from tests.support.runtime import DEFAULTS, LIMITS
from tests.support.seed import seed_cases

DUE = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
CASES = 120
WORKERS = 4
SECRET = new_secret()


def utcnow() -> datetime:
    return datetime.now(UTC)


def test_every_compensation_is_issued_exactly_once(engine: Engine) -> None:
    seed_cases(engine, CASES, DUE)
    timings = DEFAULTS.claim_lease, DEFAULTS.redispatch_after
    swept = sweep(engine, DUE + timedelta(minutes=5), "s1", 1000, *timings)
    ids = swept.compensation_ids
    assert len(ids) == CASES
    todo: queue.Queue[int] = queue.Queue()
    for cid in ids:
        todo.put(cid)
    attempts: list[str] = []
    with PointsServer(secret=SECRET, fail_ratio=0.5, hang_ratio=0.1, hang_seconds=0.6,
                      seed=5) as server:
        issuer = HttpPointsIssuer(server.url, SigningKeys.parse(SECRET), connect_timeout=0.5,
                                  read_timeout=0.2)

        def work() -> None:
            # A worker: what the Celery task does, minus the countdown (retried at once here).
            while True:
                try:
                    cid = todo.get(timeout=0.5)
                except queue.Empty:
                    return
                outcome = compensate(engine, issuer, cid, utcnow, DEFAULTS.redispatch_after,
                                     LIMITS)
                attempts.append(outcome.status)
                if outcome.status == "retry":
                    todo.put(cid)

        threads = [threading.Thread(target=work) for _ in range(WORKERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        grants = server.grants
        fates = server.fates
        issuer.close()

    # The service misbehaved as asked: failures and hangs (paid, reply lost) both happened.
    assert fates.count("fail") > CASES // 3 and fates.count("hang") > 0
    assert attempts.count("retry") == fates.count("fail") + fates.count("hang")
    with transaction(engine) as session:
        rows = session.execute(select(Compensation.idempotency_key, Compensation.status)).all()
        settled = session.scalar(
            select(func.count()).select_from(Breach).where(Breach.status == "settled")
        )
        announced = session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.topic == "compensation.issued")
        )
    assert {status for _, status in rows} == {"issued"}
    assert set(grants) == {key for key, _ in rows} and len(grants) == CASES
    assert all(g["points"] == 5000 for g in grants.values())
    assert settled == CASES and announced == CASES
