"""Compliance reports: how each merchant, provider, city, category, policy, day or week keeps
the 一键求助 promise over a period. The read model behind ``GET /v1/reports/{dimension}``,
``slamon report`` and the dashboard's reports page.

A report covers the monitored cases *opened* in ``[since, until)``; per group it gives

* ``cases``;
* per promise (``response``, ``resolution``): deadlines ``judged`` (met or breached; pending
  and cancelled ones are not judged yet or never will be), ``kept`` (met, or breached and
  then contested by timely evidence) and ``met_pct`` = kept / judged;
* breaches ``open`` (counted as 违背承诺 violations), ``settled`` (penalty paid) and
  ``contested``; ``points_paid``: points really issued (compensations with an issue time:
  ``issued``, and ``review`` ones, paid after a contest);
* median and p90 seconds from opening to the first response and to the resolution
  (``percentile_cont``, interpolated; cases without one are left out).

How it stays fast (benchmarks/bench_reports.py): the figures come from ``case_facts``, one
narrow row per case kept by :mod:`slamon.models.db.case_facts`, found by its ``opened_at``
index; no join.
1. One grouped sum of the counts over the period.
2. The groups are sorted and cut to the page in Python (a group per key, far fewer than
   cases).
3. Percentiles, the costly part (a sort per group), are computed only for the page's keys,
   unless the sort is by a percentile; the totals row has none (it would sort every case of
   the period).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Connection, false, func, or_, select, text, true
from sqlalchemy.sql import Select

from slamon.models.db.report_sql import bytewise, local_day, local_week, percentile_cont
from slamon.models.db.tables import CaseFacts

Dimension = Literal["merchant", "provider", "city", "category", "policy", "day", "week"]
DIMENSIONS: tuple[str, ...] = get_args(Dimension)
PROMISES = ("response", "resolution")
QUANTILES = {"median": 0.5, "p90": 0.9}

# Every figure of a row, in display order; each is also a sort key.
FIELDS = (
    "key",
    "cases",
    "response_judged",
    "response_kept",
    "response_met_pct",
    "resolution_judged",
    "resolution_kept",
    "resolution_met_pct",
    "breaches_open",
    "breaches_settled",
    "breaches_contested",
    "points_paid",
    "response_median_seconds",
    "response_p90_seconds",
    "resolution_median_seconds",
    "resolution_p90_seconds",
)
PERCENTILE_FIELDS = tuple(f for f in FIELDS if f.endswith("_seconds"))
DEFAULT_SORT = {d: "key" if d in ("day", "week") else "cases" for d in DIMENSIONS}


class ReportError(ValueError):
    """A report request that cannot be answered; ``field`` names the parameter at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ReportQuery:
    """What to report: ``dimension`` over cases opened in ``[since, until)``, the page
    ``offset``/``limit`` of the groups sorted by ``sort`` (``descending`` or not)."""

    dimension: Dimension
    since: datetime
    until: datetime
    zone: ZoneInfo
    sort: str | None = None
    descending: bool = True
    limit: int = 50
    offset: int = 0
    # Only the cases of this group of another dimension, e.g. {"merchant": "M1"}.
    where: dict[str, str] = field(default_factory=dict)

    def validated(self, max_days: int, max_limit: int) -> ReportQuery:
        """This query, with its sort defaulted; ReportError names the first bad field."""
        if self.dimension not in DIMENSIONS:
            raise ReportError("dimension", f"must be one of {', '.join(DIMENSIONS)}")
        for name, instant in (("since", self.since), ("until", self.until)):
            if instant.tzinfo is None or instant.utcoffset() is None:
                raise ReportError(name, "needs a UTC offset (e.g. +08:00 or Z)")
        if self.until <= self.since:
            raise ReportError("until", "must be after since")
        if self.until - self.since > timedelta(days=max_days):
            raise ReportError("until", f"the period is longer than {max_days} days")
        sort = self.sort or DEFAULT_SORT[self.dimension]
        if sort not in FIELDS:
            raise ReportError("sort", f"must be one of {', '.join(FIELDS)}")
        if not 1 <= self.limit <= max_limit:
            raise ReportError("limit", f"must be between 1 and {max_limit}")
        if self.offset < 0:
            raise ReportError("offset", "must be 0 or more")
        for name in self.where:
            if name not in DIMENSIONS or name in ("day", "week"):
                raise ReportError(name, "cannot filter on it")
        return replace(self, sort=sort)


