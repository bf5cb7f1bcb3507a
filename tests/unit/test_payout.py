"""The payout guard's rules (slamon.models.payout): each limit, their order, the trip."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from slamon.models.payout import Limit, PayoutLimits, PayoutWindow, PolicyPayout, decide
from slamon.settings import Settings

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=timezone(timedelta(hours=8)))
LIMITS = PayoutLimits(points_per_hour=20_000, penalties_per_account_per_day=2,
                      points_per_compensation=100_000)


def test_the_defaults_allow_a_warranty_penalty_but_not_a_thousand_of_them() -> None:
    limits, window = Settings.model_construct().payout_limits, PayoutWindow(0)
    assert decide(window, "tb_1", 100_000, limits, NOW) is None  # the warranty cap is legal
    held = [decide(window, f"tb_{n}", 100_000, limits, NOW) for n in range(2, 1002)]
    paid = held.count(None)
    assert paid * 100_000 <= limits.points_per_hour and paid < 1000
    assert window.trip is not None and window.trip.limit == Limit.POINTS_PER_HOUR


def test_one_compensation_over_its_limit_is_held_alone() -> None:
    window = PayoutWindow(0)
    hold = decide(window, "tb_1", 100_001, LIMITS, NOW)
    assert hold is not None and hold.limit == Limit.POINTS_PER_COMPENSATION
    assert hold.value == 100_000 and "100001 points exceed the limit of 100000" in hold.reason
    assert window.trip is None and window.points_last_hour == 0  # nothing counted, no trip
    assert decide(window, "tb_2", 5000, LIMITS, NOW) is None


def test_an_account_gets_its_daily_penalties_then_is_held() -> None:
    window = PayoutWindow(0, {"tb_1": 1})
    assert decide(window, "tb_1", 5000, LIMITS, NOW) is None
    hold = decide(window, "tb_1", 5000, LIMITS, NOW)
    assert hold is not None and hold.limit == Limit.PENALTIES_PER_ACCOUNT_PER_DAY
    assert "already received 2 penalties in 24 h (limit 2)" in hold.reason
    assert window.trip is None
    assert decide(window, "tb_2", 5000, LIMITS, NOW) is None  # another account is paid


def test_passing_the_hourly_rate_trips_the_guard_and_everything_after_is_held() -> None:
    window = PayoutWindow(10_000)
    assert decide(window, "tb_1", 10_000, LIMITS, NOW) is None  # exactly at the limit: paid
    hold = decide(window, "tb_2", 5000, LIMITS, NOW)
    assert hold is not None and hold.limit == Limit.POINTS_PER_HOUR
    assert window.trip is not None and window.trip.at == NOW
    after = decide(window, "tb_3", 1, LIMITS, NOW)  # even one point
    assert after is not None and after.limit == Limit.GUARD_TRIPPED
    assert "tripped at 2026-11-26T10:00:00+08:00" in after.reason
    assert window.points_last_hour == 20_000


def test_a_policy_sets_its_own_per_compensation_and_per_account_limits() -> None:
    own = LIMITS.for_policy(PolicyPayout(max_points_per_compensation=200_000))
    assert own.points_per_compensation == 200_000
    assert own.penalties_per_account_per_day == 2 and own.points_per_hour == 20_000
    assert LIMITS.for_policy(None) is LIMITS
