"""The sweeper on SQLite and Postgres: judgement edges by event time, exactly-once records,
leases, catch-up after downtime.

Time is pinned with freezegun and read once per sweep, as the scheduler does; instants are
written in Asia/Shanghai to show that the zone an instant is written in does not matter.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from sqlalchemy import Engine, func, select

from slamon.models.case_state import DeadlineEffect
from slamon.models.db.engine import transaction
from slamon.models.db.tables import Breach, Compensation, Deadline, OutboxMessage
from slamon.scheduler.sweeper import claim_due, judge_claimed, sweep
from slamon.worker.evidence import apply_effect
from tests.support.runtime import DEFAULTS
from tests.support.seed import SeedDeadline, seed_cases

SHANGHAI = ZoneInfo("Asia/Shanghai")
DUE = datetime(2026, 11, 26, 11, 0, tzinfo=SHANGHAI)
GRACE = timedelta(minutes=2)
LEASE = timedelta(seconds=60)
REDISPATCH = DEFAULTS.redispatch_after
US = timedelta(microseconds=1)


def now() -> datetime:
    """The clock, read at the edge (frozen by the tests)."""
    return datetime.now(UTC)


def sweep_now(engine: Engine, claimer: str = "s1", batch: int = 100):  # type: ignore[no-untyped-def]
    return sweep(engine, now(), claimer, batch, LEASE, REDISPATCH)


def evidence(
    engine: Engine, case_id: str, action: str, at: datetime, kind: str = "response"
) -> None:
    """Apply an event's effect to the stored deadline, as ingest does (slamon.worker.evidence)."""
    with transaction(engine) as session:
        deadline = session.scalars(
            select(Deadline).where(Deadline.case_id == case_id, Deadline.kind == kind)
        ).one()
        apply_effect(session, deadline, DeadlineEffect(kind, action, at), now())  # type: ignore[arg-type]


def deadline_of(engine: Engine, case_id: str, kind: str = "response") -> Deadline:
    with transaction(engine) as session:
        return session.scalars(
            select(Deadline).where(Deadline.case_id == case_id, Deadline.kind == kind)
        ).one()


def count(engine: Engine, entity: type, *where: object) -> int:
    with transaction(engine) as session:
        return int(session.scalar(select(func.count()).select_from(entity).where(*where)) or 0)


@pytest.fixture
def one_case(engine: Engine) -> Iterator[str]:
    [case_id] = seed_cases(engine, 1, DUE, (SeedDeadline(grace=GRACE),))
    yield case_id


class TestJudgementEdges:
    def test_inside_grace_nothing_is_claimed(self, engine: Engine, one_case: str) -> None:
        with freeze_time(DUE + GRACE - US):
            assert sweep_now(engine).claimed == 0
        assert deadline_of(engine, one_case).state == "pending"

    def test_at_the_end_of_grace_the_breach_is_recorded_with_honest_times(
        self, engine: Engine, one_case: str
    ) -> None:
        with freeze_time(DUE + GRACE):
            result = sweep_now(engine)
        assert result.verdicts == {"breached": 1}
        with transaction(engine) as session:
            breach = session.scalars(select(Breach)).one()
            comp = session.scalars(select(Compensation)).one()
            outbox = session.scalars(select(OutboxMessage)).one()
        assert (breach.due_at, breach.judge_at) == (DUE, DUE + GRACE)
        assert breach.detected_at == DUE + GRACE  # the frozen clock: when it was detected
        assert breach.points == 5000 and breach.status == "open"
        assert "no response evidence" in (breach.reason or "")
        assert (comp.idempotency_key, comp.account, comp.points, comp.status) == (
            f"{one_case}:response", f"tb_{one_case}", 5000, "pending"
        )
        assert comp.breach_id == breach.id and result.compensation_ids == [comp.id]
        assert outbox.message_id == f"sla.breached:{one_case}:response"
        assert outbox.payload["due_at"] == DUE.astimezone(UTC).isoformat()
        assert deadline_of(engine, one_case).state == "breached"

    def test_evidence_exactly_at_due_arriving_inside_grace_meets_the_deadline(
        self, engine: Engine, one_case: str
    ) -> None:
        with freeze_time(DUE + GRACE / 2):
            evidence(engine, one_case, "met", DUE)
        with freeze_time(DUE + GRACE):
            assert sweep_now(engine).claimed == 0
        assert deadline_of(engine, one_case).state == "met"
        assert count(engine, Breach) == 0

    def test_evidence_a_microsecond_late_is_a_breach_that_names_it(
        self, engine: Engine, one_case: str
    ) -> None:
        with freeze_time(DUE + GRACE / 2):
            evidence(engine, one_case, "met", DUE + US)
        with freeze_time(DUE + GRACE):
            assert sweep_now(engine).verdicts == {"breached": 1}
        with transaction(engine) as session:
            reason = session.scalars(select(Breach.reason)).one()
        assert reason is not None and "after the due instant" in reason

    def test_cancelled_before_due_is_not_a_breach(self, engine: Engine, one_case: str) -> None:
        with freeze_time(DUE - timedelta(minutes=5)):
            evidence(engine, one_case, "cancel", DUE - timedelta(minutes=5))
        with freeze_time(DUE + GRACE):
            sweep_now(engine)
        assert deadline_of(engine, one_case).state == "cancelled"
        assert count(engine, Breach) == 0

    def test_late_evidence_contests_the_breach_and_cancels_the_unpaid_compensation(
        self, engine: Engine, one_case: str
    ) -> None:
        with freeze_time(DUE + GRACE):
            sweep_now(engine)
        with freeze_time(DUE + timedelta(hours=1)):  # the response occurred in time, arrived late
            evidence(engine, one_case, "met", DUE - timedelta(seconds=30))
        with transaction(engine) as session:
            breach = session.scalars(select(Breach)).one()
            comp = session.scalars(select(Compensation)).one()
        assert breach.status == "contested"
        assert breach.evidence_at == DUE - timedelta(seconds=30)
        assert comp.status == "cancelled"
        assert count(engine, OutboxMessage, OutboxMessage.topic == "sla.breach_contested") == 1


