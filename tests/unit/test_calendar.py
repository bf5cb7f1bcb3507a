"""Table tests of the business calendar: every rule of the spec, in Shanghai and DST zones.

Expected instants are written by hand as local wall-clock times. 2026 DST changes:
America/New_York 03-08 (02:00 -> 03:00) and 11-01 (02:00 -> 01:00);
Europe/London 03-29 (01:00 -> 02:00) and 10-25 (02:00 -> 01:00).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from slamon.models.calendar.engine import BusinessCalendar, CalendarError, calendar_for
from slamon.models.calendar.spec import WALLCLOCK, WEEKDAYS, CalendarSpec

SH, NY, LDN = "Asia/Shanghai", "America/New_York", "Europe/London"
H = timedelta(hours=1)
US = timedelta(microseconds=1)


def every_day(*windows: tuple[str, str]) -> dict[str, list[tuple[str, str]]]:
    return {day: list(windows) for day in WEEKDAYS}


def calendar(tz: str, weekly: Any = None, **fields: Any) -> BusinessCalendar:
    spec = {"tz": tz, "weekly": every_day(("09:00", "18:00")) if weekly is None else weekly}
    return BusinessCalendar.from_spec(spec | fields)


def local(tz: str, text: str, fold: int = 0) -> datetime:
    """A local wall-clock time "YYYY-MM-DD HH:MM[:SS[.ffffff]]" in `tz`."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz), fold=fold)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def same_instant_and_zone(got: datetime, want: datetime) -> bool:
    # In UTC: `==` on one zone compares wall fields and ignores `fold` (PEP 495).
    same_instant = got.astimezone(UTC) == want.astimezone(UTC)
    return same_instant and got.tzinfo is want.tzinfo and got.utcoffset() == want.utcoffset()


# -- the Tmall response clock (Asia/Shanghai, 09:00-18:00 every day) -------------------------

TMALL_ADD = [
    ("opened 17:30: due 09:30 next day", "2026-11-26 17:30", H, "2026-11-27 09:30"),
    ("opened 20:00: due 10:00 next day", "2026-11-26 20:00", H, "2026-11-27 10:00"),
    ("due exactly at closing time", "2026-11-26 17:00", H, "2026-11-26 18:00"),
    ("opened before opening", "2026-11-26 08:00", H, "2026-11-26 10:00"),
    ("opened at closing time", "2026-11-26 18:00", H, "2026-11-27 10:00"),
    ("opened at opening time", "2026-11-26 09:00", H, "2026-11-26 10:00"),
    ("a whole day of hours", "2026-11-26 09:00", 9 * H, "2026-11-26 18:00"),
    ("one microsecond past a day", "2026-11-26 09:00", 9 * H + US, "2026-11-27 09:00:00.000001"),
    ("48 business hours", "2026-11-26 10:00", 48 * H, "2026-12-01 13:00"),
    ("zero from a closed start", "2026-11-26 20:00", timedelta(0), "2026-11-26 20:00"),
    ("zero at closing time", "2026-11-26 18:00", timedelta(0), "2026-11-26 18:00"),
    ("one microsecond", "2026-11-26 20:00", US, "2026-11-27 09:00:00.000001"),
    ("across new year", "2026-12-31 17:59:59.5", timedelta(seconds=1), "2027-01-01 09:00:00.5"),
]


@pytest.mark.parametrize(("case", "start", "duration", "due"), TMALL_ADD)
def test_tmall_response_clock(case: str, start: str, duration: timedelta, due: str) -> None:
    cal = calendar(SH)
    got = cal.add(local(SH, start), duration)
    assert same_instant_and_zone(got, local(SH, due)), case
    assert cal.elapsed(local(SH, start), got) == duration


