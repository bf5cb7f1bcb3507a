"""The dashboard in a real browser: headless Chromium against `slamon api` on a seeded database.

Runs only where Debian's ``chromium`` is installed (a browser is not a service CI provides, so
it is skipped rather than failed without one).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from slamon.embedded_redis import free_port
from slamon.models.db.engine import create_db_engine
from slamon.models.db.migrate import upgrade
from tests.e2e.stack import SLAMON, clean_env
from tests.support.ops_rows import OpsRows

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# A "+" that a form-style decoder would turn into a space: the page must keep it.
TOKEN = "browser+test-token-0123456789abcdef"
M = timedelta(minutes=1)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed"),
]


@pytest.fixture
def api_url(tmp_path: Path) -> Iterator[str]:
    """`slamon api` on a database holding a few cases, deadlines and breaches."""
    database_url = f"sqlite:///{tmp_path / 'slamon.db'}"
    engine = create_db_engine(database_url)
    upgrade(engine)
    seed(OpsRows(engine, datetime.now(UTC)))
    engine.dispose()
    port = free_port()
    env = clean_env(tmp_path / "home", SLAMON_DATABASE_URL=database_url, SLAMON_API_TOKEN=TOKEN)
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
    """3 open violations out of 5 breaches; 4 pending deadlines, 1 of them overdue."""
    for i, status in enumerate(["open", "settled", "open", "contested", "open"]):
        case_id = rows.case(f"H-BREACH-{i}")
        rows.breach(case_id, "response", (10 + i) * M, timedelta(seconds=2 + i), status)
    for i, due_in in enumerate([-5 * M, 20 * M, 2 * 60 * M, 30 * 60 * M]):
        case_id = rows.case(f"H-PENDING-{i}")
        rows.deadline(case_id, "resolution", due_in)
    rows.case("H-RESOLVED", status="resolved")


def chromium(url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--window-size=1400,1000",
            # Lets the page's fetch and first render finish before the DOM is taken.
            "--virtual-time-budget=5000",
            *extra,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )


def fields(dom: str) -> dict[str, str]:
    return dict(re.findall(r'data-field="(\w+)">([^<]*)<', dom))


def test_dashboard_renders_the_figures(api_url: str, tmp_path: Path) -> None:
    shown = chromium(f"{api_url}/#token={TOKEN}", tmp_path / "profile-1", "--dump-dom")
    assert shown.returncode == 0, shown.stderr
    dom = shown.stdout
    values = fields(dom)
    assert values["violations"] == "3"
    assert values["pending"] == "4"
    assert values["overdue"] == "1"
    assert values["due_next_hour"] == "1"
    assert values["lag_n"] == "5"
    assert values["lag_p50"] == "4.0 s"
    assert 'id="state" class="state live"' in dom
    for i in range(5):
        assert f">H-BREACH-{i}<" in dom
    assert ">H-PENDING-0<" in dom
    assert re.search(r'<section id="login"[^>]*hidden', dom)

    png = tmp_path / "dashboard.png"
    taken = chromium(f"{api_url}/#token={TOKEN}", tmp_path / "profile-2", f"--screenshot={png}")
    assert taken.returncode == 0, taken.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_without_a_token_the_page_shows_no_data(api_url: str, tmp_path: Path) -> None:
    shown = chromium(f"{api_url}/", tmp_path / "profile", "--dump-dom")
    assert shown.returncode == 0, shown.stderr
    dom = shown.stdout
    assert re.search(r'<div id="content"[^>]*hidden', dom)
    assert not re.search(r'<section id="login"[^>]*hidden', dom)
    assert set(fields(dom).values()) == {"–"}
    assert "H-BREACH-0" not in dom


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
