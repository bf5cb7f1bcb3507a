"""Property tests of the business calendar: algebraic laws, and agreement with a slow reference.

Calendars are random (several windows a day, overnight and 24-hour windows, "24:00" closes,
holidays, make-up workdays) in zones with DST, including a 30-minute DST (Lord Howe) and one
that changes at midnight (Santiago), and instants cluster around each zone's 2026 changes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from slamon.models.calendar.engine import BusinessCalendar
from slamon.models.calendar.spec import WEEKDAYS, CalendarSpec
from tests.unit.calendar_reference import MINUTE, ReferenceCalendar, WalkTooLong

US = timedelta(microseconds=1)


def utc(at: datetime) -> datetime:
    """The instant in UTC. Compare instants this way: `==` between zones (PEP 495) is False
    whenever one side is a wall time in a repeated hour, even for the same instant."""
    return at.astimezone(UTC)


# Each zone with dates on or next to its 2026 DST changes (any date will do for Shanghai/UTC).
DST_DATES = {
    "Asia/Shanghai": [date(2026, 3, 8), date(2026, 11, 26)],
    "UTC": [date(2026, 1, 1)],
    "America/New_York": [date(2026, 3, 8), date(2026, 11, 1)],
    "Europe/London": [date(2026, 3, 29), date(2026, 10, 25)],
    "Australia/Lord_Howe": [date(2026, 4, 5), date(2026, 10, 4)],
    "America/Santiago": [date(2026, 4, 5), date(2026, 9, 6)],
}


def clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


# Bounds mostly on the half hour, so that they often fall on DST changes, sometimes any minute.
minutes_of_day = st.one_of(st.integers(0, 47).map(lambda half: half * 30), st.integers(0, 1439))
window = st.tuples(
    minutes_of_day.map(clock),
    st.one_of(minutes_of_day, st.just(1440)).map(clock),  # 1440 is "24:00"
)


@st.composite
def calendars(draw: st.DrawFn) -> tuple[dict[str, Any], date]:
    """A calendar spec (as JSON data) that opens at least weekly, and a date to test near."""
    tz = draw(st.sampled_from(sorted(DST_DATES)))
    anchor = draw(st.sampled_from(DST_DATES[tz]))
    weekly = draw(
        st.dictionaries(st.sampled_from(WEEKDAYS), st.lists(window, max_size=3), min_size=1)
    )
    assume(any(weekly.values()))
    near = st.integers(-4, 6).map(lambda days: anchor + timedelta(days=days))
    holidays = draw(st.lists(near, max_size=3, unique=True))
    workdays = draw(st.lists(near.filter(lambda day: day not in holidays), max_size=2))
    spec = {
        "tz": tz,
        "mode": draw(st.sampled_from(["business"] * 9 + ["wallclock"])),
        "weekly": weekly,
        "holidays": [day.isoformat() for day in holidays],
        "workdays": [day.isoformat() for day in workdays],
        "workday_hours": draw(st.lists(window, max_size=2)),
    }
    return spec, anchor


def minute_instants(anchor: date) -> st.SearchStrategy[datetime]:
    """Whole UTC minutes from two days before `anchor` to four days after."""
    midnight = datetime(anchor.year, anchor.month, anchor.day, tzinfo=UTC)
    return st.integers(-2 * 1440, 4 * 1440).map(lambda minutes: midnight + minutes * MINUTE)


def instants(anchor: date) -> st.SearchStrategy[datetime]:
    """Any microsecond from a year before `anchor` to a year after, as UTC or local time."""
    midnight = datetime(anchor.year, anchor.month, anchor.day, tzinfo=UTC)
    year = timedelta(days=366) // US
    return st.integers(-year, year).map(lambda us: midnight + us * US)


durations = st.one_of(
    st.integers(0, 10 * 3600 * 10**6),  # up to ten hours
    st.integers(0, 40 * 24 * 3600 * 10**6),  # up to forty days
    st.sampled_from([0, 1, 60 * 10**6, 3600 * 10**6]),
).map(lambda us: us * US)

# -- laws, at microsecond resolution -----------------------------------------------------------


@st.composite
def calendar_and_instants(draw: st.DrawFn, count: int) -> tuple[BusinessCalendar, list[datetime]]:
    spec, anchor = draw(calendars())
    cal = BusinessCalendar.from_spec(spec)
    zone_or_utc = st.sampled_from([UTC, cal.zone])
    return cal, [draw(instants(anchor)).astimezone(draw(zone_or_utc)) for _ in range(count)]


LAWS = settings(max_examples=150, deadline=None)


@LAWS
@given(calendar_and_instants(1), durations)
def test_elapsed_inverts_add(case: tuple[BusinessCalendar, list[datetime]], d: timedelta) -> None:
    cal, [s] = case
    due = cal.add(s, d)
    assert due >= s
    assert due.tzinfo is cal.zone
    assert cal.elapsed(s, due) == d
    if d:
        # The last microsecond counted was open, so no earlier instant would do. Step back in
        # UTC: aware "due - US" is wall-clock arithmetic and jumps an hour in a DST fold.
        assert cal.is_open(utc(due) - US)
    else:
        assert utc(due) == utc(s)


@LAWS
@given(calendar_and_instants(1), durations, durations)
def test_add_is_additive(
    case: tuple[BusinessCalendar, list[datetime]], a: timedelta, b: timedelta
) -> None:
    cal, [s] = case
    assert utc(cal.add(cal.add(s, a), b)) == utc(cal.add(s, a + b))


@LAWS
@given(calendar_and_instants(2), durations, durations)
def test_add_is_monotonic(
    case: tuple[BusinessCalendar, list[datetime]], a: timedelta, b: timedelta
) -> None:
    cal, [s, t] = case
    s, t = min(s, t), max(s, t)
    a, b = min(a, b), max(a, b)
    assert cal.add(s, a) <= cal.add(t, a)
    assert cal.add(s, a) <= cal.add(s, b)


@LAWS
@given(calendar_and_instants(3))
def test_elapsed_is_additive_and_bounded(case: tuple[BusinessCalendar, list[datetime]]) -> None:
    cal, points = case
    a, b, c = sorted(points)
    assert cal.elapsed(a, b) + cal.elapsed(b, c) == cal.elapsed(a, c)
    assert timedelta(0) <= cal.elapsed(a, b) <= b - a
    assert cal.elapsed(b, a) == timedelta(0)  # [b, a) is empty


@LAWS
@given(calendar_and_instants(2))
def test_add_of_elapsed_returns_to_the_last_open_instant(
    case: tuple[BusinessCalendar, list[datetime]],
) -> None:
    cal, points = case
    s, t = sorted(points)
    back = cal.add(s, cal.elapsed(s, t))
    assert s <= back <= t
    assert cal.elapsed(back, t) == timedelta(0)
    if t > s and cal.is_open(utc(t) - US):
        assert utc(back) == utc(t)


@LAWS
@given(calendar_and_instants(1))
def test_next_open(case: tuple[BusinessCalendar, list[datetime]]) -> None:
    cal, [t] = case
    opening = cal.next_open(t)
    assert opening >= t
    assert cal.is_open(opening)
    assert cal.elapsed(t, opening) == timedelta(0)
    assert (utc(opening) == utc(t)) == cal.is_open(t)


# -- agreement with the reference, on the minute grid --------------------------------------------

REFERENCE = settings(max_examples=120, deadline=None)
MAX_WALK = 10 * 1440  # minutes


@st.composite
def reference_case(draw: st.DrawFn) -> tuple[BusinessCalendar, ReferenceCalendar, date]:
    spec, anchor = draw(calendars())
    validated = CalendarSpec.model_validate(spec)
    return BusinessCalendar.from_spec(validated), ReferenceCalendar(validated), anchor


@REFERENCE
@given(reference_case(), st.data())
def test_add_agrees_with_reference(
    case: tuple[BusinessCalendar, ReferenceCalendar, date], data: st.DataObject
) -> None:
    cal, ref, anchor = case
    s = data.draw(minute_instants(anchor))
    d = data.draw(st.integers(0, 8 * 60)) * MINUTE
    try:
        want = ref.add(s, d, max_steps=MAX_WALK)
    except WalkTooLong:
        assume(False)
    assert utc(cal.add(s, d)) == want


@REFERENCE
@given(reference_case(), st.data())
def test_elapsed_and_next_open_agree_with_reference(
    case: tuple[BusinessCalendar, ReferenceCalendar, date], data: st.DataObject
) -> None:
    cal, ref, anchor = case
    s = data.draw(minute_instants(anchor))
    t = s + data.draw(st.integers(0, 2 * 1440)) * MINUTE
    assert cal.elapsed(s, t) == ref.elapsed(s, t)
    try:
        want = ref.next_open(s, max_steps=MAX_WALK)
    except WalkTooLong:
        assume(False)
    assert utc(cal.next_open(s)) == want


@REFERENCE
@given(reference_case(), st.data())
def test_is_open_agrees_with_reference_at_any_microsecond(
    case: tuple[BusinessCalendar, ReferenceCalendar, date], data: st.DataObject
) -> None:
    cal, ref, anchor = case
    midnight = datetime(anchor.year, anchor.month, anchor.day, tzinfo=UTC)
    for _ in range(20):
        offset = data.draw(st.integers(-2 * 86_400 * 10**6, 4 * 86_400 * 10**6))
        at = midnight + offset * US
        assert cal.is_open(at) == ref.is_open(at)
