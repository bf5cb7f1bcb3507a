"""``/metrics`` on a real database (SQLite and Postgres): rows in known states, the exposition
parsed back with prometheus_client's own parser."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from slamon.api.app import create_app
from slamon.api.metrics import render_metrics
from slamon.settings import Settings
from tests.support.ops_rows import OpsRows

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 26, 15, 0, tzinfo=SH)
M = timedelta(minutes=1)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(engine: Engine, now: datetime = NOW) -> tuple[Samples, dict[str, str]]:
    """Every sample by (name, sorted labels), and every family's type."""
    payload, _ = render_metrics(engine, clock=lambda: now)
    samples: Samples = {}
    types: dict[str, str] = {}
    for family in text_string_to_metric_families(payload.decode()):
        types[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples, types


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


@pytest.fixture
def rows(engine: Engine) -> OpsRows:
    return OpsRows(engine, NOW)


def test_timeliness_gauges(engine: Engine, rows: OpsRows) -> None:
    rows.case("late")
    rows.deadline("late", "response", -10 * M)  # judged 9 min ago: overdue
    rows.case("edge")
    rows.deadline("edge", "response", timedelta(seconds=-85))  # judge 25 s ago: not yet
    rows.case("soon")
    rows.deadline("soon", "resolution", 30 * M)
    rows.case("done")
    rows.deadline("done", "response", -60 * M, state="breached")
    # Lags 1 s .. 100 s within the hour, one hour-old outlier outside it.
    rows.case("lagged")
    rows.breach("lagged", "old", 90 * M, timedelta(seconds=5000))
    for i in range(1, 101):
        rows.breach("lagged", f"k{i}", 50 * M - i * timedelta(seconds=10), timedelta(seconds=i))
    rows.outbox("m-1", timedelta(seconds=42), published=False)
    rows.outbox("m-2", timedelta(seconds=5), published=False)
    rows.outbox("m-0", timedelta(hours=3), published=True)

    samples, types = scrape(engine)

    assert value(samples, "slamon_deadlines_overdue") == 1
    assert types["slamon_breach_fire_lag_seconds"] == "gauge"
    assert value(samples, "slamon_breach_fire_lag_seconds", quantile="0.5") == 50
    assert value(samples, "slamon_breach_fire_lag_seconds", quantile="0.9") == 90
    assert value(samples, "slamon_breach_fire_lag_seconds", quantile="0.99") == 99
    assert value(samples, "slamon_breach_fire_lag_seconds", quantile="1") == 100
    assert value(samples, "slamon_breach_fire_lag_breaches") == 100
    assert value(samples, "slamon_oldest_unpublished_outbox_age_seconds") == 42
    assert value(samples, "slamon_outbox_backlog") == 2
    assert value(samples, "slamon_deadlines", state="pending") == 3
    assert value(samples, "slamon_deadlines", state="breached") == 1
    assert value(samples, "slamon_deadlines", state="met") == 0

    # Two minutes later the deadline in grace is overdue too; the outbox has aged.
    later, _ = scrape(engine, NOW + 2 * M)
    assert value(later, "slamon_deadlines_overdue") == 2
    assert value(later, "slamon_oldest_unpublished_outbox_age_seconds") == 162


def test_points_by_status_and_counts(engine: Engine, rows: OpsRows) -> None:
    for case_id, status, points in (
        ("a", "issued", 5000),
        ("b", "issued", 30000),
        ("c", "pending", 10000),
        ("d", "failed", 19485),
    ):
        rows.case(case_id)
        breach = rows.breach(case_id, "resolution", 5 * M, timedelta(seconds=1), points=points)
        rows.compensation(breach, case_id, "resolution", points, status)
    rows.case("r", status="responded")
    rows.dead_letter("x")
    rows.dead_letter("y", replayed=True)

    samples, _ = scrape(engine)

    assert value(samples, "slamon_compensation_points_total", status="issued") == 35000
    assert value(samples, "slamon_compensation_points_total", status="pending") == 10000
    assert value(samples, "slamon_compensation_points_total", status="failed") == 19485
    assert value(samples, "slamon_compensation_points_total", status="cancelled") == 0
    assert value(samples, "slamon_compensations", status="issued") == 2
    assert value(samples, "slamon_cases", status="open") == 4
    assert value(samples, "slamon_cases", status="responded") == 1
    assert value(samples, "slamon_cases", status="cancelled") == 0
    assert value(samples, "slamon_breaches", status="open") == 4
    assert value(samples, "slamon_breaches", status="settled") == 0
    assert value(samples, "slamon_dead_letters") == 2


def test_empty_database_exports_zeros_and_no_lag(engine: Engine) -> None:
    samples, types = scrape(engine)
    assert value(samples, "slamon_deadlines_overdue") == 0
    assert value(samples, "slamon_oldest_unpublished_outbox_age_seconds") == 0
    assert value(samples, "slamon_breach_fire_lag_breaches") == 0
    # No observation, no quantile: a 0 would claim breaches were recorded instantly.
    assert "slamon_breach_fire_lag_seconds" in types
    assert not [k for k in samples if k[0] == "slamon_breach_fire_lag_seconds"]


def test_metrics_endpoint_serves_the_exposition(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path / "home", database_url=db_url, api_token="t" * 32)
    response = TestClient(create_app(settings)).get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    names = {f.name for f in text_string_to_metric_families(response.text)}
    assert {
        "slamon_deadlines_overdue",
        "slamon_breach_fire_lag_seconds",
        "slamon_oldest_unpublished_outbox_age_seconds",
        "slamon_compensation_points_total",
    } <= names
