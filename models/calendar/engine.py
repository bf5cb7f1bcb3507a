"""Business time: when the SLA clock runs, and how far it has run.

A `BusinessCalendar` answers four questions about aware instants: is the calendar open at an
instant, when it next opens, which instant a duration of open time ends at (`add`), and how
much open time lies between two instants (`elapsed`). Deadlines are computed with `add`;
"how much of the allowance is used" with `elapsed`.

Rules (see `slamon.models.calendar.spec` for the shape):
- Window bounds are local wall-clock times, turned into instants one by one with `zoneinfo`
  and `fold=0`: a bound in a fall-back overlap is its first occurrence, a bound in a
  spring-forward gap is read with the offset before the gap (so it moves later by the gap's
  length), as RFC 5545 §3.3.5 does. A window left empty (or inverted) by that is dropped.
  Each bound gets the offset of its own instant, never "today's" offset.
- A window belongs to the local date it opens on. A holiday removes the windows opening on
  it, including their after-midnight part; an overnight window that opened the evening before
  a holiday runs to its close. On a make-up workday the windows are `workday_hours`.
- Overlapping or touching windows count once.

How it is fast (~1-3 µs a call): instants are integer microseconds since the Unix epoch, so
arithmetic is exact and cheap. Time is cut into fixed chunks of `_CHUNK_DAYS` UTC days; the
open intervals of a chunk are materialized once, lazily, as sorted integer pairs with prefix
sums of open time, and each query bisects them. The cost of a query is a couple of bisects
plus one step per chunk crossed.
"""

from __future__ import annotations

import functools
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from slamon.models.calendar.spec import WEEKDAYS, CalendarSpec, parse_clock