@dataclass
class Group:
    """The figures of one group; the percentages and percentiles are derived or filled in."""

    key: str | None
    cases: int = 0
    judged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PROMISES, 0))
    kept: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PROMISES, 0))
    breaches: dict[str, int] = field(
        default_factory=lambda: {"open": 0, "settled": 0, "contested": 0}
    )
    points_paid: int = 0
    seconds: dict[str, float | None] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        row: dict[str, Any] = {"key": self.key, "cases": self.cases}
        for promise in PROMISES:
            judged, kept = self.judged[promise], self.kept[promise]
            row[f"{promise}_judged"] = judged
            row[f"{promise}_kept"] = kept
            row[f"{promise}_met_pct"] = round(100 * kept / judged, 2) if judged else None
        for status, count in self.breaches.items():
            row[f"breaches_{status}"] = count
        row["points_paid"] = self.points_paid
        for name in PERCENTILE_FIELDS:
            row[name] = self.seconds.get(name)
        return row


@dataclass(frozen=True)
class Report:
    query: ReportQuery
    rows: list[dict[str, Any]]
    groups: int  # how many groups the period has (rows is one page of them)
    totals: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        q = self.query
        next_offset = q.offset + len(self.rows)
        return {
            "dimension": q.dimension,
            "since": q.since.astimezone(q.zone).isoformat(),
            "until": q.until.astimezone(q.zone).isoformat(),
            "zone": str(q.zone),
            "where": q.where,
            "sort": q.sort,
            "order": "desc" if q.descending else "asc",
            "offset": q.offset,
            "limit": q.limit,
            "groups": self.groups,
            "next_offset": next_offset if next_offset < self.groups else None,
            "rows": self.rows,
            "totals": self.totals,
        }


