"""A slow, obviously correct business calendar, to check `slamon.models.calendar.engine` against.

It shares no code with the engine: each rule of the spec is read the plainest way, with
`zoneinfo` doing every conversion, and time is walked one minute at a time. It is exact only on
the minute grid (instants and durations in whole UTC minutes, window bounds in whole minutes,
zones with whole-minute offsets), where being open is constant over each minute.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from slamon.models.calendar.spec import CalendarSpec, Weekday

MINUTE = timedelta(minutes=1)
DAY_NAMES: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class WalkTooLong(Exception):
    """The walk would take more steps than the caller allowed."""


def _seconds(text: str) -> int:
    parts = [int(part) for part in text.split(":")] + [0]
    return parts[0] * 3600 + parts[1] * 60 + parts[2]


class ReferenceCalendar:
    def __init__(self, spec: CalendarSpec) -> None:
        self.spec = spec
        self.zone = ZoneInfo(spec.tz)

    def _local_instant(self, day: date, seconds: int) -> datetime:
        """Wall-clock `seconds` after the start of `day` (86,400 = next midnight), fold=0."""
        day += timedelta(days=seconds // 86_400)
        seconds %= 86_400
        wall = datetime(day.year, day.month, day.day, seconds // 3600, seconds // 60 % 60)
        return wall.replace(second=seconds % 60, tzinfo=self.zone).astimezone(UTC)

    @functools.cache  # noqa: B019 -- a test helper; the instances live as long as a test
    def windows_opening_on(self, day: date) -> list[tuple[datetime, datetime]]:
        """The windows that open on local date `day`, as UTC [open, close) pairs."""
        if day in self.spec.holidays:
            return []
        if day in self.spec.workdays:
            pairs = self.spec.workday_hours
        else:
            pairs = self.spec.weekly.get(DAY_NAMES[day.weekday()], [])
        windows = []
        for open_text, close_text in pairs:
            opens, closes = _seconds(open_text), _seconds(close_text)
            if closes <= opens:  # overnight, or 24 hours when equal
                closes += 86_400
            start = self._local_instant(day, opens)
            end = self._local_instant(day, closes)
            if start < end:  # else the DST gap emptied it
                windows.append((start, end))
        return windows

    def is_open(self, at: datetime) -> bool:
        if self.spec.mode == "wallclock":
            return True
        local_day = at.astimezone(self.zone).date()
        # A window opens on its date and closes by the second midnight after it.
        for back in range(3):
            for start, end in self.windows_opening_on(local_day - timedelta(days=back)):
                if start <= at < end:
                    return True
        return False

    def add(self, start: datetime, duration: timedelta, max_steps: int) -> datetime:
        """Walk minute by minute, counting the open ones, until `duration` is counted."""
        at, left = start, duration
        for _ in range(max_steps):
            if left <= timedelta(0):
                return at
            if self.is_open(at):
                left -= MINUTE
            at += MINUTE
        raise WalkTooLong

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        total = timedelta(0)
        at = start
        while at < end:
            if self.is_open(at):
                total += MINUTE
            at += MINUTE
        return total

    def next_open(self, at: datetime, max_steps: int) -> datetime:
        for _ in range(max_steps):
            if self.is_open(at):
                return at
            at += MINUTE
        raise WalkTooLong
