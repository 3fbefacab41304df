"""Disaster mode in real Chromium on `cityhall run`: 危機管理課 (`bousai`) starts disaster mode from
the notices dashboard, confirming with a reason; the resident's simulator shows the disaster menu
(避難所・安否確認・災害情報・問い合わせ) without a message arriving, and its 問い合わせ tile answers;
ending disaster mode brings the main menu back. 安否確認: an admin sends a safety check to two
districts; in the simulator one resident answers 無事です, another 支援が必要です with a note and the
place they are at; the admin sees the answers counted per district and who needs help, with the
note and the place. Screenshots: notify-disaster.png, simulator-disaster-menu.png,
simulator-safety.png, notify-safety.png.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from . import test_notices_browser
from .conftest import screenshot
from .test_certificates_browser import Embedded, Simulator, new_page
from .test_notices_browser import log_in, settled

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


def test_residents_answer_a_safety_check_and_staff_see_the_counts_and_who_needs_help(
    embedded: Embedded, browser: Browser
) -> None:
    safe_context, safe_phone = new_page(browser)
    help_context, help_phone = new_page(browser)
    staff_context, desk = new_page(browser, width=1280)
    note = "足をけがして歩けません。水と常備薬が必要です。"
    try:
        safe = settled(safe_phone, embedded, "北 一郎", "北町", "中央小学校区")
        safe.quick_reply("終了", then="配信設定を保存しました")
        needing = settled(help_phone, embedded, "南 花子", "南町", "東小学校区")
        needing.quick_reply("終了", then="配信設定を保存しました")

        log_in(desk, embedded, "notify-admin")
        desk.get_by_role("link", name="安否確認").click()
        desk.get_by_label("件名（例：大雨による浸水）").fill("大雨による浸水")
        desk.get_by_label("北町").check()
        desk.get_by_label("南町").check()
        desk.get_by_role("button", name="安否確認を送る").click()
        expect(desk.get_by_role("heading", name="安否確認：大雨による浸水")).to_be_visible()

        safe.wait_for("【安否確認】大雨による浸水")
        safe.quick_reply("無事です", then="ご無事とのご回答を受け付けました")
        needing.wait_for("【安否確認】大雨による浸水")
        needing.quick_reply("支援が必要です", then="支援が必要な方として受け付けました")
        needing.type(note, then="状況を受け付けました")
        help_phone.locator("#rich-menu-bar").click()  # the menu folded: the whole answer in view
        expect(help_phone.locator("#rich-menu-bar")).to_have_attribute("aria-expanded", "false")
        needing.chat.locator(".msg.theirs", has_text="状況を受け付けました").scroll_into_view_if_needed()
        screenshot(help_phone, "simulator-safety.png")
        needing.quick.get_by_role("button", name="位置情報を送る", exact=True).click()
        dialog = help_phone.locator("#location-dialog")
        expect(dialog).to_be_visible()
        dialog.locator("#place-list").get_by_role("button", name=re.compile("第一小学校")).click()
        dialog.get_by_role("button", name="この場所を送信").click()
        needing.wait_for("位置情報を受け付けました")
        needing.quick_reply("これで終わる", then="市の職員が順にご連絡します")

        # Each answer is recorded in the transaction that queues its reply: both are in now.
        desk.reload()
        counts = desk.locator("table").first
        expect(counts.locator("tr", has_text="北町").locator("td")).to_have_text(["北町", "1人", "0人"])
        expect(counts.locator("tr", has_text="南町").locator("td")).to_have_text(["南町", "0人", "1人"])
        expect(desk.get_by_text("届いた方：2人")).to_be_visible()
        helping = desk.locator("table").nth(1).locator("tbody tr")
        expect(helping).to_have_count(1)  # the resident who is safe is not listed
        expect(helping.locator("td").nth(0)).to_have_text("南町")
        expect(helping.locator("td").nth(1)).to_have_text(note)
        expect(helping.locator("td").nth(2)).to_contain_text("南町3-2")
        screenshot(desk, "notify-safety.png")
    finally:
        for context in (safe_context, help_context, staff_context):
            context.close()
    for page in (safe_phone, help_phone, desk):
        assert page.cityhall_errors == []  # type: ignore[attr-defined]
