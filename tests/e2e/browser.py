"""A real browser for the dashboard tests: Debian's Chromium, driven by Playwright.

No browser is downloaded (``playwright install`` is never run): Playwright launches the
system's ``chromium`` with a fresh profile. Without Chromium or Playwright the tests are
skipped on a developer's machine and fail under ``CI=true`` (``.ci/run`` installs both).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# A laptop's screen.
VIEWPORT = {"width": 1440, "height": 900}
# Where the page screenshots go when SLAMON_SCREENSHOTS is set (docs/ holds the ones README
# shows: `SLAMON_SCREENSHOTS=docs pytest tests/e2e/test_dashboard_browser.py`).
SCREENSHOTS = os.environ.get("SLAMON_SCREENSHOTS")


def require_browser() -> None:
    missing = None
    if CHROMIUM is None:
        missing = "chromium is not installed (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "playwright is not installed (pip install -e '.[dev]')"
    if missing:
        if IN_CI:
            pytest.fail(f"{missing}; CI=true requires it", pytrace=False)
        pytest.skip(missing)


@contextmanager
def browser_page(profile: Path) -> Iterator[Any]:
    """A page in a fresh headless Chromium; page errors fail the test when the block ends."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport=VIEWPORT, locale="zh-CN", timezone_id="Europe/London",
        )
        errors: list[str] = []
        try:
            page = context.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            # A refused request logs "Failed to load resource"; the tests check those answers.
            page.on("console", lambda m: errors.append(m.text)
                    if m.type == "error" and not m.text.startswith("Failed to load") else None)
            yield page
        finally:
            context.close()
        assert errors == [], errors


def screenshot(page: Any, name: str, tmp_path: Path) -> Path:
    """A PNG of the page; into SLAMON_SCREENSHOTS as well when it is set."""
    target = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    path = target / f"dashboard-{name}.png"
    page.screenshot(path=str(path), full_page=False)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return path
