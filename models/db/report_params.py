"""A report request as people write it (query string, command-line options) → ReportQuery.

Shared by ``GET /v1/reports/{dimension}`` and ``slamon report`` so both accept the same
words and refuse the same mistakes, each with the parameter's name:

* ``since`` / ``until``: an ISO-8601 instant with its offset, or a date (``2026-11-26``,
  midnight in ``tz``); default the 30 days up to now;
* ``sort``: a figure's name, ``order``: ``asc`` | ``desc``; ``limit``, ``offset``;
* ``tz``: the zone of the day and week keys and of the printed instants;
* ``merchant``, ``provider``, ``city``, ``category``, ``policy``: only that group's cases.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from slamon.models.db.reports import DIMENSIONS, ReportError, ReportQuery

DEFAULT_PERIOD = timedelta(days=30)
FILTERS = ("merchant", "provider", "city", "category", "policy")
PARAMETERS = ("since", "until", "sort", "order", "limit", "offset", "tz", *FILTERS)
DEFAULT_LIMIT = 50
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def report_query(
    dimension: str,
    params: Mapping[str, str],
    *,
    now: datetime,
    default_zone: ZoneInfo,
    max_days: int,
    max_limit: int,
) -> ReportQuery:
    """The validated query; ReportError names the first parameter at fault."""
    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        raise ReportError(unknown[0], f"unknown parameter; known: {', '.join(PARAMETERS)}")
    if dimension not in DIMENSIONS:
        raise ReportError("dimension", f"{dimension!r} is not one of {', '.join(DIMENSIONS)}")
    zone = _zone(params.get("tz"), default_zone)
    until = _bounded("until", _instant("until", params.get("until"), zone) or now)
    since = _bounded("since", _instant("since", params.get("since"), zone)
                     or until - DEFAULT_PERIOD)
    order = params.get("order", "desc")
    if order not in ("asc", "desc"):
        raise ReportError("order", f"{order!r} is not asc or desc")
    return ReportQuery(
        dimension,  # type: ignore[arg-type]
        since,
        until,
        zone,
        sort=params.get("sort") or None,
        descending=order == "desc",
        limit=_integer("limit", params.get("limit"), DEFAULT_LIMIT),
        offset=_integer("offset", params.get("offset"), 0),
        where={name: params[name] for name in FILTERS if params.get(name)},
    ).validated(max_days=max_days, max_limit=max_limit)


def _zone(name: str | None, default: ZoneInfo) -> ZoneInfo:
    if not name:
        return default
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        raise ReportError("tz", f"{name!r} is not a time zone (e.g. Asia/Shanghai)") from None


def _instant(name: str, text: str | None, zone: tzinfo) -> datetime | None:
    if not text:
        return None
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), zone)
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ReportError(
            name, f"{text!r} is not a date (2026-11-26) or an ISO-8601 instant with offset"
        ) from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ReportError(name, f"{text!r} needs a UTC offset (e.g. +08:00 or Z)")
    return value


def _bounded(name: str, instant: datetime) -> datetime:
    # Far instants overflow when moved to UTC or to another zone; no case is there anyway.
    if not EARLIEST <= instant <= LATEST:
        raise ReportError(name, f"must be between {EARLIEST.year} and {LATEST.year - 1}")
    return instant


def _integer(name: str, text: str | None, default: int) -> int:
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise ReportError(name, f"{text!r} is not a whole number") from None
