"""Deadline planning from the policy: the Tmall examples, the clocks, at-risk and judge
instants, penalties, policy choice and the notes. Explicit Asia/Shanghai (+08:00) times."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time

from slamon.models.deadlines import (
    CaseFacts,
    CasePlan,
    PlannedDeadline,
    deadline_key,
    plan_case,
    wall_clock_add,
)
from slamon.models.policy.policy import (
    NoPolicyInForceError,
    PolicySet,
    UnknownPolicyError,
    load_policies,
)
from tests.unit.policy_samples import edited_policy

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
POLICIES = load_policies()


def at(text: str) -> datetime:
    """An instant written with its offset, e.g. "2026-11-26T17:30+08:00"."""
    value = datetime.fromisoformat(text)
    assert value.tzinfo is not None
    return value


def furniture(opened_at: str, *services: str, price: str | None = None) -> CaseFacts:
    return CaseFacts(
        opened_at=at(opened_at),
        category="家装家具",
        services=services or ("送货入户并安装",),
        item_price=Decimal(price) if price else None,
    )


def plan(facts: CaseFacts, policies: PolicySet = POLICIES, **kwargs: Any) -> CasePlan:
    now = kwargs.pop("now", facts.opened_at)
    return plan_case(facts, policies, now, **kwargs)


def deadline(result: CasePlan, kind: str) -> PlannedDeadline:
    (found,) = [d for d in result.deadlines if d.kind == kind]
    return found


def only(**changes: Any) -> PolicySet:
    return PolicySet([edited_policy(**changes)])


# -- response on business hours (the default reading) -------------------------------------------

BUSINESS_HOURS = [
    ("2026-11-26T17:30+08:00", "2026-11-27T09:30+08:00"),  # Tmall example
    ("2026-11-26T20:00+08:00", "2026-11-27T10:00+08:00"),  # Tmall example
    ("2026-11-26T17:00+08:00", "2026-11-26T18:00+08:00"),  # lands on closing: is closing
    ("2026-11-26T10:15+08:00", "2026-11-26T11:15+08:00"),
    ("2026-11-26T08:00+08:00", "2026-11-26T10:00+08:00"),
    ("2026-11-26T00:00+08:00", "2026-11-26T10:00+08:00"),
    ("2026-11-28T17:59:59.999999+08:00", "2026-11-29T09:59:59.999999+08:00"),  # Sat -> Sun
    ("2026-11-26T12:00:00Z", "2026-11-27T10:00+08:00"),  # 20:00 Shanghai, given in UTC
]


@pytest.mark.parametrize(("opened_at", "due_at"), BUSINESS_HOURS)
def test_response_is_one_business_hour(opened_at: str, due_at: str) -> None:
    response = deadline(plan(furniture(opened_at)), "response")
    assert response.clock == "business_hours"
    assert response.due_at == at(due_at)
    assert response.due_at.tzinfo == SHANGHAI


def test_business_at_risk_is_measured_in_business_time() -> None:
    # 75 % of one business hour from 17:30 is 45 minutes: 30 today, 15 tomorrow.
    response = deadline(plan(furniture("2026-11-26T17:30+08:00")), "response")
    assert response.at_risk_at == at("2026-11-27T09:15+08:00")
    assert response.judge_at == at("2026-11-27T09:31+08:00")
    assert response.points == 5_000


# -- response on window_only and wall_clock ----------------------------------------------------

WINDOW_ONLY = [
    ("2026-11-26T10:15+08:00", "2026-11-26T11:15+08:00"),
    ("2026-11-26T09:00+08:00", "2026-11-26T10:00+08:00"),
    # Opened inside the window, due after it closes: the hour is wall-clock.
    ("2026-11-26T17:30+08:00", "2026-11-26T18:30+08:00"),
    ("2026-11-26T17:59:59+08:00", "2026-11-26T18:59:59+08:00"),
    ("2026-11-26T20:00+08:00", None),
    ("2026-11-26T08:59:59+08:00", None),
    ("2026-11-26T18:00+08:00", None),  # closing time is closed
]


@pytest.mark.parametrize(("opened_at", "due_at"), WINDOW_ONLY)
def test_window_only_response(opened_at: str, due_at: str | None) -> None:
    policies = only(metrics__response__clock="window_only")
    result = plan(furniture(opened_at), policies)
    assert result.monitored
    kinds = [d.kind for d in result.deadlines]
    if due_at is None:
        assert kinds == ["resolution"]
        assert result.notes == (
            f"response: opened at {at(opened_at).isoformat()} outside the calendar's open "
            "hours, so policy tmall-2022 sets no response deadline (window_only)",
        )
    else:
        response = deadline(result, "response")
        assert (response.clock, response.due_at) == ("window_only", at(due_at))
        # 45 wall-clock minutes, the same clock as the deadline.
        assert response.at_risk_at == wall_clock_add(at(opened_at), timedelta(minutes=45))


def test_wall_clock_response_ignores_the_calendar() -> None:
    result = plan(furniture("2026-11-26T20:00+08:00"), only(metrics__response__clock="wall_clock"))
    assert deadline(result, "response").due_at == at("2026-11-26T21:00+08:00")


# -- resolution --------------------------------------------------------------------------------


def test_resolution_is_48_wall_clock_hours() -> None:
    resolution = deadline(plan(furniture("2026-11-26T17:30+08:00")), "resolution")
    assert resolution.clock == "wall_clock"
    assert resolution.due_at == at("2026-11-28T17:30+08:00")
    assert resolution.at_risk_at == at("2026-11-28T05:30+08:00")  # 36 h
    assert resolution.judge_at == at("2026-11-28T17:31+08:00")
    assert resolution.points == 30_000


def test_resolution_switched_to_business_hours() -> None:
    # 48 business hours of 9 a day from 10:00: 8 on the first day, 4 × 9 more, then 4.
    policies = only(metrics__resolution__clock="business_hours")
    resolution = deadline(plan(furniture("2026-11-26T10:00+08:00"), policies), "resolution")
    assert resolution.due_at == at("2026-12-01T13:00+08:00")
    # 36 business hours: 8, then 3 × 9 = 27, then 1.
    assert resolution.at_risk_at == at("2026-11-30T10:00+08:00")


def test_wall_clock_is_real_time_across_a_dst_change() -> None:
    # New York springs forward on 2026-03-08: 48 real hours after Saturday noon EST is
    # Monday 13:00 EDT, not 12:00 (which plain local arithmetic would give).
    calendar = {"tz": "America/New_York", "weekly": {"mon": [["09:00", "17:00"]]}}
    policies = only(calendar=calendar, effective_from="2026-01-01")
    resolution = deadline(plan(furniture("2026-03-07T12:00-05:00"), policies), "resolution")
    assert resolution.due_at == datetime(2026, 3, 9, 13, 0, tzinfo=NEW_YORK)
    assert resolution.due_at.utcoffset() == timedelta(hours=-4)
    # The response clock opens Monday 09:00 EDT.
    assert deadline(plan(furniture("2026-03-07T12:00-05:00"), policies), "response").due_at == (
        datetime(2026, 3, 9, 10, 0, tzinfo=NEW_YORK)
    )


# -- grace and at-risk settings ----------------------------------------------------------------


def test_grace_and_ratio_come_from_the_policy() -> None:
    policies = only(grace_seconds=0, at_risk_ratio="0.5")
    response = deadline(plan(furniture("2026-11-26T10:00+08:00"), policies), "response")
    assert response.judge_at == response.due_at == at("2026-11-26T11:00+08:00")
    assert response.at_risk_at == at("2026-11-26T10:30+08:00")


def test_at_risk_never_rounds_early() -> None:
    # 1 h × 0.12345678901 = 444,444,440.436 µs: rounded up, never down.
    policies = only(at_risk_ratio="0.12345678901", metrics__response__clock="wall_clock")
    response = deadline(plan(furniture("2026-11-26T10:00+08:00"), policies), "response")
    assert response.at_risk_at - at("2026-11-26T10:00+08:00") == timedelta(microseconds=444_444_441)


# -- penalties for this case --------------------------------------------------------------------


def test_the_largest_resolution_penalty_applies() -> None:
    result = plan(furniture("2026-11-26T10:00+08:00", "送货入户并安装", "三年质保", price="3000"))
    assert deadline(result, "resolution").points == 45_000
    assert deadline(result, "response").points == 5_000


def test_warranty_without_price_uses_the_other_services_and_says_so() -> None:
    result = plan(furniture("2026-11-26T10:00+08:00", "送货入户并安装", "三年质保"))
    assert deadline(result, "resolution").points == 30_000
    assert result.notes == (
        "resolution: three_year_warranty: item price unknown, so the price-rate penalty "
        "counts as 0",
    )


def test_warranty_alone_without_price_is_monitored_at_zero_points() -> None:
    result = plan(furniture("2026-11-26T10:00+08:00", "三年质保"))
    assert result.monitored
    assert deadline(result, "resolution").points == 0


def test_penalties_count_only_qualifying_services() -> None:
    # 送货入户 does not qualify furniture, so its 30,000 does not apply here.
    result = plan(furniture("2026-11-26T10:00+08:00", "送货入户", "三年质保", price="100"))
    assert deadline(result, "resolution").points == 1_500


# -- not monitored ------------------------------------------------------------------------------


def test_a_case_that_does_not_qualify_gets_no_deadlines() -> None:
    facts = CaseFacts(at("2026-11-26T10:00+08:00"), "toys", ("three_year_warranty",))
    assert plan(facts) == CasePlan(
        "tmall-2022", False, "category 'toys' is not covered by policy tmall-2022", ()
    )


# -- which policy --------------------------------------------------------------------------------


def test_a_case_is_judged_by_the_policy_in_force_when_opened() -> None:
    legacy = plan(furniture("2021-12-31T23:59+08:00"))
    assert legacy.policy_id == "tmall-legacy"
    assert deadline(legacy, "resolution").due_at == at("2022-01-01T23:59+08:00")
    current = plan(furniture("2022-01-01T00:00+08:00"))
    assert current.policy_id == "tmall-2022"
    assert deadline(current, "resolution").due_at == at("2022-01-03T00:00+08:00")


def test_an_explicit_policy_wins_over_the_date() -> None:
    result = plan(furniture("2026-11-26T10:00+08:00"), policy_id="tmall-legacy")
    assert result.policy_id == "tmall-legacy"
    with pytest.raises(UnknownPolicyError, match="known policies: tmall-2022, tmall-legacy"):
        plan(furniture("2026-11-26T10:00+08:00"), policy_id="nope")


def test_before_any_policy_the_configured_default_applies_with_a_note() -> None:
    facts = furniture("2018-06-01T10:00+08:00")
    with pytest.raises(NoPolicyInForceError):
        plan(facts)
    result = plan(facts, load_policies(default="tmall-2022"), now=at("2026-01-01T00:00+08:00"))
    assert result.policy_id == "tmall-2022"
    assert result.notes[0] == (
        "no policy in force at 2018-06-01T10:00:00+08:00; using the configured default tmall-2022"
    )


# -- now is only for notes ----------------------------------------------------------------------


def test_deadlines_already_past_at_now_are_noted() -> None:
    facts = furniture("2026-11-26T10:00+08:00")
    result = plan(facts, now=at("2026-11-26T11:00+08:00"))
    assert result.notes == (
        "response: due at 2026-11-26T11:00:00+08:00, already past at 2026-11-26T11:00:00+08:00",
    )
    assert plan(facts, now=at("2026-11-26T10:59:59+08:00")).notes == ()
    # Only notes depend on now; the deadlines do not.
    assert plan(facts, now=at("2030-01-01T00:00+08:00")).deadlines == result.deadlines


@freeze_time("2100-01-01T00:00:00Z")
def test_the_clock_is_never_read() -> None:
    assert plan(furniture("2026-11-26T10:00+08:00")).notes == ()


# -- facts ----------------------------------------------------------------------------------------


def test_facts_need_an_aware_opening_and_a_sane_price() -> None:
    with pytest.raises(ValueError, match="UTC offset"):
        CaseFacts(datetime(2026, 11, 26, 10), "furniture", ("三年质保",))
    with pytest.raises(ValueError, match="non-negative"):
        CaseFacts(at("2026-11-26T10:00+08:00"), "furniture", ("三年质保",), None, Decimal("-1"))
    with pytest.raises(ValueError, match="non-negative"):
        CaseFacts(at("2026-11-26T10:00+08:00"), "furniture", ("三年质保",), None, Decimal("NaN"))


def test_a_deadline_is_keyed_by_its_case_and_kind() -> None:
    # The compensation's idempotency key and the key of every announcement about the deadline.
    assert deadline_key("H20261126001", "response") == "H20261126001:response"
