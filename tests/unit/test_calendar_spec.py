"""The calendar spec: its shape, its defaults, and errors that name the offending field."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from slamon.models.calendar.spec import WALLCLOCK, CalendarSpec, parse_clock

TMALL = {
    "tz": "Asia/Shanghai",
    "weekly": {"mon": [["09:00", "18:00"]], "sun": [["09:00", "12:00"], ["13:00", "18:00"]]},
    "holidays": ["2026-10-01"],
    "workdays": ["2026-09-28"],
    "workday_hours": [["09:00", "18:00"]],
}


def error_of(data: dict[str, Any]) -> tuple[str, str]:
    """(dotted path, message) of the single validation error of `data`."""
    with pytest.raises(ValidationError) as caught:
        CalendarSpec.model_validate(data)
    [error] = caught.value.errors()
    return ".".join(str(part) for part in error["loc"]), error["msg"]


def test_the_documented_json_shape_is_accepted() -> None:
    spec = CalendarSpec.model_validate(TMALL)
    assert spec.tz == "Asia/Shanghai"
    assert spec.mode == "business"
    assert spec.weekly["sun"] == [("09:00", "12:00"), ("13:00", "18:00")]
    assert spec.holidays == [date(2026, 10, 1)]
    assert spec.workdays == [date(2026, 9, 28)]


def test_defaults() -> None:
    spec = CalendarSpec(tz="UTC")
    assert (spec.mode, spec.weekly, spec.holidays, spec.workdays) == ("business", {}, [], [])
    assert spec.workday_hours == [("09:00", "18:00")]
    assert WALLCLOCK.mode == "wallclock" and WALLCLOCK.tz == "UTC"


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        ({"tz": "Asia/Beijing"}, "tz", "not an IANA time zone"),
        ({"tz": "../etc/passwd"}, "tz", "not an IANA time zone"),
        ({"mode": "24x7"}, "mode", "'business' or 'wallclock'"),
        ({"weekly": {"monday": [["09:00", "18:00"]]}}, "weekly.monday.[key]", "'mon'"),
        ({"weekly": {"mon": [["9:00", "18:00"]]}}, "weekly.mon.0.0", '"HH:MM" or "HH:MM:SS"'),
        ({"weekly": {"mon": [["09:00", "18:60"]]}}, "weekly.mon.0.1", "up to 59"),
        ({"weekly": {"mon": [["24:00", "06:00"]]}}, "weekly.mon.0.0", 'the latest is "23:59:59"'),
        ({"weekly": {"mon": [["09:00", "24:01"]]}}, "weekly.mon.0.1", '"24:00" as a close'),
        ({"weekly": {"tue": [["09:00", "18:00", "x"]]}}, "weekly.tue.0", "at most 2 items"),
        ({"workday_hours": [["09:00", "25:00"]]}, "workday_hours.0.1", "24:00"),
        ({"holidays": ["2026-02-30"]}, "holidays.0", "date"),
        ({"workdays": ["2026-10-01"]}, "workdays", "2026-10-01 is also listed in holidays"),
        ({"colour": "red"}, "colour", "Extra inputs are not permitted"),
    ],
)
def test_errors_name_the_field_path(change: dict[str, Any], path: str, message: str) -> None:
    got_path, got_message = error_of(TMALL | change)
    assert got_path == path
    assert message in got_message


def test_all_dates_both_holiday_and_workday_are_named() -> None:
    data = TMALL | {
        "holidays": ["2026-10-01", "2026-10-02"],
        "workdays": ["2026-10-02", "2026-10-01"],
    }
    assert "2026-10-01, 2026-10-02 are also listed in holidays" in error_of(data)[1]


@pytest.mark.parametrize(
    ("text", "end_of_day", "seconds"),
    [
        ("00:00", False, 0),
        ("09:30", False, 9 * 3600 + 1800),
        ("23:59:59", False, 86_399),
        ("24:00", True, 86_400),
        ("24:00:00", True, 86_400),
    ],
)
def test_parse_clock(text: str, end_of_day: bool, seconds: int) -> None:
    assert parse_clock(text, allow_end_of_day=end_of_day) == seconds


@pytest.mark.parametrize("text", ["24:00", "9:00", "09:00:00.5", " 09:00", "0900", "12:30:60"])
def test_parse_clock_refuses(text: str) -> None:
    with pytest.raises(ValueError, match=repr(text).replace(".", r"\.")):
        parse_clock(text)


def test_spec_is_frozen() -> None:
    spec = CalendarSpec.model_validate(TMALL)
    with pytest.raises(ValidationError, match="frozen"):
        spec.tz = "UTC"  # type: ignore[misc]


def test_equal_specs_hash_alike_whatever_the_weekday_order() -> None:
    spec = CalendarSpec.model_validate(TMALL)
    reordered = CalendarSpec.model_validate(
        TMALL | {"weekly": dict(reversed(TMALL["weekly"].items()))}
    )
    assert reordered == spec and hash(reordered) == hash(spec)
    assert len({spec, reordered, WALLCLOCK}) == 2


def test_json_round_trip() -> None:
    spec = CalendarSpec.model_validate(TMALL)
    assert CalendarSpec.model_validate_json(spec.model_dump_json()) == spec