def compliance_report(conn: Connection, query: ReportQuery, work_mem_mb: int = 64) -> Report:
    """The report (module docstring); ``query`` must be validated. On Postgres its sorts may
    use ``work_mem_mb`` of memory each (``SET LOCAL``: this transaction only), so that the
    percentiles of a large period sort in memory rather than on disk."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"SET LOCAL work_mem = '{int(work_mem_mb)}MB'"))
    scope = _scope(query)
    groups: dict[str | None, Group] = {}
    for row in conn.execute(_sums(scope)).mappings():
        key = None if row["key"] is None else str(row["key"])
        g = groups[key] = Group(key, cases=int(row["cases"]), points_paid=int(row["points_paid"]))
        for promise in PROMISES:
            g.judged[promise] = int(row[f"{promise}_judged"])
            g.kept[promise] = int(row[f"{promise}_kept"])
        for status in g.breaches:
            g.breaches[status] = int(row[f"breaches_{status}"])

    sort = query.sort or DEFAULT_SORT[query.dimension]
    if sort in PERCENTILE_FIELDS:
        _fill_percentiles(conn, scope, list(groups.values()))
    ordered = _sorted(groups.values(), sort, query.descending)
    page = ordered[query.offset : query.offset + query.limit]
    if sort not in PERCENTILE_FIELDS:
        _fill_percentiles(conn, scope, page)

    totals = Group(None)
    for g in groups.values():
        totals.cases += g.cases
        totals.points_paid += g.points_paid
        for promise in PROMISES:
            totals.judged[promise] += g.judged[promise]
            totals.kept[promise] += g.kept[promise]
        for status, count in g.breaches.items():
            totals.breaches[status] += count
    # No percentiles for the totals: they would sort every case of the period once more, the
    # most expensive step of a large report; a report by policy or by week gives them.
    return Report(query, [g.row() for g in page], len(groups), totals.row())


# -- the queries ---------------------------------------------------------------------------


def _key(query: ReportQuery) -> ColumnElement[Any]:
    zone = str(query.zone)
    keys: dict[str, Any] = {
        "merchant": CaseFacts.merchant_id,
        "provider": CaseFacts.provider_id,
        "city": CaseFacts.city,
        "category": CaseFacts.category,
        "policy": CaseFacts.policy_id,
        "day": local_day(CaseFacts.opened_at, zone),
        "week": local_week(CaseFacts.opened_at, zone),
    }
    return keys[query.dimension]


_FILTERS = {
    "merchant": CaseFacts.merchant_id,
    "provider": CaseFacts.provider_id,
    "city": CaseFacts.city,
    "category": CaseFacts.category,
    "policy": CaseFacts.policy_id,
}
_SUMMED = (
    "response_judged", "response_kept", "resolution_judged", "resolution_kept",
    "breaches_open", "breaches_settled", "breaches_contested", "points_paid",
)


def _scope(query: ReportQuery) -> Any:
    """The period's monitored cases with their group key (found by ``ix_case_facts_opened_at``)."""
    conditions = [
        CaseFacts.monitored == true(),
        CaseFacts.opened_at >= query.since,
        CaseFacts.opened_at < query.until,
        *(_FILTERS[name] == value for name, value in query.where.items()),
    ]
    columns = [getattr(CaseFacts, name) for name in _SUMMED]
    return (
        select(
            bytewise(_key(query)).label("key"), *columns, CaseFacts.response_seconds,
            CaseFacts.resolution_seconds,
        )
        .where(*conditions)
        .subquery("scope")
    )


def _sums(scope: Any) -> Select[Any]:
    return select(
        scope.c.key,
        func.count().label("cases"),
        *(func.sum(scope.c[name]).label(name) for name in _SUMMED),
    ).group_by(scope.c.key)


def _durations(scope: Any) -> list[ColumnElement[Any]]:
    return [
        percentile_cont(scope.c[f"{promise}_seconds"], fraction).label(f"{promise}_{name}_seconds")
        for promise in PROMISES
        for name, fraction in QUANTILES.items()
    ]


def _fill_percentiles(conn: Connection, scope: Any, groups: Sequence[Group]) -> None:
    if not groups:
        return
    keys = [g.key for g in groups]
    present = [k for k in keys if k is not None]
    condition = or_(
        scope.c.key.in_(present) if present else false(),
        scope.c.key.is_(None) if None in keys else false(),
    )
    query = select(scope.c.key, *_durations(scope)).where(condition).group_by(scope.c.key)
    by_key = _percentiles_by_key(conn, query)
    for g in groups:
        g.seconds = by_key.get(g.key, {})


def _percentiles_by_key(
    conn: Connection, query: Select[Any]
) -> dict[str | None, dict[str, float | None]]:
    result: dict[str | None, dict[str, float | None]] = {}
    for row in conn.execute(query).mappings():
        values = dict(row)
        key = values.pop("key")
        result[None if key is None else str(key)] = {
            name: None if value is None else float(value) for name, value in values.items()
        }
    return result


def _sorted(groups: Iterable[Group], sort: str, descending: bool) -> list[Group]:
    """Sorted by ``sort``, empty values last whatever the direction, then by key."""
    rows = sorted(((g, g.row()) for g in groups), key=lambda r: r[0].key or "")
    present = [r for r in rows if r[1][sort] is not None]
    missing = [r for r in rows if r[1][sort] is None]
    # Stable: ties keep the key order.
    present.sort(key=lambda r: r[1][sort], reverse=descending)
    return [g for g, _ in present + missing]
