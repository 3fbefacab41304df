"""粗大ごみ in real Chromium on `cityhall run`: a resident types what they put out in the
simulator, picks the items and 北町's pickup day, pays on the simulated provider's page and gets
the 受付番号; 環境課's clerk logs in with the printed demo account and sees the day's pickups with
their items, fee and payment. Screenshots: simulator-bulky.png, reservations-bulky.png.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Browser, expect

from cityhall.reservations import catalogue
from cityhall.reservations.catalogue import SlotRef
from cityhall.reservations.messages import day_label

from .conftest import screenshot
from .embedded import embedded_run
from .test_certificates_browser import Embedded, Simulator, new_page

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Embedded]:
    tmp = tmp_path_factory.mktemp("bulky-run")
    with embedded_run(tmp / "data", tmp / "cityhall-run.log") as url:
        yield Embedded(url, tmp / "data")


def test_a_resident_pays_for_a_pickup_and_the_clerk_sees_it_on_the_day(
    embedded: Embedded, browser: Browser
) -> None:
    booked = catalogue.load()
    kita = booked.resource("sodai_kita")
    assert kita is not None
    day = booked.bookable_days(kita, datetime.now(UTC))[0]
    [start] = booked.slots_on(kita, day)
    resident_context, phone = new_page(browser)
    clerk_context, desk = new_page(browser, width=1280)
    try:
        sim = Simulator(phone, embedded.url)
        sim.open("佐藤 健")
        phone.locator("#rich-menu-areas").get_by_role("button", name="予約").click()
        sim.wait_for("ご希望の種類")
        sim.quick_reply("粗大ごみ収集", then="収集にうかがう地区")
        sim.quick_reply("北町", then="丁目・番地と、建物名")
        sim.type("2丁目3-4 コーポ北町101号室", then="ご連絡のつく電話番号")
        sim.type("090-1234-5678", then="出すものの名前")
        sim.type("ソファ", then="「ソファ」の品目")
        sim.quick_reply("ソファ（2人掛け以上） 1,000円", then="いくつ出しますか")
        sim.quick_reply("1点", then="合計 1,000円")
        sim.type("じてんしゃ", then="「じてんしゃ」の品目")
        sim.quick_reply("自転車 500円", then="いくつ出しますか")
        sim.quick_reply("2点", then="合計 2,000円")
        sim.quick_reply("収集日を選ぶ", then="ご希望の日をお選びください")
        carousel = sim.chat.locator(".msg.theirs").last
        carousel.get_by_role("button", name=re.compile("^" + re.escape(day_label(day)))).click()
        sim.wait_for("粗大ごみ収集の確認")
        sim.button("確定して支払う", within="粗大ごみ収集の確認").click()
        sim.wait_for("手数料2,000円をお支払いください")
        with resident_context.expect_page() as opened:
            sim.button("支払う", within="お支払い期限").click()
        checkout = opened.value
        checkout.wait_for_load_state()
        expect(checkout.locator("#amount")).to_have_text("2,000円")
        checkout.get_by_role("button", name="2,000円を支払う").click()
        expect(checkout.locator("#result")).to_have_text("お支払いが完了しました。")
        checkout.close()
        sim.wait_for("粗大ごみ収集の受付完了")
        told = sim.chat.locator(".msg.theirs", has_text="受付番号は").last.inner_text()
        number = re.search(r"R-[0-9A-F]{8}", told)
        assert number is not None
        screenshot(phone, "simulator-bulky.png")

        desk.goto(f"{embedded.url}/staff/reservations/")
        expect(desk).to_have_url(re.compile(r"/staff/login\?next="))
        desk.get_by_label("ユーザー名").fill("gomi-clerk")
        desk.get_by_label("パスワード").fill(embedded.password("gomi-clerk"))
        desk.get_by_role("button", name="ログイン").click()
        expect(desk.get_by_role("heading", name="予約カレンダー")).to_be_visible()
        slot = f"{embedded.url}/staff/reservations/slots/sodai_kita/{SlotRef(kita.code, start).stamp}"
        deadline = time.monotonic() + 30
        while True:  # the page as the read models have it: reloaded until they have the payment
            desk.goto(slot)
            if "支払済み" in desk.locator("main").inner_text() or time.monotonic() > deadline:
                break
        main = desk.locator("main")
        expect(main).to_contain_text(number.group(0))
        expect(main).to_contain_text("ソファ（2人掛け以上）×1、自転車×2")
        expect(main).to_contain_text("支払済み")
        screenshot(desk, "reservations-bulky.png")
    finally:
        resident_context.close()
        clerk_context.close()
    for page in (phone, desk):
        assert page.cityhall_errors == []  # type: ignore[attr-defined]
