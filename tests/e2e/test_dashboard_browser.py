"""The dashboard in a real browser (headless Chromium driven by Playwright, tests/e2e/browser.py).

* Against `slamon api` on a seeded database: the overview's figures, no data without a token,
  the reports page (trend charts, worst merchants, a sortable report), "at risk now" counting
  down, a case page whose actions follow the token's role.
* Against a real `slamon up`: a case sent seconds before is found by search, opened, and
  shows its breach once the scheduler records it.

The browser runs in Europe/London: every time shown must still be Asia/Shanghai's.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import insert

from slamon.embedded_redis import free_port
from slamon.models.db.engine import create_db_engine, transaction
from slamon.models.db.migrate import upgrade
from slamon.models.db.tables import InboxEvent
from tests.e2e.browser import browser_page, screenshot
from tests.e2e.stack import SLAMON, RunningStack, clean_env
from tests.support.ops_rows import OpsRows
from tests.support.report_rows import make_history

# A "+" that a form-style decoder would turn into a space: the page must keep it.
TOKEN = "browser+test-token-0123456789abcdef"
READ_ONLY = "browser-read-only-token-0123456789"
SH = ZoneInfo("Asia/Shanghai")
M = timedelta(minutes=1)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`slamon api` on a database holding a few cases in every state, and two weeks of
    history for the reports."""
    tmp_path = tmp_path_factory.mktemp("dashboard")
    database_url = f"sqlite:///{tmp_path / 'slamon.db'}"
    engine = create_db_engine(database_url)
    upgrade(engine)
    now = datetime.now(UTC)
    today = datetime.now(SH).replace(hour=0, minute=0, second=0, microsecond=0)
    make_history(600, start=today - timedelta(days=13), now=now).insert(engine)
    seed(OpsRows(engine, now))  # after: its breaches are the newest
    engine.dispose()
    port = free_port()
    env = clean_env(tmp_path / "home", SLAMON_DATABASE_URL=database_url, SLAMON_API_TOKEN=TOKEN,
                    SLAMON_API_TOKENS=json.dumps({READ_ONLY: "read"}))
    with open(tmp_path / "api.log", "wb") as log:
        process = subprocess.Popen(
            [*SLAMON, "api", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, tmp_path / "api.log")
        yield url
    finally:
        process.terminate()
        process.wait(20)


def seed(rows: OpsRows) -> None:
    """3 open violations out of 5 breaches; 4 pending deadlines, 1 of them overdue, 2 at risk;
    H-FAILED's compensation was refused by the points service."""
    for i, status in enumerate(["open", "settled", "open", "contested", "open"]):
        case_id = rows.case(f"H-BREACH-{i}")
        rows.breach(case_id, "response", (10 + i) * M, timedelta(seconds=2 + i), status)
    for i, due_in in enumerate([-5 * M, 20 * M, 2 * 60 * M, 30 * 60 * M]):
        case_id = rows.case(f"H-PENDING-{i}")
        rows.deadline(case_id, "resolution", due_in, at_risk_in=-M if i < 2 else due_in / 2)
    rows.case("H-RESOLVED", status="resolved")
    failed = rows.case("H-FAILED")
    breach = rows.breach(failed, "response", 30 * M, timedelta(seconds=1), "open")
    rows.compensation(breach, failed, "response", 5000, "failed")
    opened_at = rows.now - timedelta(hours=2)
    with transaction(rows.engine) as session:
        session.execute(insert(InboxEvent), [
            {"event_id": "e-failed-1", "case_id": failed, "type": "help.opened",
             "occurred_at": opened_at, "received_at": opened_at + timedelta(seconds=1),
             "payload": {}, "outcome": "applied", "duplicates": 0},
            {"event_id": "e-failed-2", "case_id": failed, "type": "help.responded",
             "occurred_at": opened_at + 50 * M, "received_at": opened_at + 95 * M,
             "payload": {}, "outcome": "applied", "duplicates": 1},
        ])


def expect(locator: Any) -> Any:
    # Playwright's own assertions poll from its injected script: the page's CSP forbids eval.
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def fields(page: Any) -> dict[str, str]:
    return page.eval_on_selector_all(
        "#view-overview [data-field]", "nodes => Object.fromEntries(nodes.map("
        "n => [n.dataset.field, n.textContent]))")


def sign_in(page: Any, url: str, token: str = TOKEN, route: str = "") -> None:
    page.goto(f"{url}/#token={token}")
    page.wait_for_selector("#state.live")
    assert "token" not in page.url  # the fragment is moved to sessionStorage at once
    if route:
        page.goto(f"{url}/#/{route}")


def test_overview_renders_the_figures(api_url: str, tmp_path: Path) -> None:
    with browser_page(tmp_path / "profile") as page:
        sign_in(page, api_url)
        expect(page.locator("[data-field=violations]")).not_to_have_text("–")
        values = fields(page)
        summary = httpx.get(f"{api_url}/v1/summary",
                            headers={"Authorization": f"Bearer {TOKEN}"}).json()
        assert values["violations"] == f"{summary['breaches']['open']:,}"
        assert values["pending"] == f"{summary['deadlines']['pending']:,}"
        assert values["at_risk"] == f"{summary['deadlines']['at_risk']:,}"
        assert values["due_next_hour"] == f"{summary['deadlines']['due_next_hour']:,}"
        assert values["lag_n"] == f"{summary['breach_fire_lag']['breaches']:,}"
        assert values["overdue"] == "1"  # H-PENDING-0, five minutes past due
        assert page.is_hidden("#login") and page.is_visible("#nav")
        for i in range(5):
            assert page.is_visible(f"#recent-breaches a:text-is('H-BREACH-{i}')")
        assert page.is_visible("#oldest-pending a:text-is('H-PENDING-0')")
        # Shanghai's wall clock, although the browser runs in London.
        assert page.text_content("#updated") == "updated " + _shanghai_minute(page, "#updated")
        screenshot(page, "overview", tmp_path)


def test_without_a_token_the_page_shows_no_data(api_url: str, tmp_path: Path) -> None:
    with browser_page(tmp_path / "profile") as page:
        page.goto(f"{api_url}/")
        page.wait_for_selector("#login", state="visible")
        assert page.is_hidden("#view-overview") and page.is_hidden("#nav")
        assert set(fields(page).values()) == {"–"}
        assert "H-BREACH-0" not in page.content()
        page.fill("#token", "not-a-token-at-all")
        page.click("#login-form button")
        page.wait_for_selector("#login-error:text('refused')")


def test_reports_page_draws_the_trend_and_the_worst(api_url: str, tmp_path: Path) -> None:
    with browser_page(tmp_path / "profile") as page:
        sign_in(page, api_url, route="reports")
        page.wait_for_selector("#chart-met svg path.line")
        # 30 days on the axis, a bar of cases for each; the history fills the last 14.
        assert page.locator("#chart-volume rect.bar.s-cases").count() == 30
        heights = page.eval_on_selector_all(
            "#chart-volume rect.bar.s-cases",
            "bars => bars.map(b => Number(b.getAttribute('height')))")
        assert sum(1 for h in heights if h > 0) == 14
        worst = page.locator("#worst-merchants tr")
        assert 1 <= worst.count() <= 5
        opens = [int(t) for t in page.eval_on_selector_all(
            "#worst-merchants td.bad-num", "cells => cells.map(c => c.textContent)")]
        assert opens == sorted(opens, reverse=True) and opens[0] > 0

        rows = page.locator("#report-rows tr")
        assert rows.count() == 6  # M0..M5 (the seeded cases are M1's too)
        page.click("#report-head a:text('open 违背承诺')")
        page.wait_for_selector("#report-head a:text('open 违背承诺 ▼')")
        column = page.eval_on_selector_all(
            "#report-rows tr", "rows => rows.map(r => Number(r.children[4].textContent))")
        assert column == sorted(column, reverse=True)
        assert "sort=breaches_open" in page.url
        total = page.text_content("#report-totals td:nth-child(2)")
        assert int(total.replace(",", "")) == sum(int(page.eval_on_selector_all(
            "#report-rows tr", "rows => rows.map(r => r.children[1].textContent)")[i].replace(
                ",", "")) for i in range(rows.count()))
        page.select_option("#report-by", "week")
        page.click("#report-form button")
        page.wait_for_selector("#report-head a:text('group 分组')")
        page.wait_for_url(re.compile("by=week"))
        screenshot(page, "reports", tmp_path)


def test_at_risk_counts_down(api_url: str, tmp_path: Path) -> None:
    with browser_page(tmp_path / "profile") as page:
        sign_in(page, api_url, route="at-risk")
        first = page.locator("#at-risk-rows tr").first
        first.locator("td.countdown").wait_for()
        cases = page.eval_on_selector_all("#at-risk-rows td.case",
                                          "cells => cells.map(c => c.textContent)")
        assert cases == ["H-PENDING-0", "H-PENDING-1"]  # the overdue one first
        assert "已到期" in first.locator("td.countdown").text_content()
        second = page.locator("#at-risk-rows tr").nth(1).locator("td.countdown")
        before = second.text_content()
        assert re.fullmatch(r"in 1\dm \d\ds", before), before
        expect(second).not_to_have_text(before, timeout=5000)  # ticks without a reload
        screenshot(page, "at-risk", tmp_path)


def test_case_page_offers_the_retry_to_a_token_that_may(api_url: str, tmp_path: Path) -> None:
    with browser_page(tmp_path / "profile-read") as page:
        sign_in(page, api_url, token=READ_ONLY, route="case/H-FAILED")
        page.wait_for_selector("#case-compensations .pill:text('发放失败')")
        assert page.locator("#case-compensations button").count() == 0
    with browser_page(tmp_path / "profile") as page:
        sign_in(page, api_url, route="case/H-FAILED")
        page.wait_for_selector("#case-timeline li.event")
        events = page.locator("#case-timeline li.event")
        assert events.count() == 2
        late = events.nth(1)
        assert "(+45m 00s)" in late.locator(".at.late").text_content()  # received 45 min late
        assert "×2 received" in late.text_content()
        screenshot(page, "case", tmp_path)
        page.click("#case-compensations button[data-action=retry]")
        page.wait_for_selector("#notice:text('retry compensation')")
        page.wait_for_selector("#case-compensations .pill:text('待发放')")
        assert page.locator("#case-compensations button").count() == 0


# -- against a running stack ---------------------------------------------------------------

FAST_POLICY = """
id = "e2e-fast"
effective_from = {effective_from}
description = "test policy: a response within seconds"
grace_seconds = 1
at_risk_ratio = 0.4

[calendar]
tz = "Asia/Shanghai"
mode = "wallclock"

[eligibility]
categories = ["furniture"]
cities = "*"

[[eligibility.rules]]
categories = ["furniture"]
services = ["delivery_and_installation"]

[metrics.response]
hours = {hours}
clock = "wall_clock"
penalty = {{ rule = "fixed", points = 5000 }}

[metrics.resolution]
hours = 48
clock = "wall_clock"
penalty = {{ rule = "fixed", points = 30000 }}
"""
# Long enough that, on a loaded machine, the case is found and opened before its response
# deadline passes (at 18 s the first countdown on the page was sometimes the resolution's).
RESPONSE_SECONDS = 36  # 0.01 h: policies take whole microseconds


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[RunningStack]:
    policy = tmp_path / "fast.toml"
    since = (datetime.now(SH) - timedelta(days=1)).replace(microsecond=0).isoformat()
    policy.write_text(FAST_POLICY.format(effective_from=since, hours=RESPONSE_SECONDS / 3600))
    home = tmp_path / "home"
    running = RunningStack(home, clean_env(home, SLAMON_POLICY=str(policy)))
    yield running
    running.stop()


def test_a_case_sent_seconds_before_is_found_opened_and_breached(
    stack: RunningStack, tmp_path: Path
) -> None:
    stack.wait_healthy()
    opened_at = datetime.now(SH) - timedelta(seconds=2)
    event = {
        "event_id": "e-browser-1", "type": "help.opened", "case_id": "H-BROWSER-1",
        "occurred_at": opened_at.isoformat(), "order_id": "O-BROWSER-1",
        "buyer_account": "tb_browser", "merchant_id": "M-BROWSER", "provider_id": "P1",
        "city": "杭州", "category": "家装家具", "services": ["送货入户并安装"],
    }
    sent = stack.run("send", "-", stdin=json.dumps(event, ensure_ascii=False) + "\n")
    assert sent.returncode == 0, sent.stderr
    with browser_page(tmp_path / "profile") as page:
        sign_in(page, stack.api_url, token=stack.token())
        # By order id: the case shows up once the worker has recorded it.
        for _ in range(20):
            page.fill("#search-input", "O-BROWSER-1")
            page.click("#search-form button")
            page.wait_for_selector("#search-results tr")
            if page.locator("#search-results a:text-is('H-BROWSER-1')").count():
                break
            time.sleep(0.5)
        row = page.locator("#search-results tr").first
        assert "order_id" in row.text_content()
        screenshot(page, "search", tmp_path)
        page.click("#search-results a:text-is('H-BROWSER-1')")
        page.wait_for_selector("#case-id:text('H-BROWSER-1')")
        countdown = page.locator("#case-deadlines td.countdown").first
        countdown.wait_for()
        assert countdown.text_content().startswith("in "), countdown.text_content()
        assert page.locator("#case-breaches tr.empty").count() == 1
        # The response is due RESPONSE_SECONDS after opening; judged 1 s later; the page
        # refreshes every 5 s. The breach, its payment and the judged deadline appear without
        # a reload.
        page.wait_for_selector("#case-breaches td:text('response 响应')", timeout=70_000)
        page.wait_for_selector("#case-deadlines .pill.breached")
        page.wait_for_selector("#case-compensations .pill:text('已发放')", timeout=20_000)
        history = page.text_content("#case-compensations td.attempts")
        assert "issued" in history and "owed since" in history
        screenshot(page, "case-breached", tmp_path)
    case = stack.case("H-BROWSER-1")
    assert case is not None
    [breach] = case["breaches"]
    assert breach["kind"] == "response" and breach["points"] == 5000


def _shanghai_minute(page: Any, selector: str) -> str:
    # The instant printed is now in Shanghai, to the second; compare what the page shows.
    shown = page.text_content(selector).removeprefix("updated ")
    now = datetime.now(SH)
    assert shown[:5] == now.strftime("%m-%d"), shown
    assert abs(int(shown[6:8]) - now.hour) in (0, 23), shown
    return shown


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    started = time.monotonic()
    while time.monotonic() - started < 30:
        if process.poll() is not None:
            raise AssertionError(f"slamon api exited:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"no /healthz within 30s:\n{log.read_text(errors='replace')}")
