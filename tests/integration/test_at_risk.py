"""At-risk warnings: one ``sla.at_risk`` per deadline, only while the promise can still be kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select, update

from slamon.models.db.engine import transaction
from slamon.models.db.tables import Deadline, OutboxMessage
from slamon.scheduler.at_risk import warn_at_risk
from tests.support.seed import SeedDeadline, seed_cases

DUE = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
AT_RISK = SeedDeadline(at_risk_before_due=timedelta(minutes=15))  # at_risk_at = DUE - 15 min


def warnings(engine: Engine) -> list[OutboxMessage]:
    with transaction(engine) as session:
        return list(
            session.scalars(
                select(OutboxMessage).where(OutboxMessage.topic == "sla.at_risk")
                .order_by(OutboxMessage.message_id)
            )
        )


def test_warned_once_when_the_share_of_time_is_used(engine: Engine) -> None:
    [case_id] = seed_cases(engine, 1, DUE, (AT_RISK,))
    assert warn_at_risk(engine, DUE - timedelta(minutes=15, microseconds=1), 100).warned == 0
    first = warn_at_risk(engine, DUE - timedelta(minutes=15), 100)
    again = warn_at_risk(engine, DUE - timedelta(minutes=5), 100)
    assert (first.warned, again.warned) == (1, 0)
    [message] = warnings(engine)
    assert message.message_id == f"sla.at_risk:{case_id}:response"
    assert message.payload["due_at"] == DUE.isoformat()
    assert message.payload["merchant_id"] == "M1"


def test_met_deadlines_are_not_warned(engine: Engine) -> None:
    seed_cases(engine, 2, DUE, (AT_RISK,))
    with transaction(engine) as session:
        session.execute(update(Deadline).where(Deadline.case_id == "H0000000").values(state="met"))
    assert warn_at_risk(engine, DUE - timedelta(minutes=1), 100).warned == 1
    assert [m.case_id for m in warnings(engine)] == ["H0000001"]


def test_past_due_at_first_sight_is_flagged_without_a_warning(engine: Engine) -> None:
    # The scheduler was down through the at-risk window: a warning now would come too late.
    seed_cases(engine, 3, DUE, (AT_RISK,))
    result = warn_at_risk(engine, DUE + timedelta(seconds=1), 100)
    assert (result.warned, result.stale) == (0, 3)
    assert warnings(engine) == []
    assert warn_at_risk(engine, DUE + timedelta(seconds=2), 100).stale == 0


def test_batches_are_bounded(engine: Engine) -> None:
    seed_cases(engine, 7, DUE, (AT_RISK,))
    when = DUE - timedelta(minutes=1)
    assert [warn_at_risk(engine, when, 3).warned for _ in range(4)] == [3, 3, 1, 0]
    assert len(warnings(engine)) == 7
