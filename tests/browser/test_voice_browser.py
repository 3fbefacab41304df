"""市民の声 in real Chromium on `cityhall run`: a resident taps the tile in the simulator, writes an
opinion, picks its category and sends it; the clerk of 広聴広報課 logs in with the printed demo
account, sees it arrive on the dashboard without a reload, opens it and answers; the answer
appears in the resident's chat. Screenshots: simulator-voice.png, voice-dashboard.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from .conftest import screenshot
from .embedded import embedded_run
from .test_certificates_browser import Embedded, Simulator, new_page

pytestmark = pytest.mark.timeout(600)

OPINION = "市民プールの営業時間を、夏休みの間だけでも夜8時まで延ばしていただけると助かります。"
ANSWER = "貴重なご意見をありがとうございます。今夏から、8月の平日は夜8時まで営業いたします。"


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Embedded]:
    tmp = tmp_path_factory.mktemp("voice-run")
    with embedded_run(tmp / "data", tmp / "cityhall-run.log") as url:
        yield Embedded(url, tmp / "data")


def test_a_resident_sends_an_opinion_and_the_clerk_answers_it(embedded: Embedded, browser: Browser) -> None:
    resident_context, phone = new_page(browser)
    clerk_context, desk = new_page(browser, width=1280)
    try:
        sim = Simulator(phone, embedded.url)
        sim.open("佐藤 一郎")
        phone.locator("#rich-menu-areas").get_by_role("button", name="市民の声").click()
        sim.wait_for("文章でお送りください")
        sim.type(OPINION, then="分野を下からお選びください")
        sim.quick_reply("福祉・健康", then="送信してよろしいですか")

        # The clerk's dashboard is open before the opinion is sent: it arrives live.
        desk.goto(f"{embedded.url}/staff/voice/")
        expect(desk).to_have_url(re.compile(r"/staff/login\?next="))
        desk.get_by_label("ユーザー名").fill("voice-clerk")
        desk.get_by_label("パスワード").fill(embedded.password("voice-clerk"))
        desk.get_by_role("button", name="ログイン").click()
        expect(desk.get_by_role("heading", name="市民の声", exact=True)).to_be_visible()

        sim.quick_reply("送信", then="受付番号")
        received = sim.chat.locator(".msg.theirs", has_text="受付番号").last.inner_text()
        number = re.search(r"V-[0-9A-F]{8}", received)
        assert number is not None
        screenshot(phone, "simulator-voice.png")

        row = desk.locator("#opinions tr", has_text=number.group(0))
        expect(row).to_be_visible(timeout=30_000)
        expect(row).to_contain_text("未回答")
        screenshot(desk, "voice-dashboard.png")

        desk.get_by_role("link", name=number.group(0)).click()
        expect(desk.get_by_role("heading", level=1)).to_contain_text(number.group(0))
        expect(desk.locator("main")).to_contain_text(OPINION)
        desk.get_by_label("回答（LINEでご本人に届きます）").fill(ANSWER)
        desk.get_by_role("button", name="回答を送信する").click()
        expect(desk.get_by_role("status")).to_have_text("回答を送信しました。")
        sim.wait_for("今夏から、8月の平日は夜8時まで営業いたします。")
    finally:
        resident_context.close()
        clerk_context.close()
    for page in (phone, desk):
        assert page.cityhall_errors == []  # type: ignore[attr-defined]
