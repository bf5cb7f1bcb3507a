"""Instants as people read them (slamon.models.instants): the policy's zone with its offset."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from slamon.models.instants import DISPLAY_ZONE, as_read


def test_a_utc_instant_reads_in_shanghai_with_its_offset() -> None:
    assert as_read(datetime(2026, 11, 27, 1, 30, tzinfo=UTC)) == "2026-11-27T09:30:00+08:00"
    assert str(DISPLAY_ZONE) == "Asia/Shanghai"


def test_another_zone_reads_with_its_own_offset_across_dst() -> None:
    new_york = ZoneInfo("America/New_York")
    summer, winter = datetime(2026, 7, 3, 15, tzinfo=UTC), datetime(2026, 12, 3, 16, tzinfo=UTC)
    assert as_read(summer, new_york) == "2026-07-03T11:00:00-04:00"
    assert as_read(winter, new_york) == "2026-12-03T11:00:00-05:00"


def test_a_naive_instant_is_refused_rather_than_guessed() -> None:
    with pytest.raises(ValueError, match="must carry a UTC offset"):
        as_read(datetime(2026, 11, 27, 9, 30))
