"""通報 in real Chromium on `cityhall run`: a resident reports a pothole in the simulator with a
photo and a location picked on the town's map and gets a receipt; a second resident reporting
the same hole is offered the first report and subscribes to it; the clerk of 道路管理課 logs in
with the printed demo account, accepts the report and resolves it with an after-photo; both
residents see it in their chat; the public map shows it. Screenshots: simulator-report.png,
simulator-report-duplicate.png, reports-dashboard.png, reports-report.png, reports-public-map.png.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import Browser, expect

from .conftest import screenshot
from .embedded import embedded_run
from .test_certificates_browser import Embedded, Simulator, new_page

pytestmark = pytest.mark.timeout(600)

COMMENT = "市役所前の横断歩道の手前に、深さ10cmほどの穴があります。"


def picture(colour: tuple[int, int, int], label: str) -> bytes:
    image = Image.new("RGB", (800, 600), colour)
    ImageDraw.Draw(image).rectangle((200, 200, 600, 400), outline=(250, 250, 250), width=12)
    ImageDraw.Draw(image).text((220, 220), label, fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Embedded]:
    tmp = tmp_path_factory.mktemp("reports-run")
    with embedded_run(tmp / "data", tmp / "cityhall-run.log") as url:
        yield Embedded(url, tmp / "data")


def to_location(sim: Simulator) -> None:
    sim.page.locator("#rich-menu-areas").get_by_role("button", name="通報").click()
    sim.wait_for("通報の種類を下からお選びください")
    sim.quick_reply("道路の穴・陥没", then="写真を1〜3枚お送りください")
    sim.page.locator("#photo-input").set_input_files(
        files=[{"name": "pothole.jpg", "mimeType": "image/jpeg", "buffer": picture((70, 70, 70), "pothole")}]
    )
    sim.wait_for("写真を受け取りました（1/3枚）")
    sim.quick_reply("次へ", then="位置情報でお送りください")
    sim.quick.get_by_role("button", name="位置情報を送る", exact=True).click()
    dialog = sim.page.locator("#location-dialog")
    expect(dialog).to_be_visible()
    dialog.locator("#place-list").get_by_role("button", name=re.compile("ポケット市役所")).click()
    dialog.get_by_role("button", name="この場所を送信").click()


def test_a_resident_reports_a_neighbour_subscribes_and_the_clerk_resolves_it(
    embedded: Embedded, browser: Browser
) -> None:
    first_context, phone = new_page(browser)
    second_context, other = new_page(browser)
    clerk_context, desk = new_page(browser, width=1280)
    try:
        sim = Simulator(phone, embedded.url)
        sim.open("高橋 美咲")
        to_location(sim)
        sim.wait_for("補足があれば")
        sim.type(COMMENT, then="通報内容の確認")
        sim.button("送信", within="通報内容の確認").click()
        sim.wait_for("受付番号")
        received = sim.chat.locator(".msg.theirs", has_text="受付番号").last.inner_text()
        number = re.search(r"R-[0-9A-F]{8}", received)
        assert number is not None
        screenshot(phone, "simulator-report.png")

        desk.goto(f"{embedded.url}/staff/reports/")
        expect(desk).to_have_url(re.compile(r"/staff/login\?next="))
        desk.get_by_label("ユーザー名").fill("roads-clerk")
        desk.get_by_label("パスワード").fill(embedded.password("roads-clerk"))
        desk.get_by_role("button", name="ログイン").click()
        expect(desk.get_by_role("heading", level=1)).to_contain_text("道路管理課")
        row = desk.locator("#queue tr", has_text=number.group(0))
        expect(row).to_be_visible(timeout=30_000)
        screenshot(desk, "reports-dashboard.png")

        neighbour = Simulator(other, embedded.url)
        neighbour.open("中村 健")
        to_location(neighbour)
        neighbour.wait_for("この通報と同じですか？")
        screenshot(other, "simulator-report-duplicate.png")
        neighbour.quick_reply(f"{number.group(0)}と同じ", then="同じ件として承りました")

        desk.get_by_role("link", name=number.group(0)).click()
        expect(desk.get_by_role("heading", level=1)).to_contain_text(number.group(0))
        expect(desk.locator("main")).to_contain_text(COMMENT)
        photo = desk.get_by_role("img", name="通報の写真 1")
        expect(photo).to_be_visible()
        assert photo.evaluate("img => img.decode().then(() => img.naturalWidth)") == 320  # the thumbnail
        desk.get_by_role("button", name="受付（内容を確認した）").click()
        expect(desk.get_by_role("status")).to_have_text("記録しました。")
        sim.wait_for("内容を確認しました")
        desk.get_by_label("対応内容（LINEで通報者に届きます）").fill("穴を埋めて舗装しました。")
        desk.get_by_label("対応後の写真（JPEG・PNG、10MBまで）").set_input_files(
            files=[{"name": "after.jpg", "mimeType": "image/jpeg", "buffer": picture((40, 110, 60), "fixed")}]
        )
        desk.get_by_role("button", name="対応済みにする").click()
        expect(desk.get_by_role("status")).to_have_text("記録しました。")
        expect(desk.get_by_role("img", name="対応後の写真")).to_be_visible()
        screenshot(desk, "reports-report.png")

        sim.wait_for("対応に満足されましたか？")
        neighbour.wait_for("穴を埋めて舗装しました。")
        expect(sim.chat.locator(".msg.theirs img").last).to_be_visible()
        sim.quick_reply("満足", then="ご回答ありがとうございました")

        phone.goto(f"{embedded.url}/reports/map")
        table_row = phone.locator("tr", has_text=number.group(0))
        expect(table_row).to_contain_text("対応済み", timeout=30_000)
        expect(phone.locator("main")).not_to_contain_text("高橋")
        screenshot(phone, "reports-public-map.png")
    finally:
        first_context.close()
        second_context.close()
        clerk_context.close()
    for page in (phone, other, desk):
        assert page.cityhall_errors == []  # type: ignore[attr-defined]
