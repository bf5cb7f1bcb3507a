"""The business calendar as data: the shape shared by JSON, the TOML policy files and the CLI.

    {"tz": "Asia/Shanghai",
     "weekly": {"mon": [["09:00", "18:00"]], ..., "sun": [["09:00", "12:00"], ["13:00", "18:00"]]},
     "holidays": ["2026-10-01"], "workdays": ["2026-09-28"], "workday_hours": [["09:00", "18:00"]]}

Window bounds are local wall-clock times "HH:MM" or "HH:MM:SS". A window whose close is not
after its open ends on the next day (["22:00", "06:00"]); equal bounds mean 24 hours; "24:00"
is allowed as a close. A missing weekday is closed. On a make-up workday (调休) the windows are
`workday_hours` instead of that weekday's. With `"mode": "wallclock"` the calendar is always
open and the windows are ignored.

Only the shape is checked here; the arithmetic lives in `slamon.models.calendar.engine`. Errors are
pydantic's, so they carry the path of the offending value (e.g. `weekly.mon.0.1`).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationInfo, field_validator

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

SECONDS_PER_DAY = 86_400
_CLOCK = re.compile(r"(\d{2}):(\d{2})(?::(\d{2}))?")


def parse_clock(text: str, *, allow_end_of_day: bool = False) -> int:
    """Read a wall-clock time "HH:MM" or "HH:MM:SS" as seconds after midnight.

    "24:00" (86,400 s) is accepted only with `allow_end_of_day`, i.e. as a window's close.
    """
    match = _CLOCK.fullmatch(text)
    if match is None:
        raise ValueError(f'{text!r} is not a time of day; expected "HH:MM" or "HH:MM:SS"')
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    if minutes > 59 or seconds > 59:
        raise ValueError(f"{text!r} is not a time of day: minutes and seconds go up to 59")
    total = hours * 3600 + minutes * 60 + seconds
    if total == SECONDS_PER_DAY and allow_end_of_day:
        return total
    if hours > 23:
        limit = '"23:59:59", or "24:00" as a close' if allow_end_of_day else '"23:59:59"'
        raise ValueError(f"{text!r} is not a time of day: the latest is {limit}")
    return total


def _check_open(text: str) -> str:
    parse_clock(text)
    return text


def _check_close(text: str) -> str:
    parse_clock(text, allow_end_of_day=True)
    return text


OpenTime = Annotated[str, AfterValidator(_check_open)]
CloseTime = Annotated[str, AfterValidator(_check_close)]
Window = tuple[OpenTime, CloseTime]


class CalendarSpec(BaseModel):
    """When the SLA clock runs: a zone, weekly opening hours, holidays and make-up workdays."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tz: str
    mode: Literal["business", "wallclock"] = "business"
    weekly: dict[Weekday, list[Window]] = {}
    holidays: list[date] = []
    workdays: list[date] = []
    workday_hours: list[Window] = [("09:00", "18:00")]

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, tz: str) -> str:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"{tz!r} is not an IANA time zone name (e.g. 'Asia/Shanghai')"
            ) from exc
        return tz

    @field_validator("workdays")
    @classmethod
    def _not_also_a_holiday(cls, workdays: list[date], info: ValidationInfo) -> list[date]:
        # `holidays` is declared first, so it is validated (or missing, if invalid) by now.
        both = sorted(set(info.data.get("holidays", ())) & set(workdays))
        if both:
            listed = ", ".join(day.isoformat() for day in both)
            verb = "is" if len(both) == 1 else "are"
            raise ValueError(f"{listed} {verb} also listed in holidays; a date is one or the other")
        return workdays

    def __hash__(self) -> int:
        # Frozen, yet the fields are a dict and lists (the documented shape), which pydantic's
        # generated hash cannot take; hash a canonical tuple that agrees with `==`, so that
        # calendars can be cached by their spec.
        return hash(self.cache_key())

    def cache_key(self) -> tuple[Any, ...]:
        """A hashable value equal for equal specs (weekday order does not matter)."""
        weekly = tuple(
            (day, tuple(tuple(window) for window in self.weekly[day]))
            for day in WEEKDAYS
            if day in self.weekly
        )
        return (
            self.tz,
            self.mode,
            weekly,
            tuple(self.holidays),
            tuple(self.workdays),
            tuple(tuple(window) for window in self.workday_hours),
        )


WALLCLOCK = CalendarSpec(tz="UTC", mode="wallclock")
"""Always open: plain elapsed time."""