__all__ = ["BusinessCalendar", "CalendarError", "calendar_for"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = EPOCH.date().toordinal()
_MICROSECOND = timedelta(microseconds=1)
_ZERO = timedelta(0)
_US_PER_SECOND = 1_000_000
_US_PER_DAY = 86_400 * _US_PER_SECOND

_CHUNK_DAYS = 64
_CHUNK_US = _CHUNK_DAYS * _US_PER_DAY
# How long a search may find nothing open before the calendar is declared never open again.
_MAX_CLOSED_DAYS = 2 * 366
_MAX_CLOSED_CHUNKS = -(-_MAX_CLOSED_DAYS // _CHUNK_DAYS)
# Enough chunks for 180 years of queries (~10 kB each); beyond it the cache starts again.
_MAX_CACHED_CHUNKS = 1024
# Margins of local dates whose windows may reach into a chunk: a window opens at or after its
# date's local midnight and closes by the second local midnight after it, and a zone's offset
# is under a day.
_DATES_BEFORE = 3
_DATES_AFTER = 2
_FIRST_ORDINAL = date.min.toordinal() + _DATES_BEFORE
_LAST_ORDINAL = date.max.toordinal() - _DATES_AFTER


class CalendarError(ValueError):
    """The calendar cannot answer: it never opens (again), or the result is out of range."""


class _Bound(NamedTuple):
    """A window bound as wall-clock time on the window's date plus `days`."""

    days: int
    hour: int
    minute: int
    second: int


class _Window(NamedTuple):
    open: _Bound
    close: _Bound


class _Chunk(NamedTuple):
    """Open intervals [starts[i], ends[i]) of one chunk, with the open time before and through
    each interval, counted from the chunk's start."""

    starts: list[int]
    ends: list[int]
    before: list[int]
    through: list[int]
    total: int


def _bound(seconds: int, days: int = 0) -> _Bound:
    days, seconds = days + seconds // 86_400, seconds % 86_400
    return _Bound(days, seconds // 3600, seconds // 60 % 60, seconds % 60)


def _window(opens: str, closes: str) -> _Window:
    open_s = parse_clock(opens)
    close_s = parse_clock(closes, allow_end_of_day=True)
    # A close at or before the open is on the next day: ["22:00","06:00"] runs overnight and
    # equal bounds mean 24 hours.
    return _Window(_bound(open_s), _bound(close_s, days=0 if close_s > open_s else 1))


def _windows(pairs: Sequence[tuple[str, str]]) -> tuple[_Window, ...]:
    return tuple(_window(opens, closes) for opens, closes in pairs)


def _merge(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Union of intervals: overlapping or touching ones become one."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


class BusinessCalendar:
    """Open time of one calendar spec, in exact microseconds. Build with `from_spec`."""

    __slots__ = (
        "_chunks",
        "_closed_after",
        "_holidays",
        "_local_epoch",
        "_spec",
        "_wallclock",
        "_weekly",
        "_workday_windows",
        "_workdays",
        "_zone",
    )

    def __init__(self, spec: CalendarSpec) -> None:
        self._spec = spec
        self._zone = ZoneInfo(spec.tz)
        self._local_epoch = EPOCH.replace(tzinfo=self._zone)
        self._wallclock = spec.mode == "wallclock"
        self._weekly = tuple(_windows(spec.weekly.get(day, ())) for day in WEEKDAYS)
        self._holidays = frozenset(spec.holidays)
        self._workdays = frozenset(spec.workdays)
        self._workday_windows = _windows(spec.workday_hours)
        self._chunks: dict[int, _Chunk] = {}
        # With no weekly hours, nothing opens after the last make-up workday: past this instant
        # a search for an opening fails at once instead of scanning.
        self._closed_after: int | None = None
        if not self._wallclock and not any(self._weekly):
            if not self._workdays or not self._workday_windows:
                raise CalendarError(
                    "the calendar is never open: it has no weekly hours and no workdays "
                    '(give "weekly" windows, or "mode": "wallclock")'
                )
            last = max(self._workdays).toordinal() + _DATES_AFTER + 1
            self._closed_after = (last - _EPOCH_ORDINAL) * _US_PER_DAY

    @classmethod
    def from_spec(cls, spec: CalendarSpec | Mapping[str, Any]) -> BusinessCalendar:
        """Build a calendar from a spec or its JSON/TOML mapping (validated here)."""
        if not isinstance(spec, CalendarSpec):
            spec = CalendarSpec.model_validate(spec)
        return cls(spec)

    @property
    def zone(self) -> ZoneInfo:
        """The calendar's zone: window bounds and holidays are read in it; results are in it."""
        return self._zone

    @property
    def spec(self) -> CalendarSpec:
        return self._spec

    def __repr__(self) -> str:
        return f"BusinessCalendar({self._spec!r})"

    # -- queries ---------------------------------------------------------------------------

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The earliest instant T >= start such that `duration` of open time lies in [start, T).

        So `add(s, 0) == s`, a closed start counts from the next opening, and a deadline that
        lands exactly on a closing time is that closing time.

        1. Find the open time already used in `start`'s chunk before `start` (bisect).
        2. The target is that plus `duration`; while it exceeds the chunk's open time, carry the
           remainder into the next chunk that has any open time.
        3. Bisect the prefix sums for the first interval whose cumulative open time reaches
           the target; the deadline lies that far before the interval's end.
        """
        at = self._to_us(start, "start")
        wanted = self._duration_us(duration)
        if not wanted:
            return start.astimezone(self._zone)
        index = at // _CHUNK_US
        chunk = self._chunk(index)
        target = self._open_before(chunk, at) + wanted
        while target > chunk.total:
            target -= chunk.total
            index, chunk = self._next_open_chunk(index, start)
        i = bisect_left(chunk.through, target)
        return self._to_datetime(chunk.ends[i] - (chunk.through[i] - target))

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Open time in [start, end), in real (not wall-clock) time; zero if end <= start."""
        a = self._to_us(start, "start")
        b = self._to_us(end, "end")
        if b <= a:
            return _ZERO
        first, last = a // _CHUNK_US, b // _CHUNK_US
        chunk = self._chunk(first)
        if first == last:
            used = self._open_before(chunk, b) - self._open_before(chunk, a)
        else:
            used = chunk.total - self._open_before(chunk, a)
            used += sum(self._chunk(index).total for index in range(first + 1, last))
            used += self._open_before(self._chunk(last), b)
        return timedelta(microseconds=used)

    def is_open(self, at: datetime) -> bool:
        """Whether the clock runs at `at` (windows are half-open: a closing time is closed)."""
        us = self._to_us(at, "at")
        chunk = self._chunk(us // _CHUNK_US)
        i = bisect_right(chunk.ends, us)
        return i < len(chunk.starts) and chunk.starts[i] <= us

    def next_open(self, at: datetime) -> datetime:
        """`at` itself (in the calendar's zone) if open, else the next opening."""
        us = self._to_us(at, "at")
        index = us // _CHUNK_US
        chunk = self._chunk(index)
        i = bisect_right(chunk.ends, us)
        if i < len(chunk.starts):
            return self._to_datetime(max(us, chunk.starts[i]))
        _, chunk = self._next_open_chunk(index, at)
        return self._to_datetime(chunk.starts[0])

    # -- internals -------------------------------------------------------------------------

    @staticmethod
    def _to_us(at: datetime, name: str) -> int:
        try:
            return (at - EPOCH) // _MICROSECOND
        except TypeError:
            if not isinstance(at, datetime):
                raise TypeError(f"{name} must be a datetime, not {type(at).__name__}") from None
            raise ValueError(
                f"{name} must be timezone-aware (got naive {at.isoformat()})"
            ) from None

    @staticmethod
    def _duration_us(duration: timedelta) -> int:
        wanted = duration // _MICROSECOND
        if wanted < 0:
            raise ValueError(f"duration must not be negative (got {duration})")
        return wanted

    def _to_datetime(self, us: int) -> datetime:
        # Same as `(EPOCH + timedelta(microseconds=us)).astimezone(zone)`, a third faster: the
        # wall fields of `_local_epoch + delta` are the UTC fields, which `fromutc` converts.
        try:
            return self._zone.fromutc(self._local_epoch + timedelta(microseconds=us))
        except OverflowError:
            raise CalendarError("the result falls outside the years 1-9999") from None

    @staticmethod
    def _open_before(chunk: _Chunk, us: int) -> int:
        """Open time in the chunk before the instant `us` (which lies in the chunk)."""
        i = bisect_right(chunk.ends, us)
        if i == len(chunk.starts):
            return chunk.total
        start = chunk.starts[i]
        return chunk.before[i] + (us - start if us > start else 0)

    def _next_open_chunk(self, index: int, since: datetime) -> tuple[int, _Chunk]:
        """The first chunk after `index` with any open time; bounded, so it never loops."""
        for _ in range(_MAX_CLOSED_CHUNKS):
            index += 1
            if self._closed_after is not None and index * _CHUNK_US >= self._closed_after:
                last = max(self._workdays).isoformat()
                raise CalendarError(
                    f"the calendar never opens after {since.isoformat()}: it has no weekly "
                    f"hours and its last workday is {last}"
                )
            chunk = self._chunk(index)
            if chunk.total:
                return index, chunk
        raise CalendarError(
            f"the calendar does not open within {_MAX_CLOSED_DAYS} days after "
            f"{since.isoformat()}; check its weekly hours and holidays"
        )

    def _chunk(self, index: int) -> _Chunk:
        # Safe to share between threads: a chunk is immutable once stored, and two threads
        # that build the same chunk at once build equal ones.
        chunk = self._chunks.get(index)
        if chunk is None:
            if len(self._chunks) >= _MAX_CACHED_CHUNKS:
                self._chunks.clear()
            chunk = self._chunks[index] = self._build_chunk(index)
        return chunk

    def _build_chunk(self, index: int) -> _Chunk:
        """Materialize the open intervals of chunk `index`, i.e. of [lo, hi) in epoch µs.

        1. List the local dates whose windows can reach into [lo, hi) (see the margins).
        2. Turn each window opening on those dates into an interval of instants.
        3. Merge overlaps, clip to [lo, hi), and accumulate the prefix sums of open time.
        """
        lo, hi = index * _CHUNK_US, (index + 1) * _CHUNK_US
        if self._wallclock:
            intervals = [(lo, hi)]
        else:
            first = max(_EPOCH_ORDINAL + lo // _US_PER_DAY - _DATES_BEFORE, _FIRST_ORDINAL)
            last = min(_EPOCH_ORDINAL + hi // _US_PER_DAY + _DATES_AFTER, _LAST_ORDINAL)
            days = (date.fromordinal(ordinal) for ordinal in range(first, last + 1))
            intervals = [
                (max(start, lo), min(end, hi))
                for start, end in _merge([iv for day in days for iv in self._intervals_on(day)])
                if start < hi and end > lo
            ]
        starts: list[int] = []
        ends: list[int] = []
        before: list[int] = []
        through: list[int] = []
        total = 0
        for start, end in intervals:
            starts.append(start)
            ends.append(end)
            before.append(total)
            total += end - start
            through.append(total)
        return _Chunk(starts, ends, before, through, total)

    def _intervals_on(self, day: date) -> Iterator[tuple[int, int]]:
        """The open intervals of the windows that open on local date `day`, in epoch µs."""
        if day in self._holidays:
            return
        windows = self._workday_windows if day in self._workdays else self._weekly[day.weekday()]
        for window in windows:
            start = self._instant(day, window.open)
            end = self._instant(day, window.close)
            # A bound moved by a spring-forward gap can leave a window empty or inverted.
            if end > start:
                yield start, end

    def _instant(self, day: date, bound: _Bound) -> int:
        # fold=0 (the default) is exactly the DST reading the rules ask for, per bound.
        if bound.days:
            day += timedelta(days=bound.days)
        local = datetime(
            day.year,
            day.month,
            day.day,
            bound.hour,
            bound.minute,
            bound.second,
            tzinfo=self._zone,
        )
        return (local - EPOCH) // _MICROSECOND


@functools.lru_cache(maxsize=256)
def _calendar_for_equal(spec: CalendarSpec) -> BusinessCalendar:
    return BusinessCalendar.from_spec(spec)


# The same spec object (a loaded policy's) is asked for on every case planned; hashing a spec
# builds its canonical key, which cost ~20 % of ingest time, so look it up by identity first.
# The entry keeps the spec alive, so its id cannot be reused while it is cached.
_by_identity: dict[int, tuple[CalendarSpec, BusinessCalendar]] = {}


def calendar_for(spec: CalendarSpec) -> BusinessCalendar:
    """The calendar of a spec, shared: specs are frozen and hashable, and calendars keep their
    materialized chunks, so callers should go through here rather than build their own."""
    entry = _by_identity.get(id(spec))
    if entry is not None and entry[0] is spec:
        return entry[1]
    calendar = _calendar_for_equal(spec)
    if len(_by_identity) >= 256:
        _by_identity.clear()
    _by_identity[id(spec)] = (spec, calendar)
    return calendar