@pytest.mark.parametrize(
    ("start", "end", "open_time"),
    [
        ("2026-11-26 17:30", "2026-11-27 09:30", H),
        ("2026-11-26 18:00", "2026-11-27 09:00", timedelta(0)),
        ("2026-11-26 00:00", "2026-11-28 00:00", 18 * H),
        ("2026-11-26 12:00", "2026-11-26 12:00", timedelta(0)),
        ("2026-11-27 12:00", "2026-11-26 12:00", timedelta(0)),  # end before start: empty
        ("2026-11-26 17:59:59.999999", "2026-11-27 09:00:00.000001", 2 * US),
    ],
)
def test_elapsed_counts_open_time_in_half_open_interval(
    start: str, end: str, open_time: timedelta
) -> None:
    assert calendar(SH).elapsed(local(SH, start), local(SH, end)) == open_time


def test_result_is_in_the_calendars_zone_whatever_the_input_zone() -> None:
    got = calendar(SH).add(utc("2026-11-26 09:30"), H)  # 17:30 in Shanghai
    assert same_instant_and_zone(got, local(SH, "2026-11-27 09:30"))
    assert same_instant_and_zone(
        calendar(SH).add(utc("2026-11-26 12:00"), timedelta(0)), local(SH, "2026-11-26 20:00")
    )


# -- weekly windows --------------------------------------------------------------------------

LUNCH = {"mon": [("09:00", "12:00"), ("13:00", "18:00")]}
OVERLAP = {"mon": [("09:00", "12:00"), ("11:00", "14:00"), ("13:30", "13:45")]}
OVERNIGHT_MON = {"mon": [("22:00", "06:00")]}
ALL_DAY_MON = {"mon": [("09:00", "09:00")]}

# 2026-11-23 is a Monday.
WEEKLY_ADD = [
    ("lunch break is skipped", LUNCH, "2026-11-23 11:30", H, "2026-11-23 13:30"),
    ("lunch break start counts as closed", LUNCH, "2026-11-23 12:00", H, "2026-11-23 14:00"),
    ("missing weekday is closed", LUNCH, "2026-11-23 17:30", H, "2026-11-30 09:30"),
    ("overlaps count once", OVERLAP, "2026-11-23 09:00", 5 * H, "2026-11-23 14:00"),
    ("overnight past midnight", OVERNIGHT_MON, "2026-11-23 23:00", 2 * H, "2026-11-24 01:00"),
    ("overnight ends at 06:00", OVERNIGHT_MON, "2026-11-24 05:00", 2 * H, "2026-11-30 23:00"),
    ("equal bounds: 24 hours", ALL_DAY_MON, "2026-11-23 09:00", 24 * H, "2026-11-24 09:00"),
    ("24 hours then closed", ALL_DAY_MON, "2026-11-24 08:00", 2 * H, "2026-11-30 10:00"),
    ("24:00 close", {"mon": [("20:00", "24:00")]}, "2026-11-23 23:30", H, "2026-11-30 20:30"),
]


@pytest.mark.parametrize(("case", "weekly", "start", "duration", "due"), WEEKLY_ADD)
def test_weekly_windows(case: str, weekly: Any, start: str, duration: timedelta, due: str) -> None:
    cal = calendar(SH, weekly)
    assert same_instant_and_zone(cal.add(local(SH, start), duration), local(SH, due)), case


@pytest.mark.parametrize(
    ("weekly", "open_on_monday"),
    [
        (LUNCH, 8 * H),
        (OVERLAP, 5 * H),
        ({"mon": [("09:00", "18:00"), ("09:00", "18:00")]}, 9 * H),
        ({"mon": [("00:00", "24:00")]}, 24 * H),
        ({"mon": [("00:00", "00:00")]}, 24 * H),
    ],
)
def test_open_time_of_a_monday(weekly: Any, open_on_monday: timedelta) -> None:
    cal = calendar(SH, weekly)
    week = cal.elapsed(local(SH, "2026-11-22 00:00"), local(SH, "2026-11-29 00:00"))
    assert week == open_on_monday


