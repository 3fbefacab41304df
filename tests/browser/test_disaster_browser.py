"""Disaster mode in real Chromium on `cityhall run`: 危機管理課 (`bousai`) starts disaster mode from
the notices dashboard, confirming with a reason; the resident's simulator shows the disaster menu
(避難所・安否確認・災害情報・問い合わせ) without a message arriving, and its 問い合わせ tile answers;
ending disaster mode brings the main menu back. Screenshots: notify-disaster.png,
simulator-disaster-menu.png.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from . import test_notices_browser
from .conftest import screenshot
from .test_certificates_browser import Embedded, Simulator, new_page
from .test_notices_browser import log_in

pytestmark = pytest.mark.timeout(600)


embedded = test_notices_browser.embedded  # a `cityhall run` of this module's own


def test_bousai_switches_every_residents_menu_to_the_disaster_menu_and_back(
    embedded: Embedded, browser: Browser
) -> None:
    resident_context, phone = new_page(browser)
    staff_context, desk = new_page(browser, width=1280)
    try:
        sim = Simulator(phone, embedded.url)
        sim.open("港 太郎")
        menu = phone.locator("#rich-menu-areas")
        expect(menu.get_by_role("button", name="証明書")).to_be_attached()

        log_in(desk, embedded, "bousai")
        expect(desk.locator("#disaster-mode")).to_contain_text("災害モード：通常")
        desk.get_by_role("link", name="災害モードを開始する").click()
        expect(
            desk.get_by_text("すべての方のLINEのメニューが災害用のメニューに切り替わります")
        ).to_be_visible()
        desk.get_by_label("理由（記録に残ります。例：大雨特別警報の発表）").fill("大雨特別警報の発表")
        desk.get_by_role("button", name="災害モードを開始する").click()
        expect(desk.locator("#disaster-mode")).to_contain_text("災害モード中")
        expect(desk.locator("#disaster-mode")).to_contain_text("大雨特別警報の発表")
        screenshot(desk, "notify-disaster.png")

        # No message arrives: the simulator looks at the menu again by itself, as LINE shows it.
        expect(menu.get_by_role("button", name="安否確認")).to_be_attached(timeout=30_000)
        for label in ("避難所", "災害情報", "問い合わせ"):
            expect(menu.get_by_role("button", name=label)).to_be_attached()
        expect(phone.locator("#rich-menu-label")).to_have_text("災害時メニュー")
        menu.get_by_role("button", name="問い合わせ").click()
        sim.wait_for("災害対策本部 電話相談窓口")
        screenshot(phone, "simulator-disaster-menu.png")

        desk.get_by_role("link", name="災害モードを終了する").click()
        desk.get_by_label("理由（記録に残ります。例：大雨特別警報の発表）").fill("警報の解除")
        desk.get_by_role("button", name="災害モードを終了する").click()
        expect(desk.locator("#disaster-mode")).to_contain_text("災害モード：通常")
        expect(menu.get_by_role("button", name="証明書")).to_be_attached(timeout=30_000)
    finally:
        resident_context.close()
        staff_context.close()
    for page in (phone, desk):
        assert page.cityhall_errors == []  # type: ignore[attr-defined]
