"""The payout guard on SQLite and Postgres: each limit holds (never pays, never drops), the
hourly rate trips the guard for everything after, an operator's release pays each held one
exactly once (and is not counted against the limits), a reset re-arms it; and concurrent
worker processes cannot together pass a limit."""

from __future__ import annotations

import multiprocessing as mp
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select, update

from slamon.models.audit import Action
from slamon.models.db.engine import snapshot, transaction
from slamon.models.db.ops import operator_actions_view, payout_guard_view
from slamon.models.db.payout_minutes import points_approved_automatically_after
from slamon.models.db.tables import Compensation, Deadline, LedgerEntry, OutboxMessage
from slamon.models.payout import Limit, PayoutLimits
from slamon.models.states import CompensationStatus
from slamon.scheduler.redispatch import claim_for_dispatch
from slamon.scheduler.sweeper import sweep
from slamon.worker.compensation import CompensationOutcome, compensate_many
from slamon.worker.compensation_actions import (
    act_in_bulk,
    cancel_compensation,
    release_compensation,
    reset_guard,
)
from slamon.worker.evidence import contest_breach
from slamon.worker.payout_guard import GuardLimits
from slamon.worker.points.ledger import LedgerPointsIssuer
from slamon.worker.points.port import PointsIssuer, RetryableIssueError
from tests.support.compensation_workers import run_worker
from tests.support.processes import wait_for
from tests.support.runtime import DEFAULTS
from tests.support.seed import SeedDeadline, seed_cases

DUE = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
NOW = DUE + timedelta(minutes=5)
HELD, ISSUED = CompensationStatus.HELD, CompensationStatus.ISSUED
REDISPATCH = DEFAULTS.redispatch_after


def breached(engine: Engine, count: int, points: int = 5000, prefix: str = "H") -> list[int]:
    """``count`` cases with a breached response deadline owing ``points``; compensation ids."""
    seed_cases(engine, count, DUE, (SeedDeadline(points=points),), prefix=prefix)
    return sweep(engine, NOW, f"s-{prefix}", 10_000, DEFAULTS.claim_lease,
                 REDISPATCH).compensation_ids


def limits(per_hour: int = 10**9, per_account: int = 10**6, per_one: int = 100_000) -> GuardLimits:
    return GuardLimits(PayoutLimits(per_hour, per_account, per_one))


def pay(
    engine: Engine, issuer: PointsIssuer, ids: list[int], guard: GuardLimits, at: datetime = NOW
) -> list[CompensationOutcome]:
    return compensate_many(engine, issuer, ids, lambda: at, REDISPATCH, guard)


def statuses(engine: Engine) -> dict[str, int]:
    with snapshot(engine) as session:
        rows = session.execute(select(Compensation.status, func.count())
                               .group_by(Compensation.status))
        return {str(status): n for status, n in rows}


def ledger(engine: Engine) -> tuple[int, int]:
    with snapshot(engine) as session:
        count, points = session.execute(
            select(func.count(), func.coalesce(func.sum(LedgerEntry.points), 0))).one()
        return int(count), int(points)


def issued_points(engine: Engine) -> int:
    with snapshot(engine) as session:
        return int(session.scalar(select(func.coalesce(func.sum(Compensation.points), 0))
                                  .where(Compensation.status == ISSUED)) or 0)


def held_messages(engine: Engine) -> list[dict[str, object]]:
    with snapshot(engine) as session:
        return list(session.scalars(select(OutboxMessage.payload)
                                    .where(OutboxMessage.topic == "compensation.held")
                                    .order_by(OutboxMessage.id)))


def test_one_over_the_per_compensation_limit_is_held_with_its_reason(engine: Engine) -> None:
    [big] = breached(engine, 1, points=150_000)
    [small] = breached(engine, 1, prefix="S")
    outcomes = pay(engine, LedgerPointsIssuer(engine), [big, small], limits())
    assert [o.status for o in outcomes] == ["held", "issued"]
    with snapshot(engine) as session:
        held = session.get(Compensation, big)
        assert held is not None and held.status == HELD
        assert held.hold_limit == Limit.POINTS_PER_COMPENSATION and held.held_at == NOW
        assert held.hold_reason == "150000 points exceed the limit of 100000 per compensation"
        assert held.approved_at is None and held.next_attempt_at is None  # not redispatched
        view = payout_guard_view(session, NOW)
    assert view["tripped"] is False  # one wrong amount holds itself, not the service
    assert view["held"] == {"count": 1, "points": 150_000}
    [message] = held_messages(engine)
    assert message["compensation_id"] == big and message["limit"] == "points_per_compensation"
    assert message["limit_value"] == 100_000 and message["points"] == 150_000
    assert ledger(engine) == (1, 5000)  # never paid
    assert claim_for_dispatch(engine, NOW + timedelta(hours=1), timedelta(minutes=2), 100) == []


