"""Real Chromium (Debian's, installed by `make setup-browser`) driven by Playwright.

Playwright never downloads a browser here: it launches /usr/bin/chromium.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = os.environ.get("CITYHALL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Module scope, not session: Playwright's sync API keeps an event loop running in this
    # thread while it is open, and pytest-asyncio cannot run async tests under it.
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: run `make setup-browser` (Debian's chromium and fonts-noto-cjk)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


def record_errors(page: Page) -> list[str]:
    """The page's JavaScript errors and what its Content-Security-Policy blocked (Chromium
    reports that on the console), as they happen: a test asserts the list stays empty."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    return errors


def _page(browser: Browser, width: int, height: int) -> Iterator[Page]:
    context = browser.new_context(
        locale="ja-JP",
        timezone_id="Asia/Tokyo",
        viewport={"width": width, "height": height},
        device_scale_factor=1,
    )
    context.set_default_timeout(15_000)
    opened = context.new_page()
    errors = record_errors(opened)
    yield opened
    context.close()
    assert errors == [], f"JavaScript errors or CSP violations on the page: {errors}"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    yield from _page(browser, 1040, 900)


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    """A page at a phone's viewport (390 × 844 CSS pixels)."""
    yield from _page(browser, 390, 844)


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path))
    return path
