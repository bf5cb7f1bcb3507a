"""The operators' overview on a real database (SQLite and Postgres): the figures of
``/v1/summary`` from rows in known states, its auth, and the page that renders it."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from slamon.api import summary
from slamon.api.app import create_app
from slamon.api.summary import build_summary, quantile
from slamon.settings import Settings
from tests.support.ops_rows import OpsRows

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=SH)
GRACE_BOUND = timedelta(seconds=60)
TOKEN = "read-and-produce-token-0123456789"
PRODUCE_ONLY = "produce-only-token-0123456789"
READ_ONLY = "read-only-token-0123456789"
M = timedelta(minutes=1)


@pytest.fixture
def rows(engine: Engine) -> OpsRows:
    return OpsRows(engine, NOW)


def seed_deadlines(rows: OpsRows) -> None:
    """Pending deadlines around ``NOW`` (grace 60 s unless said):

    late       due -5 min, judge -4 min               overdue (judge > 30 s ago)
    in_grace   due -70 s, judge -10 s                 pending, not yet overdue
    soon_risky at risk -10 min, due +20 min           due within the hour, at risk
    soon       at risk +5 min, due +59 min            due within the hour
    edge       due +60 min exactly                    due within the hour (inclusive)
    later      at risk -1 min, due +61 min            at risk, not due within the hour
    far        due +10 h, grace 30 min                neither
    plus one *met* deadline due +10 min, which counts nowhere.
    """
    for case_id in ("late", "in_grace", "soon_risky", "soon", "edge", "later", "far", "met"):
        rows.case(case_id)
    rows.deadline("late", "response", -5 * M)
    rows.deadline("in_grace", "response", timedelta(seconds=-70))
    rows.deadline("soon_risky", "response", 20 * M, at_risk_in=-10 * M)
    rows.deadline("soon", "resolution", 59 * M, at_risk_in=5 * M)
    rows.deadline("edge", "response", 60 * M)
    rows.deadline("later", "resolution", 61 * M, at_risk_in=-1 * M)
    rows.deadline("far", "resolution", 10 * 60 * M, grace=30 * M)
    rows.deadline("met", "response", 10 * M, at_risk_in=-5 * M, state="met")


def seed_breaches(rows: OpsRows) -> None:
    """Four breaches, inserted oldest first; three within the last hour (lags 10 s, 4 s, 2 s)."""
    for case_id in ("b-old", "b-contested", "b-settled", "b-new"):
        rows.case(case_id)
    old = rows.breach("b-old", "resolution", 2 * 60 * M, timedelta(seconds=1000), "open", 30000)
    rows.breach("b-contested", "response", 30 * M, timedelta(seconds=10), "contested")
    settled = rows.breach("b-settled", "response", 20 * M, timedelta(seconds=4), "settled")
    new = rows.breach("b-new", "resolution", 10 * M, timedelta(seconds=2), "open", 10000)
    rows.compensation(settled, "b-settled", "response", 5000, "issued")
    rows.compensation(new, "b-new", "resolution", 10000, "pending")
    rows.compensation(old, "b-old", "resolution", 30000, "failed")


def test_summary_figures(engine: Engine, rows: OpsRows) -> None:
    seed_deadlines(rows)
    seed_breaches(rows)
    rows.case("responded-1", status="responded")
    rows.case("resolved-1", status="resolved")
    rows.outbox("m-old", timedelta(seconds=90), published=False)
    rows.outbox("m-new", timedelta(seconds=30), published=False)
    rows.outbox("m-sent", timedelta(hours=1), published=True)
    rows.dead_letter("garbage")
    rows.dead_letter("fixed", replayed=True)

    with engine.connect() as conn:
        s = build_summary(conn, NOW, SH, GRACE_BOUND)

    assert s["generated_at"] == "2026-11-26T10:00:00+08:00"
    assert s["cases"] == {"open": 12, "responded": 1, "resolved": 1, "cancelled": 0}
    assert s["deadlines"] == {"pending": 7, "due_next_hour": 3, "at_risk": 2, "overdue": 1}
    assert s["breaches"] == {"open": 2, "settled": 1, "contested": 1}
    assert s["compensations"] == {
        "pending": {"count": 1, "points": 10000},
        "issued": {"count": 1, "points": 5000},
        "failed": {"count": 1, "points": 30000},
        "cancelled": {"count": 0, "points": 0},
        "review": {"count": 0, "points": 0},
        "held": {"count": 0, "points": 0},
        "paid_in_error": {"count": 0, "points": 0},
    }
    assert s["points_paid"] == {"count": 1, "points": 5000}
    assert s["payout_guard"] == {"tripped": False, "tripped_at": None, "tripped_limit": None,
                                 "tripped_reason": None, "held": {"count": 0, "points": 0}}
    assert s["dead_letters"] == {"total": 2, "unreplayed": 1}
    assert s["outbox"] == {"backlog": 2, "oldest_age_seconds": 90.0}
    assert s["breach_fire_lag"] == {
        "window_seconds": 3600.0,
        "breaches": 3,
        "p50_seconds": 4.0,
        "p99_seconds": 10.0,
    }
    assert [b["case_id"] for b in s["recent_breaches"]] == [
        "b-new",
        "b-settled",
        "b-contested",
        "b-old",
    ]
    assert s["recent_breaches"][0] == {
        "case_id": "b-new",
        "kind": "resolution",
        "due_at": "2026-11-26T09:48:58+08:00",
        "detected_at": "2026-11-26T09:50:00+08:00",
        "points": 10000,
        "status": "open",
    }
    oldest = s["oldest_pending_deadlines"]
    assert [d["case_id"] for d in oldest] == [
        "late",
        "in_grace",
        "soon_risky",
        "soon",
        "edge",
        "later",
        "far",
    ]
    assert oldest[0]["late_seconds"] == 240.0
    assert oldest[0]["judge_at"] == "2026-11-26T09:56:00+08:00"
    assert oldest[1]["late_seconds"] == 10.0
    assert oldest[2]["late_seconds"] == 0.0


def test_empty_database(engine: Engine) -> None:
    with engine.connect() as conn:
        s = build_summary(conn, NOW, SH, GRACE_BOUND)
    assert s["deadlines"] == {"pending": 0, "due_next_hour": 0, "at_risk": 0, "overdue": 0}
    assert s["breaches"] == {"open": 0, "settled": 0, "contested": 0}
    assert s["outbox"] == {"backlog": 0, "oldest_age_seconds": None}
    assert s["breach_fire_lag"]["p50_seconds"] is None
    assert s["recent_breaches"] == [] and s["oldest_pending_deadlines"] == []


def test_grace_bound_limits_the_due_soon_window(engine: Engine, rows: OpsRows) -> None:
    # A deadline with a grace larger than the bound is outside the indexed judge_at range:
    # the bound must be the largest grace of the loaded policies, as the router computes it.
    rows.case("long-grace")
    rows.deadline("long-grace", "response", 30 * M, grace=2 * 60 * M)
    with engine.connect() as conn:
        assert build_summary(conn, NOW, SH, 2 * 60 * M)["deadlines"]["due_next_hour"] == 1
        assert build_summary(conn, NOW, SH, 10 * M)["deadlines"]["due_next_hour"] == 0


def test_fire_lag_window_and_sample_limit(
    engine: Engine, rows: OpsRows, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Lags come from the newest LAG_SAMPLE_LIMIT breaches by id that fall in the window, so
    # a burst behind them is not read, and an hour without breaches reads a bounded set.
    rows.case("c")
    rows.breach("c", "response", 5 * M, timedelta(seconds=50))
    rows.breach("c", "resolution", 4 * M, timedelta(seconds=7))
    rows.case("d")
    rows.breach("d", "response", 3 * M, timedelta(seconds=9))
    monkeypatch.setattr(summary, "LAG_SAMPLE_LIMIT", 2)
    with engine.connect() as conn:
        lag = build_summary(conn, NOW, SH, GRACE_BOUND)["breach_fire_lag"]
        assert (lag["breaches"], lag["p50_seconds"], lag["p99_seconds"]) == (2, 7.0, 9.0)
        later = build_summary(conn, NOW + 2 * 60 * M, SH, GRACE_BOUND)["breach_fire_lag"]
        assert later["breaches"] == 0 and later["p99_seconds"] is None


def test_fire_lag_is_the_schedulers_own_not_the_producers(engine: Engine, rows: OpsRows) -> None:
    """A case sent a day after it was opened is breached at once, 5 days after its judge
    instant: that is how late the producer was (the issue saw "5d 2h p99" while live
    deadlines fired in 0.4 s), not the scheduler's lag, so it is left out."""
    rows.case("live")
    rows.breach("live", "response", 5 * M, timedelta(seconds=0.4))
    rows.case("replayed")
    detected = NOW - 4 * M
    rows.breach("replayed", "response", 4 * M, timedelta(days=5, hours=2),
                pending_since=detected - timedelta(seconds=1))
    with engine.connect() as conn:
        lag = build_summary(conn, NOW, SH, GRACE_BOUND)["breach_fire_lag"]
    assert (lag["breaches"], lag["p50_seconds"], lag["p99_seconds"]) == (1, 0.4, 0.4)


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([1.0], 0.5, 1.0),
        ([1.0, 2.0], 0.5, 1.0),
        ([1.0, 2.0, 3.0], 0.5, 2.0),
        ([float(i) for i in range(1, 101)], 0.99, 99.0),
        ([float(i) for i in range(1, 101)], 1.0, 100.0),
        ([float(i) for i in range(1, 1001)], 0.99, 990.0),
    ],
)
def test_nearest_rank_quantile(values: list[float], q: float, expected: float) -> None:
    assert quantile(values, q) == expected