def test_an_account_is_held_after_its_daily_penalties(engine: Engine) -> None:
    ids = breached(engine, 4)
    with transaction(engine) as session:
        session.execute(update(Compensation).values(account="tb_same"))
    issuer = LedgerPointsIssuer(engine)
    first = pay(engine, issuer, ids[:1], limits(per_account=2))
    rest = pay(engine, issuer, ids[1:], limits(per_account=2))
    assert [o.status for o in first + rest] == ["issued", "issued", "held", "held"]
    assert {m["limit"] for m in held_messages(engine)} == {"penalties_per_account_per_day"}
    # a day later the account may be paid again
    later = pay(engine, issuer, breached(engine, 1, prefix="L"), limits(per_account=2),
                at=NOW + timedelta(hours=25))
    assert [o.status for o in later] == ["issued"]


def test_the_hourly_rate_trips_the_guard_and_a_release_pays_each_held_one_once(
    engine: Engine,
) -> None:
    guard = limits(per_hour=12_000)
    issuer = LedgerPointsIssuer(engine)
    ids = breached(engine, 6)
    outcomes = pay(engine, issuer, ids, guard)
    assert [o.status for o in outcomes] == ["issued"] * 2 + ["held"] * 4
    with snapshot(engine) as session:
        rules = [session.get(Compensation, i).hold_limit for i in ids[2:]]  # type: ignore[union-attr]
        view = payout_guard_view(session, NOW)
    assert rules == ["points_per_hour"] + ["guard_tripped"] * 3
    assert view["tripped"] is True and view["tripped_limit"] == "points_per_hour"
    assert "10000 points paid in the last hour + 5000 would exceed" in view["tripped_reason"]
    # Tripped: everything after is held, however small.
    [late] = breached(engine, 1, points=100, prefix="T")
    assert pay(engine, issuer, [late], guard)[0].status == "held"

    released = act_in_bulk(engine, None, lambda s, cid: release_compensation(
        s, cid, "ops-alice", NOW, "checked: real breaches"))
    assert released.done == [*ids[2:], late] and released.refused == []
    due = claim_for_dispatch(engine, NOW, timedelta(minutes=2), 100)
    assert sorted(due) == sorted([*ids[2:], late])  # the scheduler sends them at once
    paid = pay(engine, issuer, due, guard)
    assert {o.status for o in paid} == {"issued"}  # past a tripped guard: a person decided
    again = pay(engine, issuer, due, guard)
    assert {o.status for o in again} == {"skipped"}
    assert ledger(engine) == (7, 6 * 5000 + 100) and issued_points(engine) == 6 * 5000 + 100

    with snapshot(engine) as session:
        trail = operator_actions_view(session)
    assert {(a["actor"], a["action"], a["from_status"], a["to_status"]) for a in trail} == {
        ("ops-alice", Action.RELEASE, "held", "pending")}
    assert len(trail) == 5 and trail[0]["note"] == "checked: real breaches"

    with transaction(engine) as session:
        reset_guard(session, "ops-alice", NOW, "burst explained")
    # Released points were not counted: 10,000 automatic + 2,000 fits the 12,000 again.
    [fits] = breached(engine, 1, points=2000, prefix="F")
    assert pay(engine, issuer, [fits], guard)[0].status == "issued"
    with snapshot(engine) as session:
        assert payout_guard_view(session, NOW)["tripped"] is False
        assert operator_actions_view(session, limit=1)[0]["action"] == Action.RESET_GUARD


