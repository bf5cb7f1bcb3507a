"""The ``sla.compensate`` Celery task is a thin adapter: it pays through the runtime's issuer
and maps a retryable failure to ``self.retry`` (run eagerly here: retries happen at once)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from celery.exceptions import Retry
from sqlalchemy import Engine, select

from slamon.models.db.engine import transaction
from slamon.models.db.tables import Compensation
from slamon.models.policy.policy import load_policies
from slamon.models.states import CompensationStatus
from slamon.scheduler.sweeper import sweep
from slamon.worker import runtime as runtime_mod
from slamon.worker.points.memory import InMemoryPointsIssuer
from slamon.worker.points.port import RetryableIssueError
from slamon.worker.tasks import compensate_batch_task, compensate_task
from tests.support.runtime import DEFAULTS, runtime_for
from tests.support.seed import seed_cases

DUE = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
TIMINGS = DEFAULTS.claim_lease, DEFAULTS.redispatch_after  # of a sweep


def breached_one(engine: Engine) -> int:
    seed_cases(engine, 1, DUE)
    swept = sweep(engine, DUE + timedelta(minutes=5), "s1", 10, *TIMINGS)
    [compensation_id] = swept.compensation_ids
    return compensation_id


@pytest.fixture
def issuer(db_url: str, engine: Engine) -> Iterator[InMemoryPointsIssuer]:
    issuer = InMemoryPointsIssuer()
    previous = runtime_mod._current
    runtime_mod.install(runtime_for(db_url, policies=load_policies([]),
                                    issuer_factory=lambda _engine: issuer))
    yield issuer
    runtime_mod._current = previous


def test_the_task_retries_a_retryable_failure_then_pays(
    engine: Engine, issuer: InMemoryPointsIssuer
) -> None:
    cid = breached_one(engine)
    issuer.fail_next(RetryableIssueError("503"), RetryableIssueError("timeout", retry_after=2))
    result = compensate_task.apply(args=[cid])
    assert result.successful()
    assert issuer.calls == 3 and len(issuer.grants) == 1
    with transaction(engine) as session:
        paid = session.scalars(select(Compensation)).one()
    assert (paid.status, paid.attempts) == ("issued", 3)


def test_the_retry_countdown_is_the_services_backoff(
    engine: Engine, issuer: InMemoryPointsIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = breached_one(engine)
    issuer.fail_next(RetryableIssueError("429", retry_after=9))
    countdowns: list[float] = []

    def capture_retry(*args: object, countdown: float, **kwargs: object) -> Retry:
        countdowns.append(countdown)
        return Retry("retry")

    monkeypatch.setattr(compensate_task, "retry", capture_retry)
    with pytest.raises(Retry):
        compensate_task.run(cid)
    assert countdowns == [9.0]


def test_a_retry_too_long_for_a_countdown_queues_no_task(
    engine: Engine, issuer: InMemoryPointsIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Retry-After of a day, capped at five minutes: longer than any countdown the broker's
    # visibility timeout allows, so the scheduler sends it when next_attempt_at comes.
    cid = breached_one(engine)
    issuer.fail_next(RetryableIssueError("429", retry_after=86_400))
    monkeypatch.setattr(compensate_task, "retry", lambda *a, **k: pytest.fail("a countdown"))
    compensate_task.run(cid)
    with transaction(engine) as session:
        row = session.get(Compensation, cid)
        assert row is not None and row.status == CompensationStatus.PENDING
        assert row.next_attempt_at is not None


def test_the_batch_task_pays_a_chunk_and_hands_retries_to_single_tasks(
    engine: Engine, issuer: InMemoryPointsIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_cases(engine, 3, DUE)
    swept = sweep(engine, DUE + timedelta(minutes=5), "s1", 10, *TIMINGS)
    ids = swept.compensation_ids
    issuer.fail_next(RetryableIssueError("503", retry_after=7))
    queued: list[tuple[list[int], float]] = []
    monkeypatch.setattr(compensate_task, "apply_async",
                        lambda args, countdown: queued.append((args, countdown)))
    assert compensate_batch_task.apply(args=[ids]).successful()
    assert queued == [([ids[0]], 7)]  # the one that failed, with the service's delay
    with transaction(engine) as session:
        statuses = [session.get(Compensation, i).status for i in ids]  # type: ignore[union-attr]
    assert statuses == ["pending", "issued", "issued"]
