"""予約 in real Chromium on `cityhall run`: a resident taps the tile in the simulator, picks the
公民館 会議室, a day in the carousel and a time, answers the question and confirms; the clerk of
中央公民館 logs in with the printed demo account, finds the booking on the day's calendar and in
the slot's attendee list, and moves it with a reason; the resident sees the move in the chat, then
cancels the booking from 予約確認. Screenshots: simulator-reservations.png,
reservations-calendar.png, reservations-slot.png.
"""

from __future__ import annotations

import re
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
    tmp = tmp_path_factory.mktemp("reservations-run")
    with embedded_run(tmp / "data", tmp / "cityhall-run.log") as url:
        yield Embedded(url, tmp / "data")


def test_a_resident_books_a_clerk_moves_it_and_the_resident_cancels(
    embedded: Embedded, browser: Browser
) -> None:
    rooms = catalogue.load()
    room = rooms.resource("kominkan_room")
    assert room is not None
    now = datetime.now(UTC)
    day = next(d for d in rooms.bookable_days(room, now) if (d - now.date()).days >= 5)
    first, *_, last = rooms.bookable_slots(room, day, now)
    resident_context, phone = new_page(browser)
    clerk_context, desk = new_page(browser, width=1280)
    try:
        sim = Simulator(phone, embedded.url)
        sim.open("鈴木 美咲")
        phone.locator("#rich-menu-areas").get_by_role("button", name="予約").click()
        sim.wait_for("ご希望の種類")
        sim.quick_reply("施設", then="ご希望のものをお選びください")
        sim.quick_reply("公民館 会議室", then="ご希望の日をお選びください")
        carousel = sim.chat.locator(".msg.theirs").last
        carousel.get_by_role("button", name=re.compile("^" + re.escape(day_label(day)))).click()
        sim.wait_for("ご希望の時間")
        sim.quick.get_by_role("button", name=re.compile(f"^{first.hour}:{first.minute:02} ")).click()
        sim.wait_for("利用される人数")
        sim.type("12", then="予約内容の確認")
        sim.button("確定", within="予約内容の確認").click()
        sim.wait_for("予約が完了しました")
        booked = sim.chat.locator(".msg.theirs", has_text="ご予約を承りました").last.inner_text()
        number = re.search(r"R-[0-9A-F]{8}", booked)
        assert number is not None
        screenshot(phone, "simulator-reservations.png")

        desk.goto(f"{embedded.url}/staff/reservations/")
        expect(desk).to_have_url(re.compile(r"/staff/login\?next="))
        desk.get_by_label("ユーザー名").fill("kominkan-clerk")
        desk.get_by_label("パスワード").fill(embedded.password("kominkan-clerk"))
        desk.get_by_role("button", name="ログイン").click()
        expect(desk.get_by_role("heading", name="予約カレンダー")).to_be_visible()
        desk.goto(f"{embedded.url}/staff/reservations/resources/kominkan_room?day={day.isoformat()}")
        row = desk.locator("#calendar tr", has_text=f"{first.hour}:{first.minute:02}").first
        expect(row).to_contain_text("1 / 1", timeout=30_000)
        screenshot(desk, "reservations-calendar.png")

        row.get_by_role("link").click()
        expect(desk.locator("main")).to_contain_text(number.group(0))
        expect(desk.locator("main")).to_contain_text("12人")
        screenshot(desk, "reservations-slot.png")
        moving = desk.locator("form", has=desk.get_by_role("button", name="移動する"))
        moving.get_by_label("移動先").select_option(SlotRef(room.code, last).stamp)
        moving.get_by_label("移動の理由（ご本人に届きます）").fill("空調設備の点検のため")
        moving.get_by_role("button", name="移動する").click()
        expect(desk.get_by_role("status")).to_contain_text("予約をこの枠に移し")
        sim.wait_for("空調設備の点検のため")

        phone.locator("#rich-menu-areas").get_by_role("button", name="予約").click()
        sim.wait_for("ご希望の種類")
        sim.quick_reply("予約確認", then="これからのご予約は1件")
        sim.button("キャンセル", within="予約番号").click()
        sim.quick_reply("キャンセルする", then="キャンセルしました")
    finally:
        resident_context.close()
        clerk_context.close()
    for page in (phone, desk):
        assert page.cityhall_errors == []  # type: ignore[attr-defined]