def test_a_cancelled_or_contested_held_compensation_is_never_paid(engine: Engine) -> None:
    first, second = breached(engine, 2, points=150_000)
    issuer = LedgerPointsIssuer(engine)
    pay(engine, issuer, [first, second], limits())
    with transaction(engine) as session:
        cancel_compensation(session, first, "ops-bob", NOW, "fake opening")
    with transaction(engine) as session:
        deadline = session.scalars(select(Deadline).where(
            Deadline.case_id == session.get(Compensation, second).case_id)).one()  # type: ignore[union-attr]
        contest_breach(session, deadline, DUE - timedelta(minutes=1), NOW)
    assert statuses(engine) == {"cancelled": 2}
    result = act_in_bulk(engine, [first, second], lambda s, cid: release_compensation(
        s, cid, "ops-bob", NOW))
    assert result.done == [] and {r["id"] for r in result.refused} == {first, second}
    assert "only a held one can be released" in result.refused[0]["error"]
    assert ledger(engine) == (0, 0)


def test_an_approved_compensation_retried_after_the_trip_is_still_paid(engine: Engine) -> None:
    class DownOnce(LedgerPointsIssuer):
        calls = 0

        def issue_many(self, requests):  # type: ignore[no-untyped-def]
            DownOnce.calls += 1
            if DownOnce.calls == 1:
                return [RetryableIssueError("points service down") for _ in requests]
            return super().issue_many(requests)

    guard = limits(per_hour=5000)
    [approved] = breached(engine, 1)
    issuer = DownOnce(engine)
    assert pay(engine, issuer, [approved], guard)[0].status == "retry"
    [tripping] = breached(engine, 1, prefix="X")
    assert pay(engine, issuer, [tripping], guard)[0].status == "held"
    # The retry was approved (and counted) before the trip: it is paid, not held.
    assert pay(engine, issuer, [approved], guard)[0].status == "issued"
    assert ledger(engine) == (1, 5000)


@pytest.mark.parametrize("limit", ["hourly", "account"])
def test_concurrent_worker_processes_cannot_together_pass_a_limit(
    db_url: str, engine: Engine, limit: str
) -> None:
    """Four processes pay 120 compensations in chunks of 3 at once: exactly as many are paid
    as one worker alone would pay, the rest are held."""
    cases, workers = 120, 4
    ids = breached(engine, cases)
    if limit == "account":
        with transaction(engine) as session:
            session.execute(update(Compensation).values(account="tb_same"))
        guard, expected = limits(per_account=7), 7
    else:
        guard, expected = limits(per_hour=37 * 5000 + 4999), 37
    ctx = mp.get_context("spawn")
    todo: mp.Queue[list[int]] = ctx.Queue()
    outcomes: mp.Queue[str] = ctx.Queue()
    stop = ctx.Event()
    processes = [ctx.Process(target=run_worker, args=(db_url, todo, outcomes, stop, guard))
                 for _ in range(workers)]
    for process in processes:
        process.start()
    try:
        for start in range(0, cases, 3):
            todo.put(ids[start:start + 3])
        seen = [outcomes.get(timeout=90) for _ in range(cases)]
    finally:
        stop.set()
        for process in processes:
            process.join(timeout=30)
    assert sorted(set(seen)) == ["held", "issued"]
    wait_for(lambda: sum(statuses(engine).values()) == cases, what="every decision recorded")
    assert statuses(engine) == {"issued": expected, "held": cases - expected}
    assert ledger(engine) == (expected, expected * 5000)


def test_the_hourly_window_read_from_minute_sums_equals_the_compensations_own_sum(
    engine: Engine,
) -> None:
    """Approvals every 23 s for 80 minutes, seconds apart across minute boundaries: at each
    approval, and at instants cutting through a minute, the per-minute window is exactly the
    sum over the approved compensations themselves (the query it replaced)."""
    ids = breached(engine, 210, points=100)
    issuer = LedgerPointsIssuer(engine)
    start = NOW + timedelta(seconds=7)
    instants = [start + timedelta(seconds=23 * i) for i in range(len(ids))]
    for compensation_id, at in zip(ids, instants, strict=True):
        assert pay(engine, issuer, [compensation_id], limits(), at)[0].status == "issued"

    def naive(now: datetime) -> int:
        with snapshot(engine) as session:
            return int(session.scalar(
                select(func.coalesce(func.sum(Compensation.points), 0)).where(
                    Compensation.approved_at > now - timedelta(hours=1),
                    Compensation.released_by.is_(None),
                )) or 0)

    checked = [*instants[::7], *(at + timedelta(seconds=s) for at in instants[100:103]
                                 for s in (-1, 0, 1, 30))]
    with engine.connect() as conn:
        for now in checked:
            assert points_approved_automatically_after(conn, now - timedelta(hours=1)) == naive(now)
    assert naive(instants[-1]) < 210 * 100  # the window really rolled past the first ones