def test_zero_points_still_records_the_breach_without_a_compensation(engine: Engine) -> None:
    seed_cases(engine, 3, DUE, (SeedDeadline(points=0),))
    with freeze_time(DUE + timedelta(minutes=5)):
        result = sweep_now(engine)
    assert len(result.breaches) == 3 and result.compensation_ids == []
    assert count(engine, Breach) == 3 and count(engine, Compensation) == 0
    assert count(engine, OutboxMessage, OutboxMessage.topic == "sla.breached") == 3


def test_only_due_rows_are_claimed_earliest_first(engine: Engine) -> None:
    seed_cases(engine, 3, DUE, (SeedDeadline(due_in=timedelta(minutes=-10)),), prefix="A")
    seed_cases(engine, 3, DUE, (SeedDeadline(due_in=timedelta(minutes=-20)),), prefix="B")
    seed_cases(engine, 3, DUE, (SeedDeadline(due_in=timedelta(hours=1)),), prefix="C")
    first = claim_due(engine, DUE, "s1", 4, LEASE)
    rest = claim_due(engine, DUE, "s2", 100, LEASE)  # s1's rows are leased: s2 gets the others
    # All of B (judged earliest), then one of A (the three tie on judge_at).
    claimed_first = sorted(case_ids(engine, first))
    assert claimed_first[0].startswith("A")
    assert claimed_first[1:] == ["B0000000", "B0000001", "B0000002"]
    assert len(first) == 4 and len(rest) == 2 and not set(first) & set(rest)
    assert all(c.startswith("A") for c in case_ids(engine, rest))
    assert claim_due(engine, DUE, "s3", 100, LEASE) == []  # C is not due


def case_ids(engine: Engine, ids: list[int]) -> list[str]:
    with transaction(engine) as session:
        return list(session.scalars(select(Deadline.case_id).where(Deadline.id.in_(ids))))


def test_a_repeated_judgement_records_nothing_twice(engine: Engine) -> None:
    seed_cases(engine, 5, DUE)
    when = DUE + timedelta(minutes=5)
    ids = claim_due(engine, when, "s1", 100, LEASE)
    first = judge_claimed(engine, ids, when, "s1", REDISPATCH)
    second = judge_claimed(engine, ids, when, "s1", REDISPATCH)
    assert len(first.breaches) == 5 and second.breaches == () and second.verdicts == {}
    assert count(engine, Breach) == 5 and count(engine, Compensation) == 5


def test_an_expired_lease_lets_another_claimer_take_the_rows(engine: Engine) -> None:
    seed_cases(engine, 20, DUE)
    t0 = DUE + timedelta(minutes=5)
    taken = claim_due(engine, t0, "crashed", 100, LEASE)  # ... and never judged
    assert len(taken) == 20
    assert claim_due(engine, t0 + LEASE - US, "s2", 100, LEASE) == []  # lease still held
    retaken = claim_due(engine, t0 + LEASE + US, "s2", 100, LEASE)
    assert sorted(retaken) == sorted(taken)
    # The first claimer wakes up late: the rows are no longer its own, it records nothing.
    assert judge_claimed(engine, taken, t0 + LEASE, "crashed", REDISPATCH).breaches == ()
    result = judge_claimed(engine, retaken, t0 + LEASE + US, "s2", REDISPATCH)
    assert len(result.breaches) == 20
    with transaction(engine) as session:
        detected = set(session.scalars(select(Breach.detected_at)))
    assert detected == {t0 + LEASE + US}


def test_catch_up_after_downtime_fires_every_deadline_once_with_honest_times(
    engine: Engine,
) -> None:
    # Deadlines came due over three hours while no scheduler ran; one of them is not due yet.
    for hours in range(3):
        seed_cases(engine, 7, DUE, (SeedDeadline(due_in=timedelta(hours=hours)),),
                   prefix=f"D{hours}-")
    seed_cases(engine, 2, DUE, (SeedDeadline(due_in=timedelta(hours=9)),), prefix="LATER-")
    restart = DUE + timedelta(hours=4)
    swept = [sweep(engine, restart, "s1", 5, LEASE, REDISPATCH) for _ in range(6)]
    assert [s.claimed for s in swept] == [5, 5, 5, 5, 1, 0]
    with transaction(engine) as session:
        rows = session.execute(select(Breach.case_id, Breach.due_at, Breach.detected_at)).all()
    assert len(rows) == 21 == len({r.case_id for r in rows})
    for case_id, due_at, detected_at in rows:
        hours = int(case_id[1])
        assert due_at == DUE + timedelta(hours=hours) and detected_at == restart
    assert count(engine, Deadline, Deadline.state == "pending") == 2
