"""The compensation service and the ledger adapter on SQLite and Postgres: every outcome of a
points call, the race with late evidence, redispatch of lost tasks, and the operator's retry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select

from slamon.models.db.engine import transaction
from slamon.models.db.tables import Breach, Compensation, Deadline, LedgerEntry, OutboxMessage
from slamon.scheduler.redispatch import claim_for_dispatch
from slamon.scheduler.sweeper import sweep
from slamon.worker.compensation import MAX_RETRY_DELAY, compensate, compensate_many
from slamon.worker.compensation_actions import CompensationNotRetryableError, retry_compensation
from slamon.worker.evidence import contest_breach
from slamon.worker.points.ledger import LedgerPointsIssuer
from slamon.worker.points.memory import InMemoryPointsIssuer
from slamon.worker.points.port import (
    IssueRequest,
    IssueResult,
    RejectedIssueError,
    RetryableIssueError,
)
from slamon.worker.redelivery import MAX_COUNTDOWN_SECONDS
from tests.support.runtime import DEFAULTS, LIMITS
from tests.support.seed import seed_cases

DUE = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
DETECTED = DUE + timedelta(minutes=5)
LATER = DETECTED + timedelta(seconds=3)
REDISPATCH = DEFAULTS.redispatch_after


def clock() -> datetime:
    return LATER


def breached(engine: Engine, count: int = 1) -> list[int]:
    """``count`` cases with a breached response deadline; their compensation ids."""
    seed_cases(engine, count, DUE)
    return sweep(engine, DETECTED, "s1", 10_000, DEFAULTS.claim_lease, REDISPATCH).compensation_ids


def comp(engine: Engine, compensation_id: int) -> Compensation:
    with transaction(engine) as session:
        found = session.get(Compensation, compensation_id)
        assert found is not None
        return found


def topics(engine: Engine) -> list[str]:
    with transaction(engine) as session:
        return list(session.scalars(select(OutboxMessage.topic).order_by(OutboxMessage.id)))


def breach_status(engine: Engine) -> str:
    with transaction(engine) as session:
        return session.scalars(select(Breach.status)).one()


class TestLedgerIssuer:
    REQUEST = IssueRequest("tb_1", 5000, "H1:response", "late", "H1", "response")

    def test_pays_once_per_key(self, engine: Engine) -> None:
        ledger = LedgerPointsIssuer(engine, clock=clock)
        first = ledger.issue(self.REQUEST)
        again = ledger.issue(self.REQUEST)
        assert first.status == "issued" and again.status == "already_issued"
        assert first.reference == again.reference
        with transaction(engine) as session:
            entry = session.scalars(select(LedgerEntry)).one()
        assert (entry.account, entry.points, entry.issued_at) == ("tb_1", 5000, LATER)

    def test_another_grant_under_the_same_key_is_refused(self, engine: Engine) -> None:
        ledger = LedgerPointsIssuer(engine, clock=clock)
        ledger.issue(self.REQUEST)
        other = IssueRequest("tb_2", 5000, "H1:response", "late", "H1", "response")
        with pytest.raises(RejectedIssueError, match="already paid 5000 points to 'tb_1'"):
            ledger.issue(other)

    def test_a_chunk_is_paid_in_one_go_each_with_its_own_answer(self, engine: Engine) -> None:
        ledger = LedgerPointsIssuer(engine, clock=clock)
        ledger.issue(self.REQUEST)
        fresh = IssueRequest("tb_3", 5000, "H3:response", "late", "H3", "response")
        clash = IssueRequest("tb_9", 100, "H1:response", "late", "H1", "response")
        too_long = IssueRequest("x" * 65, 5000, "H4:response", "late", "H4", "response")
        results = ledger.issue_many([self.REQUEST, fresh, clash])
        assert [type(r).__name__ for r in results] == [
            "IssueResult", "IssueResult", "RejectedIssueError"
        ]
        assert [getattr(r, "status", None) for r in results] == ["already_issued", "issued", None]
        if engine.dialect.name == "postgresql":  # SQLite does not enforce VARCHAR lengths
            # One row the database refuses does not sink the others of its chunk.
            other = IssueRequest("tb_5", 5000, "H5:response", "late", "H5", "response")
            refused, paid = ledger.issue_many([too_long, other])
            assert isinstance(refused, RejectedIssueError) and "refused the grant" in str(refused)
            assert isinstance(paid, IssueResult) and paid.status == "issued"

    def test_an_unreachable_database_is_retryable(self) -> None:
        from slamon.models.db.engine import create_db_engine

        gone = create_db_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
        with pytest.raises(RetryableIssueError, match="points ledger unavailable"):
            LedgerPointsIssuer(gone).issue(self.REQUEST)


def test_issued_settles_the_breach_and_announces_it(engine: Engine) -> None:
    [cid] = breached(engine)
    outcome = compensate(engine, LedgerPointsIssuer(engine), cid, clock, REDISPATCH, LIMITS)
    assert outcome.status == "issued"
    paid = comp(engine, cid)
    assert (paid.status, paid.attempts, paid.issued_at) == ("issued", 1, LATER)
    assert paid.reference is not None and paid.reference.startswith("ledger-")
    assert breach_status(engine) == "settled"
    assert topics(engine) == ["sla.breached", "compensation.issued"]
    # Redelivered task: nothing happens, nothing is paid twice.
    again = compensate(engine, LedgerPointsIssuer(engine), cid, clock, REDISPATCH, LIMITS)
    assert again.status == "skipped"
    with transaction(engine) as session:
        assert session.scalar(select(func.count()).select_from(LedgerEntry)) == 1


def test_already_issued_counts_as_issued(engine: Engine) -> None:
    [cid] = breached(engine)
    issuer = InMemoryPointsIssuer()
    # Paid, but the reply was lost: the next attempt hears "already issued".
    issuer.fail_next(RetryableIssueError("timeout"), after_issue=True)
    assert compensate(engine, issuer, cid, clock, REDISPATCH, LIMITS).status == "retry"
    assert compensate(engine, issuer, cid, clock, REDISPATCH, LIMITS).detail == "already_issued"
    assert comp(engine, cid).status == "issued" and comp(engine, cid).attempts == 2
    assert len(issuer.grants) == 1


def test_the_texts_people_read_give_the_due_instant_in_the_policy_zone(engine: Engine) -> None:
    # Stored in UTC, read in Asia/Shanghai with its offset: the breach reason and the ledger
    # text the consumer's points grant carries.
    [cid] = breached(engine)
    compensate(engine, LedgerPointsIssuer(engine), cid, clock, REDISPATCH, LIMITS)
    with transaction(engine) as session:
        breach = session.scalars(select(Breach)).one()
        ledger = session.scalars(select(LedgerEntry)).one()
    shanghai = breach.due_at.astimezone(ZoneInfo("Asia/Shanghai")).isoformat()
    assert shanghai.endswith("+08:00")
    assert breach.reason is not None and f"due instant {shanghai}" in breach.reason
    assert f"(due {shanghai})" in ledger.reason
    assert "+00:00" not in breach.reason + ledger.reason


def test_a_short_retry_is_a_countdown_the_scheduler_backs_up(engine: Engine) -> None:
    [cid] = breached(engine)
    issuer = InMemoryPointsIssuer()
    issuer.fail_next(RetryableIssueError("503 busy", retry_after=12))
    outcome = compensate(engine, issuer, cid, clock, REDISPATCH, LIMITS)
    assert outcome.status == "retry" and outcome.retry_in == 12
    pending = comp(engine, cid)
    assert (pending.status, pending.attempts, pending.last_error) == ("pending", 1, "503 busy")
    # The scheduler leaves it to the task's retry until the countdown and a margin are over.
    assert pending.next_attempt_at == LATER + timedelta(seconds=12) + REDISPATCH


def test_a_retry_longer_than_a_countdown_may_be_is_left_to_the_scheduler(engine: Engine) -> None:
    # A countdown longer than the broker's visibility timeout would be delivered twice: the
    # wait is kept in the database instead, and the scheduler sends it when it is due.
    [cid] = breached(engine)
    issuer = InMemoryPointsIssuer()
    issuer.fail_next(RetryableIssueError("503 busy", retry_after=42))
    assert MAX_COUNTDOWN_SECONDS < 42
    outcome = compensate(engine, issuer, cid, clock, REDISPATCH, LIMITS)
    assert outcome.status == "retry" and outcome.retry_in is None
    assert comp(engine, cid).next_attempt_at == LATER + timedelta(seconds=42)
    assert claim_for_dispatch(engine, LATER + timedelta(seconds=41), REDISPATCH, 10) == []
    assert claim_for_dispatch(engine, LATER + timedelta(seconds=42), REDISPATCH, 10) == [cid]


def test_retry_delay_never_exceeds_a_few_minutes(engine: Engine) -> None:
    [cid] = breached(engine)
    issuer = InMemoryPointsIssuer()
    issuer.fail_next(RetryableIssueError("429", retry_after=86_400))
    assert compensate(engine, issuer, cid, clock, REDISPATCH, LIMITS).retry_in is None
    assert comp(engine, cid).next_attempt_at == LATER + timedelta(seconds=MAX_RETRY_DELAY)


def test_refused_is_failed_with_the_reason(engine: Engine) -> None:
    [cid] = breached(engine)
    issuer = InMemoryPointsIssuer()
    issuer.fail_next(RejectedIssueError("account tb_H0000000 is frozen"))
    outcome = compensate(engine, issuer, cid, clock, REDISPATCH, LIMITS)
    assert outcome.status == "failed"
    failed = comp(engine, cid)
    assert (failed.status, failed.last_error) == ("failed", "account tb_H0000000 is frozen")
    assert breach_status(engine) == "open"  # not paid: still a violation
    assert topics(engine) == ["sla.breached", "compensation.failed"]


def test_points_paid_while_late_evidence_cancelled_the_compensation_go_to_review(
    engine: Engine,
) -> None:
    [cid] = breached(engine)

    class ContestedMeanwhile:
        """Late evidence is applied while the points call is in flight."""

        def issue(self, request: IssueRequest) -> IssueResult:
            with transaction(engine) as session:
                deadline = session.scalars(select(Deadline)).one()
                contest_breach(session, deadline, DUE - timedelta(seconds=1), LATER)
            return IssueResult("issued", "ref-1")

    outcome = compensate(engine, ContestedMeanwhile(), cid, clock, REDISPATCH, LIMITS)
    assert outcome.status == "review"
    flagged = comp(engine, cid)
    assert (flagged.status, flagged.reference) == ("review", "ref-1")
    assert flagged.last_error is not None and "review" in flagged.last_error
    assert breach_status(engine) == "contested"
    assert topics(engine) == ["sla.breached", "sla.breach_contested", "compensation.review"]


def test_contested_before_the_task_runs_pays_nothing(engine: Engine) -> None:
    [cid] = breached(engine)
    with transaction(engine) as session:
        deadline = session.scalars(select(Deadline)).one()
        contest_breach(session, deadline, DUE, LATER)
    issuer = InMemoryPointsIssuer()
    assert compensate(engine, issuer, cid, clock, REDISPATCH, LIMITS).status == "skipped"
    assert issuer.calls == 0 and comp(engine, cid).status == "cancelled"


def test_unknown_compensation_is_reported_missing(engine: Engine) -> None:
    outcome = compensate(engine, InMemoryPointsIssuer(), 999, clock, REDISPATCH, LIMITS)
    assert outcome.status == "missing"


def test_lost_tasks_are_claimed_for_redispatch_once_their_time_has_passed(engine: Engine) -> None:
    ids = breached(engine, 3)
    issued = ids[0]
    compensate(engine, LedgerPointsIssuer(engine), issued, clock, REDISPATCH, LIMITS)
    # Created at DETECTED with next_attempt_at = DETECTED + 2 min (the sweeper's default).
    assert claim_for_dispatch(engine, DETECTED + timedelta(minutes=1), REDISPATCH, 100) == []
    again = DETECTED + timedelta(minutes=2)
    assert sorted(claim_for_dispatch(engine, again, REDISPATCH, 100)) == sorted(ids[1:])
    assert claim_for_dispatch(engine, again, REDISPATCH, 100) == []  # claimed: pushed forward
    assert sorted(claim_for_dispatch(engine, again + REDISPATCH, REDISPATCH, 100)) == sorted(
        ids[1:]
    )


def test_operator_retry_puts_a_failed_compensation_back_for_dispatch(engine: Engine) -> None:
    [cid] = breached(engine)
    issuer = InMemoryPointsIssuer()
    issuer.fail_next(RejectedIssueError("account frozen"))
    compensate(engine, issuer, cid, clock, REDISPATCH, LIMITS)
    with transaction(engine) as session:
        view = retry_compensation(session, cid, LATER)
    assert view["status"] == "pending"
    assert claim_for_dispatch(engine, LATER, REDISPATCH, 100) == [cid]
    assert compensate(engine, issuer, cid, clock, REDISPATCH, LIMITS).status == "issued"
    assert breach_status(engine) == "settled"
    with transaction(engine) as session, pytest.raises(
        CompensationNotRetryableError, match="is issued; only a failed one"
    ):
        retry_compensation(session, cid, LATER)


def test_a_batch_pays_records_and_reports_each_one_in_order(engine: Engine) -> None:
    ids = breached(engine, 5)
    # paid earlier
    compensate(engine, LedgerPointsIssuer(engine), ids[0], clock, REDISPATCH, LIMITS)
    issuer = InMemoryPointsIssuer()
    # ids[1] and ids[2] come first to the issuer: one to retry, one refused.
    issuer.fail_next(RetryableIssueError("timeout"), RejectedIssueError("frozen"))
    outcomes = compensate_many(engine, issuer, [999, *ids], clock, REDISPATCH, LIMITS)
    assert [o.compensation_id for o in outcomes] == [999, *ids]
    assert [o.status for o in outcomes] == [
        "missing", "skipped", "retry", "failed", "issued", "issued"
    ]
    assert sorted(issuer.grants) == sorted(comp(engine, i).idempotency_key for i in ids[3:])
    with transaction(engine) as session:
        statuses = {row.id: row.status for row in session.execute(select(Breach.id, Breach.status))}
    assert sorted(statuses.values()) == ["open", "open", "settled", "settled", "settled"]
    assert topics(engine).count("compensation.issued") == 3
