"""The payout guard's rules (slamon.models.payout): each limit, their order, the trip."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from slamon.bootstrap import build_runtime
from slamon.models.payout import Limit, PayoutLimits, PayoutWindow, PolicyPayout, decide
from slamon.models.policy.policy import PolicyError, parse_policy
from slamon.settings import Settings
from slamon.worker import runtime as runtime_mod
from tests.unit.policy_samples import shipped_text
from tests.unit.test_policy_loading import renamed

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


def test_a_policy_file_sets_its_payout_limits_and_the_runtime_takes_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = renamed(shipped_text(), "tmall-2030", "2030-01-01") + (
        "\n[payout]\nmax_points_per_compensation = 200000\n")
    (tmp_path / "tmall-2030.toml").write_text(text, encoding="utf-8")
    monkeypatch.setattr(runtime_mod, "_current", None)
    runtime = build_runtime(Settings(home=tmp_path, policy=tmp_path))
    assert runtime.payout_limits.for_policy("tmall-2030").points_per_compensation == 200_000
    assert runtime.payout_limits.for_policy("tmall-2022").points_per_compensation == 100_000
    with pytest.raises(PolicyError, match=r"payout\.max_points_per_compensation"):
        parse_policy(text.replace("= 200000", "= 0"), "tmall-2030.toml")
    with pytest.raises(PolicyError, match="payout"):
        parse_policy(text + "limit = 1\n", "tmall-2030.toml")  # an unknown key is refused
