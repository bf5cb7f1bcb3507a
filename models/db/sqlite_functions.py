"""Functions SQLite lacks and the read models use, registered on every SQLite connection.

Postgres computes the same figures natively (``AT TIME ZONE``, ``EXTRACT(EPOCH …)``,
``percentile_cont``); :mod:`slamon.models.db.report_sql` compiles one expression to either.
The Python versions follow Postgres's arithmetic step by step, so both databases give the
same floats, not merely close ones (tests/integration/test_reports.py compares them):

* seconds between two instants: the exact microsecond difference divided by 10**6, which is
  the double nearest the exact value, as Postgres's ``numeric → float8`` cast gives;
* ``percentile_cont``: rows ``floor(f·(n-1))`` and ``ceil(f·(n-1))`` of the sorted values,
  interpolated as ``lo + (f·(n-1) - floor) · (hi - lo)`` (Postgres's ``float8_lerp``).

SQLite stores an instant as naive UTC text (:class:`slamon.models.db.types.UTCDateTime`).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

_MICROSECOND = timedelta(microseconds=1)


def register(dbapi_connection: Any, _record: Any = None) -> None:
    """Add the functions to one sqlite3 connection (a ``connect`` event listener)."""
    create = dbapi_connection.create_function
    create("slamon_seconds_between", 2, seconds_between, deterministic=True)
    create("slamon_local_day", 2, local_day, deterministic=True)
    create("slamon_local_week", 2, local_week, deterministic=True)
    dbapi_connection.create_aggregate("slamon_percentile_cont", 2, PercentileCont)


def _instant(stored: str) -> datetime:
    return datetime.fromisoformat(stored).replace(tzinfo=UTC)


def seconds_between(start: str | None, end: str | None) -> float | None:
    """``end - start`` in seconds (None if either is NULL)."""
    if start is None or end is None:
        return None
    return ((_instant(end) - _instant(start)) // _MICROSECOND) / 1_000_000


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _local_date(stored: str, zone: str) -> date:
    return _instant(stored).astimezone(_zone(zone)).date()


def local_day(stored: str | None, zone: str) -> str | None:
    """The calendar day of an instant in ``zone``, as ``YYYY-MM-DD``."""
    return None if stored is None else _local_date(stored, zone).isoformat()


def local_week(stored: str | None, zone: str) -> str | None:
    """The Monday starting the ISO week of an instant in ``zone``, as ``YYYY-MM-DD``."""
    if stored is None:
        return None
    day = _local_date(stored, zone)
    return (day - timedelta(days=day.weekday())).isoformat()


def percentile_cont(values: list[float], fraction: float) -> float | None:
    """Postgres's ``percentile_cont(fraction) WITHIN GROUP (ORDER BY value)``."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    first, second = math.floor(position), math.ceil(position)
    low = ordered[first]
    if first == second:
        return low
    return low + (position - first) * (ordered[second] - low)


class PercentileCont:
    """``slamon_percentile_cont(value, fraction)``: the aggregate form; NULL values are
    skipped, as Postgres skips them."""

    def __init__(self) -> None:
        self.values: list[float] = []
        self.fraction: float | None = None

    def step(self, value: float | None, fraction: float) -> None:
        self.fraction = fraction
        if value is not None:
            self.values.append(float(value))

    def finalize(self) -> float | None:
        if self.fraction is None:
            return None
        return percentile_cont(self.values, self.fraction)
