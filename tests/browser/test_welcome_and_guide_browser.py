"""A new friend is welcomed and 使い方 brings the guide: `cityhall run`, open the simulator,
follow, the welcome arrives; tap 使い方 and the guide arrives. The whole embedded system runs as a subprocess (its own
Postgres in a temporary data directory, a free port), driven in real Chromium.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from .conftest import screenshot
from .embedded import embedded_run


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[str]:
    with embedded_run(tmp_path / "data", tmp_path / "cityhall-run.log") as url:
        yield url


def test_follow_see_the_welcome_and_tap_the_guide(embedded: str, page: Page) -> None:
    chat = page.locator("#chat")
    page.goto(embedded)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    page.get_by_label("新しい住民の表示名").fill("山田 花子")
    page.get_by_role("button", name="作成").click()
    expect(page.locator("#resident-badge")).to_contain_text("山田 花子")
    user_id = page.evaluate("location.hash.slice(1)")

    page.locator("#follow-button").click()
    expect(chat.locator(".system-line")).to_have_text(["友だち追加しました"])
    expect(page.locator("#error-banner")).to_be_hidden()
    welcome = chat.locator(".msg.theirs").first
    expect(welcome).to_contain_text("友だち追加ありがとうございます。", timeout=30_000)
    quick = page.locator("#quick-replies")
    expect(quick.get_by_role("button", name="使い方")).to_be_visible()
    # The gateway installs the default rich menu at start; the page shows it from the emulator.
    expect(page.locator("#rich-menu-image")).to_be_visible()
    expect(page.locator("#rich-menu-areas").get_by_role("button")).to_have_count(8)
    expect(page.locator("#rich-menu-image")).to_have_attribute(
        "alt", re.compile(r"^リッチメニュー：証明書・[^A-Za-z]+$")
    )
    chat.evaluate("c => { c.scrollTop = 0; }")  # the follow line and the start of the welcome
    screenshot(page, "simulator-welcome.png")

    quick.get_by_role("button", name="使い方").click()
    expect(chat.locator(".msg.own .bubble").last).to_have_text("使い方")
    expect(chat.locator(".msg.theirs").last).to_contain_text("使い方のご案内です。", timeout=30_000)
    expect(page.locator("#error-banner")).to_be_hidden()
    chat.locator(".msg.own").last.evaluate("row => row.scrollIntoView({block: 'start'})")
    screenshot(page, "simulator-guide.png")

    # A sticker from the sticker panel: the gateway takes LINE's sticker event (既読, no banner).
    page.get_by_role("button", name="スタンプを送る").click()
    page.locator("#sticker-panel").get_by_role("button").first.click()
    expect(chat.locator(".msg.own .sticker").last).to_be_visible()
    expect(chat.locator(".msg.own .meta").last).to_contain_text("既読")
    expect(page.locator("#error-banner")).to_be_hidden()

    # Each arrived once at the emulator (the account replied with the simulator's reply tokens).
    delivered = httpx.get(f"{embedded}/line-api/_inspect/messages", params={"to": user_id}, timeout=10).json()
    texts = [m["message"].get("text", "") for m in delivered["messages"]]
    assert sum("友だち追加ありがとうございます" in t for t in texts) == 1
    assert sum("使い方のご案内です" in t for t in texts) == 1
    assert {m["endpoint"] for m in delivered["messages"]} == {"reply"}