def test_round_the_clock_loses_nothing_at_midnight() -> None:
    for weekly in (every_day(("00:00", "24:00")), every_day(("00:00", "00:00"))):
        cal = calendar(SH, weekly)
        start = local(SH, "2026-11-26 23:59:59.999999")
        assert cal.add(start, 2 * US) == local(SH, "2026-11-27 00:00:00.000001")
        assert cal.add(local(SH, "2026-11-26 23:30"), H) == local(SH, "2026-11-27 00:30")
        year = cal.elapsed(local(SH, "2026-01-01 00:00"), local(SH, "2027-01-01 00:00"))
        assert year == timedelta(days=365)


def test_round_the_clock_across_chunk_boundaries_matches_wall_time() -> None:
    # Chunks are 64 UTC days from the epoch; 2026-01-27 00:00 UTC is such a boundary.
    cal = calendar("UTC", every_day(("00:00", "24:00")))
    boundary = utc("2026-01-27 00:00")
    assert cal.add(boundary - US, 2 * US) == boundary + US
    assert cal.elapsed(boundary - 3 * H, boundary + 300 * timedelta(days=1)) == (
        3 * H + 300 * timedelta(days=1)
    )


# -- holidays and make-up workdays -----------------------------------------------------------


def test_holiday_is_closed() -> None:
    cal = calendar(SH, holidays=["2026-10-01", "2026-10-02"])
    assert cal.add(local(SH, "2026-09-30 17:30"), H) == local(SH, "2026-10-03 09:30")
    assert not cal.is_open(local(SH, "2026-10-01 12:00"))
    assert cal.next_open(local(SH, "2026-10-01 12:00")) == local(SH, "2026-10-03 09:00")


def test_holiday_removes_the_overnight_window_opening_on_it() -> None:
    # Every night 22:00-06:00; Tuesday 2026-11-24 is a holiday.
    cal = calendar(SH, every_day(("22:00", "06:00")), holidays=["2026-11-24"])
    assert cal.is_open(local(SH, "2026-11-24 03:00"))  # Monday's window runs to its close
    assert not cal.is_open(local(SH, "2026-11-24 06:00"))
    assert not cal.is_open(local(SH, "2026-11-24 23:00"))  # Tuesday's window is gone...
    assert not cal.is_open(local(SH, "2026-11-25 03:00"))  # ...after midnight too
    assert cal.is_open(local(SH, "2026-11-25 22:00"))
    assert cal.add(local(SH, "2026-11-24 05:00"), 2 * H) == local(SH, "2026-11-25 23:00")


def test_holidays_are_dates_in_the_calendars_zone() -> None:
    # 2026-10-01 00:00-08:00 in Shanghai is still 2026-09-30 in UTC: closed all the same.
    cal = calendar(SH, every_day(("00:00", "24:00")), holidays=["2026-10-01"])
    assert not cal.is_open(utc("2026-09-30 16:00"))
    assert cal.is_open(utc("2026-09-30 15:59:59.999999"))
    assert cal.next_open(utc("2026-09-30 16:00")) == local(SH, "2026-10-02 00:00")


WEEKDAYS_ONLY = {day: [("09:00", "18:00")] for day in ("mon", "tue", "wed", "thu", "fri")}


def test_make_up_workday_opens_with_its_own_hours() -> None:
    # Saturday 2026-09-26 is a make-up workday with 10:00-16:00.
    plain = calendar(SH, WEEKDAYS_ONLY)
    cal = calendar(SH, WEEKDAYS_ONLY, workdays=["2026-09-26"], workday_hours=[("10:00", "16:00")])
    friday_evening = local(SH, "2026-09-25 17:30")
    assert plain.add(friday_evening, H) == local(SH, "2026-09-28 09:30")
    assert cal.add(friday_evening, H) == local(SH, "2026-09-26 10:30")
    assert cal.add(friday_evening, 7 * H) == local(SH, "2026-09-28 09:30")


