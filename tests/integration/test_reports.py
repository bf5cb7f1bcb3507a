"""Compliance reports on real SQLite and Postgres: every dimension against a plain-Python
reading of the same rows, both databases giving the same floats, paging, sorting, bounds."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, insert

from slamon.models.db.case_facts import refresh_case_facts
from slamon.models.db.engine import create_db_engine, read_only, transaction
from slamon.models.db.migrate import upgrade
from slamon.models.db.reports import (
    DIMENSIONS,
    PERCENTILE_FIELDS,
    Report,
    ReportError,
    ReportQuery,
    compliance_report,
)
from slamon.models.db.tables import Case
from tests.support.report_rows import DAYS, SH, START, History, expected_groups, make_history

UNTIL = START + timedelta(days=DAYS)
KEYS = {
    "merchant": lambda c: c["merchant_id"],
    "provider": lambda c: c["provider_id"],
    "city": lambda c: c["city"],
    "category": lambda c: c["category"],
    "policy": lambda c: c["policy_id"],
    "day": lambda c: c["opened_at"].astimezone(SH).date().isoformat(),
    "week": lambda c: (
        c["opened_at"].astimezone(SH).date()
        - timedelta(days=c["opened_at"].astimezone(SH).weekday())
    ).isoformat(),
}


def report(engine: Engine, dimension: str, **options: Any) -> Report:
    query = ReportQuery(
        dimension,  # type: ignore[arg-type]
        options.pop("since", START),
        options.pop("until", UNTIL),
        options.pop("zone", SH),
        **options,
    ).validated(max_days=400, max_limit=1000)
    with read_only(engine).connect() as conn:
        return compliance_report(conn, query)


@pytest.fixture(scope="module")
def history() -> History:
    return make_history(400)


@pytest.fixture
def seeded(engine: Engine, history: History) -> Engine:
    history.insert(engine)
    return engine


def test_every_dimension_matches_the_reference(seeded: Engine, history: History) -> None:
    for dimension in DIMENSIONS:
        got = report(seeded, dimension, limit=1000)
        expected = expected_groups(history, KEYS[dimension], START, UNTIL)
        assert got.groups == len(expected), dimension
        assert {row["key"]: row for row in got.rows} == expected, dimension
        totals = expected_groups(history, lambda c: None, START, UNTIL)[None]
        # The totals have no percentiles (they would sort every case of the period again).
        totals.update(dict.fromkeys(PERCENTILE_FIELDS))
        assert got.totals == totals, dimension


def test_a_period_holds_the_cases_opened_in_it(seeded: Engine, history: History) -> None:
    # since inclusive, until exclusive: an instant exactly on a boundary counts once.
    since = history.cases[10]["opened_at"]
    until = history.cases[20]["opened_at"]
    if until < since:
        since, until = until, since
    got = report(seeded, "merchant", since=since, until=until, limit=1000)
    expected = expected_groups(history, KEYS["merchant"], since, until)
    assert {row["key"]: row for row in got.rows} == expected
    assert got.totals["cases"] == sum(
        1 for c in history.cases if c["monitored"] and since <= c["opened_at"] < until
    )


def test_pages_sort_and_filter(seeded: Engine, history: History) -> None:
    everything = report(seeded, "merchant", sort="breaches_open", limit=1000).rows
    opens = [r["breaches_open"] for r in everything]
    assert opens == sorted(opens, reverse=True)
    first = report(seeded, "merchant", sort="breaches_open", limit=2)
    second = report(seeded, "merchant", sort="breaches_open", limit=2, offset=2)
    assert first.rows + second.rows == everything[:4]
    assert first.as_dict()["next_offset"] == 2
    last = report(seeded, "merchant", sort="breaches_open", limit=2, offset=len(everything) - 1)
    assert last.as_dict()["next_offset"] is None

    # Sorting by a percentile computes it for every group; empty ones go last either way.
    by_p90 = report(seeded, "provider", sort="response_p90_seconds", descending=False, limit=1)
    full = report(seeded, "provider", limit=1000).rows
    assert by_p90.rows == [min(full, key=lambda r: r["response_p90_seconds"])]

    days = report(seeded, "day", limit=1000).rows
    assert [r["key"] for r in days] == sorted(r["key"] for r in days)[::-1]  # newest first
    oldest_first = report(seeded, "day", descending=False, limit=3).rows
    assert [r["key"] for r in oldest_first] == sorted(r["key"] for r in days)[:3]

    only_m1 = report(seeded, "city", where={"merchant": "M1"}, limit=1000)
    expected = expected_groups(
        History([c for c in history.cases if c["merchant_id"] == "M1"], history.deadlines,
                history.breaches, history.compensations),
        KEYS["city"], START, UNTIL,
    )
    assert {row["key"]: row for row in only_m1.rows} == expected


def test_an_empty_period(engine: Engine) -> None:
    got = report(engine, "merchant")
    assert got.rows == [] and got.groups == 0
    assert got.totals["cases"] == 0 and got.totals["response_met_pct"] is None


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"dimension": "shop"}, "dimension"),
        ({"until": START}, "until"),
        ({"until": START + timedelta(days=401)}, "until"),
        ({"since": datetime(2026, 11, 1)}, "since"),
        ({"sort": "nope"}, "sort"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"offset": -1}, "offset"),
        ({"where": {"day": "2026-11-02"}}, "day"),
    ],
)
def test_bad_queries_name_their_field(options: dict[str, Any], field: str) -> None:
    values: dict[str, Any] = {"dimension": "merchant", "since": START, "until": UNTIL,
                              "zone": SH, **options}
    with pytest.raises(ReportError) as raised:
        ReportQuery(**values).validated(max_days=400, max_limit=1000)
    assert raised.value.field == field


def test_local_days_and_weeks_follow_the_zone(engine: Engine) -> None:
    """Day and week keys in a DST zone, at local midnight and across the autumn change."""
    ny = ZoneInfo("America/New_York")
    instants = [
        datetime(2026, 11, 1, 0, 30, tzinfo=ny),  # the Sunday of the change, before it
        datetime(2026, 11, 1, 23, 59, tzinfo=ny),  # same local day, after it (EST)
        datetime(2026, 11, 2, 0, 0, tzinfo=ny),  # Monday: a new day and a new week
        datetime(2026, 10, 26, 0, 0, tzinfo=ny) - timedelta(microseconds=1),  # Sunday 25th
    ]
    rows = [
        {
            "case_id": f"Z{i}", "status": "open", "monitored": True, "policy_id": "p",
            "opened_at": at, "order_id": "O", "buyer_account": "b", "merchant_id": "M",
            "category": "furniture", "services": [], "reopen_count": 0, "last_event_at": at,
            "created_at": at, "updated_at": at,
        }
        for i, at in enumerate(instants)
    ]
    with transaction(engine) as session:
        session.execute(insert(Case), rows)
        refresh_case_facts(session, [r["case_id"] for r in rows])
    since, until = datetime(2026, 10, 20, tzinfo=ny), datetime(2026, 11, 10, tzinfo=ny)
    days = report(engine, "day", since=since, until=until, zone=ny, limit=100)
    assert {r["key"]: r["cases"] for r in days.rows} == {
        "2026-11-01": 2, "2026-11-02": 1, "2026-10-25": 1,
    }
    weeks = report(engine, "week", since=since, until=until, zone=ny, limit=100)
    assert {r["key"]: r["cases"] for r in weeks.rows} == {"2026-10-26": 2, "2026-11-02": 1,
                                                          "2026-10-19": 1}


@pytest.mark.postgres
def test_sqlite_and_postgres_give_the_same_figures(
    sqlite_url: str, postgres_url: str, history: History
) -> None:
    reports = {}
    for url in (sqlite_url, postgres_url):
        engine = create_db_engine(url)
        upgrade(engine)
        history.insert(engine)
        reports[url] = {
            dimension: report(engine, dimension, limit=1000).as_dict() for dimension in DIMENSIONS
        }
        engine.dispose()
    assert reports[sqlite_url] == reports[postgres_url]
    some_median = reports[sqlite_url]["merchant"]["rows"][0]["response_median_seconds"]
    assert some_median is not None and some_median != round(some_median)  # sub-second figures
