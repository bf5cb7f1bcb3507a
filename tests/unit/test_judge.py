"""Breach judgement by event time: the edges (at due, 1 µs after, grace, late evidence,
cancellation) in Asia/Shanghai and in a DST zone, America/New_York."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from hypothesis import given
from hypothesis import strategies as st

from slamon.models.judge import DeadlineView, in_time, judge, settlement

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
GRACE = timedelta(minutes=2)
US = timedelta(microseconds=1)

# A response deadline at 11:00 local time in each zone (New York's is in summer time).
DUES = [
    pytest.param(datetime(2026, 11, 26, 11, 0, tzinfo=SHANGHAI), id="shanghai"),
    pytest.param(datetime(2026, 7, 3, 11, 0, tzinfo=NEW_YORK), id="new_york"),
]


def later(moment: datetime, delta: timedelta) -> datetime:
    """``moment + delta`` in elapsed time, written in ``moment``'s zone.

    Plain ``+`` on an aware datetime is wall-clock arithmetic: in New York's repeated hour,
    01:30 EST + 2 min gives 01:32 EDT, which is an hour *earlier*.
    """
    return (moment.astimezone(UTC) + delta).astimezone(moment.tzinfo)


def deadline(
    due: datetime, *, met: datetime | None = None, cancelled: datetime | None = None
) -> DeadlineView:
    # The policy's zone is the due instant's own here, so the reasons read as the test writes.
    assert due.tzinfo is not None
    return DeadlineView(
        "response", due, later(due, GRACE), met_at=met, cancelled_at=cancelled, zone=due.tzinfo
    )


@pytest.mark.parametrize("due", DUES)
class TestEvidence:
    def test_evidence_exactly_at_due_is_met(self, due: datetime) -> None:
        verdict = judge(deadline(due, met=due), now=due + GRACE)
        assert verdict.outcome == "met"
        assert due.isoformat() in verdict.reason

    def test_evidence_one_microsecond_after_due_is_breached_after_grace(
        self, due: datetime
    ) -> None:
        verdict = judge(deadline(due, met=due + US), now=due + GRACE)
        assert verdict.outcome == "breached"
        assert "after the due instant" in verdict.reason

    def test_evidence_one_microsecond_after_due_waits_inside_grace(self, due: datetime) -> None:
        # An earlier response may still be in flight; only the grace period's end decides.
        assert judge(deadline(due, met=due + US), now=due + GRACE - US).outcome == "wait"

    def test_timely_evidence_is_met_before_the_due_instant_even_arrives(
        self, due: datetime
    ) -> None:
        early = due - timedelta(minutes=20)
        assert judge(deadline(due, met=early), now=early).outcome == "met"

    def test_timely_evidence_that_arrived_late_still_meets_the_deadline(
        self, due: datetime
    ) -> None:
        # 10:59 response, its event only judged an hour later: event time wins.
        verdict = judge(deadline(due, met=due - timedelta(minutes=1)), now=due + timedelta(hours=1))
        assert verdict.outcome == "met"


@pytest.mark.parametrize("due", DUES)
class TestNoEvidence:
    def test_inside_grace_waits(self, due: datetime) -> None:
        verdict = judge(deadline(due), now=due + GRACE / 2)
        assert verdict.outcome == "wait"
        assert (due + GRACE).isoformat() in verdict.reason

    def test_before_due_waits(self, due: datetime) -> None:
        assert judge(deadline(due), now=due - timedelta(minutes=30)).outcome == "wait"

    def test_last_microsecond_of_grace_waits(self, due: datetime) -> None:
        assert judge(deadline(due), now=due + GRACE - US).outcome == "wait"

    def test_end_of_grace_is_breached(self, due: datetime) -> None:
        verdict = judge(deadline(due), now=due + GRACE)
        assert verdict.outcome == "breached"
        assert "no response evidence" in verdict.reason

    def test_long_after_grace_is_breached(self, due: datetime) -> None:
        # Catch-up after downtime: the verdict does not depend on how late we look.
        assert judge(deadline(due), now=due + timedelta(days=3)).outcome == "breached"


@pytest.mark.parametrize("due", DUES)
class TestCancellation:
    def test_cancelled_before_due_is_cancelled_at_once(self, due: datetime) -> None:
        cancelled = due - timedelta(minutes=10)
        verdict = judge(deadline(due, cancelled=cancelled), now=cancelled)
        assert verdict.outcome == "cancelled"
        assert cancelled.isoformat() in verdict.reason

    def test_cancelled_exactly_at_due_is_cancelled(self, due: datetime) -> None:
        # The due instant is still in time, so the promise was not yet broken.
        assert judge(deadline(due, cancelled=due), now=due + GRACE).outcome == "cancelled"

    def test_cancelled_after_due_waits_inside_grace(self, due: datetime) -> None:
        assert judge(deadline(due, cancelled=due + US), now=due + US).outcome == "wait"

    def test_cancelled_after_due_without_timely_evidence_is_breached(self, due: datetime) -> None:
        verdict = judge(deadline(due, cancelled=due + US), now=due + GRACE)
        assert verdict.outcome == "breached"
        assert "cancelled" in verdict.reason

    def test_cancelled_after_due_with_timely_evidence_is_met(self, due: datetime) -> None:
        view = deadline(due, met=due - US, cancelled=due + timedelta(hours=1))
        assert judge(view, now=due + timedelta(hours=2)).outcome == "met"


@pytest.mark.parametrize("due", DUES)
def test_late_evidence_contests_iff_it_occurred_at_or_before_due(due: datetime) -> None:
    assert in_time(due - US, due)
    assert in_time(due, due)
    assert not in_time(due + US, due)


def test_instants_are_compared_across_zones() -> None:
    due = datetime(2026, 11, 26, 11, 0, tzinfo=SHANGHAI)  # 03:00 UTC = 22:00 EST the day before
    same_instant = datetime(2026, 11, 25, 22, 0, tzinfo=NEW_YORK)
    assert judge(deadline(due, met=same_instant), now=due + GRACE).outcome == "met"
    assert judge(deadline(due, met=same_instant + US), now=due + GRACE).outcome == "breached"
    assert in_time(same_instant, due)


class TestRepeatedDstHour:
    """1 Nov 2026, New York: 01:00-01:59 happens twice (EDT, fold=0, then EST, fold=1)."""

    def test_second_0110_is_after_first_0130(self) -> None:
        due = datetime(2026, 11, 1, 1, 30, tzinfo=NEW_YORK)  # 05:30 UTC
        evidence = datetime(2026, 11, 1, 1, 10, fold=1, tzinfo=NEW_YORK)  # 06:10 UTC
        # Wall-clock comparison would call this met; it happened 40 minutes late.
        assert judge(deadline(due, met=evidence), now=later(evidence, GRACE)).outcome == "breached"
        assert not in_time(evidence, due)

    def test_first_0150_is_before_second_0130(self) -> None:
        due = datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=NEW_YORK)  # 06:30 UTC
        evidence = datetime(2026, 11, 1, 1, 50, tzinfo=NEW_YORK)  # 05:50 UTC
        assert judge(deadline(due, met=evidence), now=later(due, GRACE)).outcome == "met"
        assert in_time(evidence, due)


def test_frozen_clock_read_at_the_edge_waits_through_grace_then_breaches() -> None:
    due = datetime(2026, 11, 26, 11, 0, tzinfo=SHANGHAI)
    view = deadline(due, met=due + timedelta(seconds=30))
    with freeze_time(due) as clock:
        assert judge(view, now=datetime.now(SHANGHAI)).outcome == "wait"
        clock.move_to(due + GRACE - US)
        assert judge(view, now=datetime.now(SHANGHAI)).outcome == "wait"
        clock.move_to(due + GRACE)
        assert judge(view, now=datetime.now(SHANGHAI)).outcome == "breached"


def test_frozen_clock_in_new_york_dst_zone() -> None:
    due = datetime(2026, 3, 8, 3, 30, tzinfo=NEW_YORK)  # the first half hour after spring-forward
    with freeze_time(datetime(2026, 3, 8, 7, 31, tzinfo=UTC)):  # 03:31 EDT: inside grace
        assert judge(deadline(due), now=datetime.now(NEW_YORK)).outcome == "wait"
    with freeze_time(datetime(2026, 3, 8, 7, 32, tzinfo=UTC)):  # 03:32 EDT: grace over
        assert judge(deadline(due), now=datetime.now(NEW_YORK)).outcome == "breached"


@pytest.mark.parametrize(
    "field", ["due_at", "judge_at", "met_at", "cancelled_at"], ids=lambda name: f"naive-{name}"
)
def test_naive_datetimes_are_refused(field: str) -> None:
    aware = datetime(2026, 11, 26, 11, 0, tzinfo=SHANGHAI)
    values = {"due_at": aware, "judge_at": aware + GRACE, field: datetime(2026, 11, 26, 11, 0)}
    with pytest.raises(ValueError, match=f"{field} must be timezone-aware"):
        DeadlineView("response", **values)


def test_naive_now_is_refused() -> None:
    due = datetime(2026, 11, 26, 11, 0, tzinfo=SHANGHAI)
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        judge(deadline(due), now=datetime(2026, 11, 26, 12, 0))


def test_judge_at_before_due_is_refused() -> None:
    due = datetime(2026, 11, 26, 11, 0, tzinfo=SHANGHAI)
    with pytest.raises(ValueError, match="grace period cannot be negative"):
        DeadlineView("response", due, due - US)


# -- properties over arbitrary instants -------------------------------------------------------

BASE = datetime(2026, 1, 1, tzinfo=UTC)
offsets = st.integers(min_value=-(10**11), max_value=10**11).map(
    lambda us: timedelta(microseconds=us)
)
zones = st.sampled_from([UTC, SHANGHAI, NEW_YORK])


@given(
    met=offsets,
    now=offsets,
    grace=st.integers(min_value=0, max_value=10**9).map(lambda us: timedelta(microseconds=us)),
)
def test_evidence_after_grace_is_met_iff_it_occurred_by_due(
    met: timedelta, now: timedelta, grace: timedelta
) -> None:
    view = DeadlineView("resolution", BASE, BASE + grace, met_at=BASE + met)
    outcome = judge(view, now=BASE + grace + abs(now)).outcome
    assert outcome == ("met" if met <= timedelta(0) else "breached")


@given(met=st.none() | offsets, cancelled=st.none() | offsets, now=offsets)
def test_no_breach_is_ever_decided_inside_the_grace_period(
    met: timedelta | None, cancelled: timedelta | None, now: timedelta
) -> None:
    grace = timedelta(minutes=5)
    view = DeadlineView(
        "response",
        BASE,
        BASE + grace,
        met_at=None if met is None else BASE + met,
        cancelled_at=None if cancelled is None else BASE + cancelled,
    )
    at = BASE + grace - abs(now) - US  # strictly before judge_at
    assert judge(view, now=at).outcome != "breached"


@given(met=st.none() | offsets, cancelled=st.none() | offsets, now=offsets, zone=zones)
def test_the_verdict_does_not_depend_on_the_zone_datetimes_are_written_in(
    met: timedelta | None, cancelled: timedelta | None, now: timedelta, zone: tzinfo
) -> None:
    def view(tz: tzinfo) -> DeadlineView:
        def local(offset: timedelta | None) -> datetime | None:
            return None if offset is None else (BASE + offset).astimezone(tz)

        return DeadlineView(
            "response",
            BASE.astimezone(tz),
            (BASE + GRACE).astimezone(tz),
            met_at=local(met),
            cancelled_at=local(cancelled),
        )

    in_utc = judge(view(UTC), now=BASE + now).outcome
    assert judge(view(zone), now=(BASE + now).astimezone(zone)).outcome == in_utc


# -- settlement: the rule judgement and the stored deadline share -------------------------------


@pytest.mark.parametrize("due", DUES)
def test_settlement_by_the_facts_alone(due: datetime) -> None:
    assert settlement(due, met_at=due, cancelled_at=None) == "met"
    assert settlement(due, met_at=due + US, cancelled_at=None) is None
    assert settlement(due, met_at=None, cancelled_at=due) == "cancelled"
    assert settlement(due, met_at=None, cancelled_at=due + US) is None
    # Timely evidence wins over a timely withdrawal, whichever happened first.
    assert settlement(due, met_at=due - US, cancelled_at=due - 2 * US) == "met"
    assert settlement(due, met_at=due + US, cancelled_at=due) == "cancelled"
    assert settlement(due, met_at=None, cancelled_at=None) is None


def test_settlement_compares_instants_not_wall_readings() -> None:
    due = datetime(2026, 11, 1, 1, 30, tzinfo=NEW_YORK)  # 05:30 UTC, the first 01:30
    second_0110 = datetime(2026, 11, 1, 1, 10, fold=1, tzinfo=NEW_YORK)  # 06:10 UTC
    assert settlement(due, met_at=second_0110, cancelled_at=None) is None
    assert settlement(due, met_at=None, cancelled_at=second_0110) is None


def test_settlement_refuses_naive_instants() -> None:
    due = datetime(2026, 11, 26, 11, 0, tzinfo=SHANGHAI)
    with pytest.raises(ValueError, match="must be timezone-aware"):
        settlement(due, met_at=datetime(2026, 11, 26, 10, 0), cancelled_at=None)


@given(met=st.none() | offsets, cancelled=st.none() | offsets, now=offsets)
def test_judgement_agrees_with_settlement_at_any_time(
    met: timedelta | None, cancelled: timedelta | None, now: timedelta
) -> None:
    met_at = None if met is None else BASE + met
    cancelled_at = None if cancelled is None else BASE + cancelled
    view = DeadlineView("response", BASE, BASE + GRACE, met_at=met_at, cancelled_at=cancelled_at)
    settled = settlement(BASE, met_at, cancelled_at)
    outcome = judge(view, now=BASE + now).outcome
    if settled is not None:
        assert outcome == settled
    else:
        assert outcome == ("wait" if BASE + now < BASE + GRACE else "breached")


def test_reasons_read_in_the_policy_zone_whatever_zone_the_database_returns() -> None:
    # The database hands instants back in UTC; the breach reason (and the ledger text built
    # the same way) is read in the policy's zone, with its offset.
    due = datetime(2026, 11, 27, 1, 30, tzinfo=UTC)
    view = DeadlineView("response", due, due + GRACE, zone=SHANGHAI)
    reason = judge(view, now=due + GRACE).reason
    assert "due instant 2026-11-27T09:30:00+08:00" in reason
    assert "+00:00" not in reason
    in_new_york = judge(DeadlineView("response", due, due + GRACE, zone=NEW_YORK), due + GRACE)
    assert "2026-11-26T20:30:00-05:00" in in_new_york.reason


def test_a_deadline_view_reads_in_shanghai_unless_told() -> None:
    due = datetime(2026, 11, 27, 1, 30, tzinfo=UTC)
    reason = judge(DeadlineView("response", due, due + GRACE), now=due).reason
    assert "grace period runs until 2026-11-27T09:32:00+08:00" in reason