def test_make_up_workday_replaces_the_weekly_hours_of_its_date() -> None:
    cal = calendar(SH, WEEKDAYS_ONLY, workdays=["2026-09-28"], workday_hours=[("10:00", "16:00")])
    assert not cal.is_open(local(SH, "2026-09-28 09:30"))
    assert cal.elapsed(local(SH, "2026-09-28 00:00"), local(SH, "2026-09-29 00:00")) == 6 * H


def test_default_workday_hours_are_nine_to_six() -> None:
    cal = calendar(SH, WEEKDAYS_ONLY, workdays=["2026-09-26"])
    assert cal.elapsed(local(SH, "2026-09-26 00:00"), local(SH, "2026-09-27 00:00")) == 9 * H


def test_holiday_and_workday_on_one_date_is_refused() -> None:
    with pytest.raises(ValidationError, match="2026-10-01"):
        calendar(SH, holidays=["2026-10-01"], workdays=["2026-10-01"])


# -- wall-clock mode -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "start", "duration", "due"),
    [
        (SH, "2026-11-26 20:00", H, "2026-11-26 21:00"),
        (NY, "2026-03-07 12:00", 48 * H, "2026-03-09 13:00"),  # 48 real hours over spring
        (NY, "2026-10-31 12:00", 48 * H, "2026-11-02 11:00"),  # ... and over fall
        (LDN, "2026-03-29 00:30", H, "2026-03-29 02:30"),
    ],
)
def test_wallclock_counts_real_time(tz: str, start: str, duration: timedelta, due: str) -> None:
    cal = BusinessCalendar.from_spec({"tz": tz, "mode": "wallclock"})
    got = cal.add(local(tz, start), duration)
    assert same_instant_and_zone(got, local(tz, due))
    assert cal.elapsed(local(tz, start), local(tz, due)) == duration
    assert cal.is_open(local(tz, start))


def test_wallclock_ignores_windows_and_holidays() -> None:
    cal = calendar(SH, {"mon": [("09:00", "10:00")]}, mode="wallclock", holidays=["2026-11-26"])
    assert cal.add(local(SH, "2026-11-26 20:00"), H) == local(SH, "2026-11-26 21:00")


def test_ready_made_wallclock_spec() -> None:
    cal = calendar_for(WALLCLOCK)
    assert cal.zone == ZoneInfo("UTC")
    assert cal.add(local(SH, "2026-11-26 20:00"), H) == utc("2026-11-26 13:00")
    assert cal.elapsed(utc("2026-01-01 00:00"), utc("2027-01-01 00:00")) == timedelta(days=365)


# -- daylight saving time --------------------------------------------------------------------

DST_OPEN_TIME = [
    # zone, window, local date, real open time of the window opening on that date
    (NY, ("09:00", "18:00"), "2026-03-08", 9 * H),
    (NY, ("00:00", "00:00"), "2026-03-08", 23 * H),
    (NY, ("00:00", "00:00"), "2026-11-01", 25 * H),
    (NY, ("01:00", "03:00"), "2026-03-08", H),  # 01:00 EST -> 03:00 EDT
    (NY, ("01:00", "03:00"), "2026-11-01", 3 * H),  # 01:00 EDT -> 03:00 EST
    (NY, ("02:00", "03:00"), "2026-03-08", timedelta(0)),  # 02:00 read as 03:00: empty
    (NY, ("02:30", "03:00"), "2026-03-08", timedelta(0)),  # inverted by the gap: dropped
    (NY, ("02:00", "02:30"), "2026-03-08", 30 * timedelta(minutes=1)),  # 03:00-03:30 EDT
    (NY, ("01:00", "01:30"), "2026-11-01", 30 * timedelta(minutes=1)),  # first 01:00-01:30
    (NY, ("01:30", "02:00"), "2026-11-01", 90 * timedelta(minutes=1)),  # 01:30 EDT -> 02:00 EST
    (NY, ("22:00", "06:00"), "2026-03-07", 7 * H),
    (NY, ("22:00", "06:00"), "2026-10-31", 9 * H),
    (LDN, ("00:30", "01:30"), "2026-03-29", H),  # 01:30 read as GMT = 02:30 BST
    (LDN, ("01:00", "02:00"), "2026-03-29", timedelta(0)),
    (LDN, ("01:00", "02:00"), "2026-10-25", 2 * H),  # 01:00 BST -> 02:00 GMT
    (LDN, ("00:00", "24:00"), "2026-03-29", 23 * H),
    (LDN, ("00:00", "24:00"), "2026-10-25", 25 * H),
    (SH, ("00:00", "24:00"), "2026-03-08", 24 * H),
]