def test_quantile_of_nothing_and_out_of_range() -> None:
    assert quantile([], 0.5) is None
    with pytest.raises(ValueError, match="not in"):
        quantile([1.0], 0.0)


# -- over HTTP ----------------------------------------------------------------------------


@pytest.fixture
def client(db_url: str, engine: Engine, tmp_path: Path) -> TestClient:
    settings = Settings(
        home=tmp_path / "home",
        database_url=db_url,
        api_token=TOKEN,
        api_tokens={PRODUCE_ONLY: "produce", READ_ONLY: "read"},
    )
    return TestClient(create_app(settings))


def test_summary_needs_the_read_role(client: TestClient) -> None:
    assert client.get("/v1/summary").status_code == 401
    wrong = client.get("/v1/summary", headers={"Authorization": "Bearer not-a-token"})
    assert wrong.status_code == 401
    produce = client.get("/v1/summary", headers={"Authorization": f"Bearer {PRODUCE_ONLY}"})
    assert produce.status_code == 403
    assert "read" in produce.json()["detail"]["error"]
    assert client.get("/v1/summary", headers=_bearer(READ_ONLY)).status_code == 200


def test_summary_over_http(client: TestClient, engine: Engine) -> None:
    from datetime import UTC

    rows = OpsRows(engine, datetime.now(UTC))
    rows.case("H-1")
    rows.case("H-2", status="resolved")
    rows.breach("H-1", "response", 1 * M, timedelta(seconds=3))
    body = client.get("/v1/summary", headers=_bearer(TOKEN)).json()
    assert body["cases"]["open"] == 1 and body["cases"]["resolved"] == 1
    assert body["breaches"]["open"] == 1
    assert body["zone"] == "Asia/Shanghai"
    assert body["generated_at"].endswith("+08:00")
    assert body["recent_breaches"][0]["detected_at"].endswith("+08:00")
    assert body["breach_fire_lag"]["p50_seconds"] == 3.0


def test_page_is_public_self_contained_and_locked_down(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    # No data and no token in the page: it fetches /v1/summary with the token it is given.
    assert TOKEN not in html and "/v1/summary" in html
    # Nothing from another origin (the machines may have no internet).
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp
    # The CSP admits exactly the inline script and stylesheet that were served.
    for tag, directive in (("script", "script-src"), ("style", "style-src")):
        (body,) = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.S)
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"{directive} 'sha256-{digest}'" in csp
    assert page.headers["referrer-policy"] == "no-referrer"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
