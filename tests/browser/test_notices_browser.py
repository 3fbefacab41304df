"""Notices in real Chromium on `cityhall run`: a resident sets their 配信設定 in the simulator
(district, English); an author builds a segment and sees the audience counted as they edit it,
writes the notice as an イベント案内 card with an English variant and an image, and checks the
preview (as LINE shows it); an approver (another person) approves and watches the progress; the
resident gets the English card with the image, and a resident of another district gets nothing.
Screenshots: simulator-settings.png, notify-composer.png, notify-progress.png."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from .conftest import screenshot
from .embedded import embedded_run
from .test_certificates_browser import Embedded, Simulator, new_page

pytestmark = pytest.mark.timeout(600)

ENGLISH = "The summer festival is on Saturday at Higashi Park."


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Embedded]:
    tmp = tmp_path_factory.mktemp("notices-run")
    with embedded_run(tmp / "data", tmp / "cityhall-run.log") as url:
        yield Embedded(url, tmp / "data")


def poster() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (800, 600), (40, 120, 200)).save(out, "PNG")
    return out.getvalue()


def log_in(page: Page, embedded: Embedded, username: str) -> None:
    page.goto(f"{embedded.url}/staff/notices/")
    expect(page).to_have_url(re.compile(r"/staff/login\?next="))
    page.get_by_label("ユーザー名").fill(username)
    page.get_by_label("パスワード").fill(embedded.password(username))
    page.get_by_role("button", name="ログイン").click()
    expect(page.get_by_role("heading", name="お知らせ配信", exact=True)).to_be_visible()


def settled(phone: Page, embedded: Embedded, name: str, district: str, school: str) -> Simulator:
    """A new resident who chose their district in 配信設定 (from the rich menu)."""
    sim = Simulator(phone, embedded.url)
    sim.open(name)
    phone.locator("#rich-menu-areas").get_by_role("button", name="配信設定").click()
    sim.wait_for("現在の配信設定です")
    sim.quick_reply("地域", then="町丁目")
    sim.quick_reply(district, then=school)
    return sim


def test_a_notice_reaches_the_residents_its_segment_and_language_say(
    embedded: Embedded, browser: Browser
) -> None:
    resident_context, phone = new_page(browser)
    other_context, other_phone = new_page(browser)
    author_context, desk = new_page(browser, width=1280)
    approver_context, approval = new_page(browser, width=1280)
    try:
        sim = settled(phone, embedded, "東 花子", "東町", "東小学校区")
        sim.quick_reply("言語", then="言語をお選びください")
        sim.quick_reply("English", then="言語を「English」にしました")
        screenshot(phone, "simulator-settings.png")
        sim.quick_reply("終了", then="配信設定を保存しました")
        elsewhere = settled(other_phone, embedded, "西 次郎", "西町", "西小学校区")

        log_in(desk, embedded, "notify-author")
        desk.get_by_role("link", name="お知らせを作成する").click()
        desk.locator("#f-title").fill("夏まつり")
        desk.get_by_label("お知らせの種類（配信停止した方には届きません）").select_option("event")
        audience = desk.locator("#audience")
        expect(audience).to_contain_text("対象者：2人")  # no condition yet: everyone
        desk.get_by_role("button", name="条件を追加する").click()
        desk.locator(".segment-row").first.get_by_label("東町").check()
        expect(audience).to_contain_text("対象者：1人")  # counted live as the condition changes
        # the month's use against the plan, and this send's cost beyond its free messages
        expect(desk.locator("#quota")).to_contain_text("この配信は無料分に収まります（追加料金なし）")
        desk.get_by_label("本文（日本語）").fill("土曜日に東公園で夏まつりを開きます。")
        desk.get_by_label("形式（テンプレートを選ぶと、項目を埋めたカードで届きます）").select_option("event")
        desk.get_by_label("日時（日本語・必須）").fill("8月3日（土）18時から")
        desk.get_by_label("場所（日本語・必須）").fill("東公園")
        desk.locator("summary", has_text="English").click()
        desk.get_by_label("件名（English。空欄なら日本語の件名）").fill("Summer festival")
        desk.get_by_label("本文（English）").fill(ENGLISH)
        desk.get_by_label("場所（English）").fill("Higashi Park")
        desk.get_by_label("画像（任意：JPEGかPNG、10MBまで）").set_input_files(
            files=[{"name": "poster.png", "mimeType": "image/png", "buffer": poster()}]
        )
        expect(desk.locator("#image-status")).to_contain_text("画像を添付しました")
        desk.get_by_label("表示する言語").select_option("en")
        preview = desk.locator("#preview")
        expect(preview).to_contain_text(ENGLISH)  # the card, drawn as LINE shows it
        expect(preview).to_contain_text("Higashi Park")
        expect(preview).to_contain_text("8月3日（土）18時から")  # left blank in English: the Japanese
        expect(preview.locator("img")).to_be_visible()
        desk.locator("#preview-section").scroll_into_view_if_needed()
        screenshot(desk, "notify-composer.png")
        desk.get_by_role("button", name=re.compile("下書きを保存する")).click()
        expect(desk.get_by_role("status")).to_contain_text("別の担当者の承認を待っています")
        expect(desk.get_by_role("button", name="承認して送信する")).to_have_count(0)  # not the author's
        notice_url = desk.url.split("?")[0]

        log_in(approval, embedded, "notify-approver")
        approval.goto(notice_url.replace("/staff/notices/", "/staff/notify/"))  # an old link still works
        expect(approval).to_have_url(notice_url)
        approval.get_by_role("button", name="承認して送信する").click()
        expect(approval.locator("#progress")).to_contain_text("送信を終えました", timeout=30_000)
        expect(approval.locator("#progress")).to_contain_text("1人")
        screenshot(approval, "notify-progress.png")

        sim.wait_for(ENGLISH)
        card = sim.chat.locator(".msg.theirs", has_text=ENGLISH)
        expect(card).to_contain_text("Higashi Park")
        expect(card.locator("img.flex-image")).to_have_count(1)  # the image, as the card's picture
        expect(elsewhere.chat.locator(".msg.theirs", has_text="夏まつり")).to_have_count(0)
    finally:
        for context in (resident_context, other_context, author_context, approver_context):
            context.close()