@pytest.mark.parametrize(("tz", "window", "day", "open_time"), DST_OPEN_TIME)
def test_dst_open_time_of_a_window(
    tz: str, window: tuple[str, str], day: str, open_time: timedelta
) -> None:
    cal = calendar(tz, every_day(window))
    # A window opens on its date and closes by the next midnight but one; measure the windows
    # of `day` alone by taking the week's total minus the same week without `day`.
    week_start = local(tz, f"{day} 00:00") - timedelta(days=3)
    week_end = week_start + timedelta(days=8)
    with_day = cal.elapsed(week_start, week_end)
    without = calendar(tz, every_day(window), holidays=[day]).elapsed(week_start, week_end)
    assert with_day - without == open_time


DST_ADD = [
    ("deadline over spring", NY, ("09:00", "18:00"), "2026-03-07 17:30", H, "2026-03-08 09:30"),
    ("gap bound moves later", NY, ("02:30", "05:00"), "2026-03-08 00:00", H, "2026-03-08 04:30"),
    ("24h window over spring", NY, ("00:00", "00:00"), "2026-03-08 01:30", H, "2026-03-08 03:30"),
    ("24h window over fall", NY, ("00:00", "00:00"), "2026-11-01 00:30", H, "2026-11-01 01:30"),
    ("London spring deadline", LDN, ("09:00", "18:00"), "2026-03-28 17:30", H, "2026-03-29 09:30"),
    (
        "London fall overnight",
        LDN,
        ("22:00", "06:00"),
        "2026-10-24 23:00",
        5 * H,
        "2026-10-25 03:00",
    ),
]


@pytest.mark.parametrize(("case", "tz", "window", "start", "duration", "due"), DST_ADD)
def test_dst_add(
    case: str, tz: str, window: tuple[str, str], start: str, duration: timedelta, due: str
) -> None:
    cal = calendar(tz, every_day(window))
    got = cal.add(local(tz, start), duration)
    assert same_instant_and_zone(got, local(tz, due)), case


def test_dst_24h_window_over_fall_lands_in_the_repeated_hour() -> None:
    cal = calendar(NY, every_day(("00:00", "00:00")))
    got = cal.add(local(NY, "2026-11-01 00:30"), 2 * H)
    assert got == local(NY, "2026-11-01 01:30", fold=1)
    assert got.fold == 1 and got.utcoffset() == -5 * H


def test_dst_second_pass_of_a_repeated_hour_is_closed() -> None:
    cal = calendar(NY, every_day(("01:00", "01:30")))
    assert cal.is_open(local(NY, "2026-11-01 01:15", fold=0))
    assert not cal.is_open(local(NY, "2026-11-01 01:15", fold=1))


def test_dst_window_emptied_by_the_gap_is_skipped() -> None:
    cal = calendar(NY, every_day(("02:00", "03:00")))
    assert cal.next_open(local(NY, "2026-03-08 00:00")) == local(NY, "2026-03-09 02:00")


# -- queries ---------------------------------------------------------------------------------


def test_is_open_and_next_open_at_the_bounds() -> None:
    cal = calendar(SH)
    assert cal.is_open(local(SH, "2026-11-26 09:00"))
    assert cal.is_open(local(SH, "2026-11-26 17:59:59.999999"))
    assert not cal.is_open(local(SH, "2026-11-26 18:00"))
    assert not cal.is_open(local(SH, "2026-11-26 08:59:59.999999"))
    assert cal.next_open(local(SH, "2026-11-26 12:00")) == local(SH, "2026-11-26 12:00")
    assert cal.next_open(local(SH, "2026-11-26 18:00")) == local(SH, "2026-11-27 09:00")
    assert cal.next_open(utc("2026-11-26 00:00")).tzinfo is ZoneInfo(SH)


# -- errors ----------------------------------------------------------------------------------


def test_calendar_without_any_hours_is_refused() -> None:
    with pytest.raises(CalendarError, match="never open"):
        BusinessCalendar.from_spec({"tz": SH})
    with pytest.raises(CalendarError, match="never open"):
        calendar(SH, {"mon": []}, workdays=["2026-09-26"], workday_hours=[])


def test_calendar_open_only_on_past_workdays_fails_after_them() -> None:
    cal = calendar(SH, {}, workdays=["2026-09-26"])
    assert cal.add(local(SH, "2026-09-01 00:00"), H) == local(SH, "2026-09-26 10:00")
    with pytest.raises(CalendarError, match="last workday is 2026-09-26"):
        cal.add(local(SH, "2026-09-26 17:30"), H)
    with pytest.raises(CalendarError, match="never opens"):
        cal.next_open(local(SH, "2030-01-01 00:00"))


def test_calendar_closed_by_years_of_holidays_fails_instead_of_looping() -> None:
    first_monday = datetime(2026, 11, 23).date()
    mondays = [first_monday + timedelta(weeks=n) for n in range(3 * 53)]
    cal = calendar(SH, {"mon": [("09:00", "18:00")]}, holidays=mondays)
    with pytest.raises(CalendarError, match="does not open within"):
        cal.add(local(SH, "2026-11-23 00:00"), H)
    with pytest.raises(CalendarError, match="does not open within"):
        cal.next_open(local(SH, "2026-11-23 00:00"))
    # The open time before the holidays start is still counted.
    assert cal.elapsed(local(SH, "2026-11-16 00:00"), local(SH, "2029-01-01 00:00")) == 9 * H


@pytest.mark.parametrize("method", ["add", "elapsed", "is_open", "next_open"])
def test_naive_datetimes_are_refused(method: str) -> None:
    cal = calendar(SH)
    naive = datetime(2026, 11, 26, 10, 0)
    args: dict[str, tuple[Any, ...]] = {
        "add": (naive, H),
        "elapsed": (local(SH, "2026-11-26 09:00"), naive),
        "is_open": (naive,),
        "next_open": (naive,),
    }
    with pytest.raises(ValueError, match="timezone-aware"):
        getattr(cal, method)(*args[method])


def test_negative_duration_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        calendar(SH).add(local(SH, "2026-11-26 10:00"), -US)


def test_invalid_spec_mapping_names_the_field() -> None:
    with pytest.raises(ValidationError, match=r"weekly\.mon\.0\.1"):
        BusinessCalendar.from_spec({"tz": SH, "weekly": {"mon": [["09:00", "25:00"]]}})


def test_calendar_for_shares_one_calendar_per_spec() -> None:
    spec = CalendarSpec(tz=SH, weekly=every_day(("09:00", "18:00")))  # type: ignore[arg-type]
    same = CalendarSpec.model_validate_json(spec.model_dump_json())
    assert same == spec and same is not spec
    assert calendar_for(same) is calendar_for(spec)
    assert calendar_for(spec.model_copy(update={"tz": NY})) is not calendar_for(spec)
