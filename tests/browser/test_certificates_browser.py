"""A certificate from request to post: with `cityhall run`, a resident requests a 住民票 in the
simulator and pays in the simulated checkout; a certificates clerk logs in with the printed demo
account, checks the ID photo, approves, issues and mails; the resident sees each step in LINE. And the same with a
rejection (the reason and the refund reach the resident). Real Chromium on the real embedded run;
the screenshots go to docs/screenshots/.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont
from playwright.sync_api import Browser, BrowserContext, Page, expect

from .conftest import record_errors, screenshot
from .embedded import embedded_run

pytestmark = pytest.mark.timeout(600)


class Embedded:
    def __init__(self, url: str, data_dir: Path) -> None:
        self.url = url
        self.data_dir = data_dir

    def password(self, username: str) -> str:
        """The demo account's password, as `cityhall run` printed it (kept in the data directory)."""
        stored: dict[str, str] = json.loads((self.data_dir / "demo-accounts.json").read_text())
        return stored[username]


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Embedded]:
    """`cityhall run` on a free port, for the module."""
    tmp = tmp_path_factory.mktemp("certificates-run")
    log = tmp / "cityhall-run.log"
    with embedded_run(tmp / "data", log) as url:
        banner = log.read_text()
        assert "cert-clerk" in banner and "/staff/certificates/" in banner, banner[-3000:]
        yield Embedded(url, tmp / "data")


def licence_photo() -> bytes:
    """A stand-in for the front of a driving licence (no real person's document)."""
    image = Image.new("RGB", (640, 400), (236, 242, 232))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((12, 12, 628, 388), radius=24, outline=(46, 110, 70), width=6)
    draw.rectangle((440, 110, 600, 320), fill=(190, 200, 210))
    font = None
    for candidate in (
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    ):
        if Path(candidate).exists():
            font = ImageFont.truetype(candidate, 30)
            break
    lines = ["運転免許証（見本）", "氏名 山田 花子", "昭和60年4月12日生", "ポケット市桜町4-5-6"]
    for i, line in enumerate(lines):
        draw.text(
            (40, 40 + i * 60),
            line if font else line.encode("ascii", "replace").decode(),
            fill=(20, 40, 30),
            font=font,
        )
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=88)
    return out.getvalue()


def new_page(browser: Browser, width: int = 1040) -> tuple[BrowserContext, Page]:
    context = browser.new_context(
        locale="ja-JP",
        timezone_id="Asia/Tokyo",
        viewport={"width": width, "height": 900},
        device_scale_factor=1,
    )
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.cityhall_errors = record_errors(page)  # type: ignore[attr-defined]
    return context, page


@dataclass
class Devices:
    """The resident's phone and the clerk's desk, each a browser context of its own."""

    resident_context: BrowserContext
    phone: Page
    desk: Page


@pytest.fixture
def devices(browser: Browser) -> Iterator[Devices]:
    resident_context, phone = new_page(browser)
    clerk_context, desk = new_page(browser, width=1280)
    try:
        yield Devices(resident_context, phone, desk)
    finally:
        resident_context.close()
        clerk_context.close()
    for page in (phone, desk):
        assert page.cityhall_errors == []  # type: ignore[attr-defined]


class Simulator:
    """The resident's phone: the simulator page."""

    def __init__(self, page: Page, url: str) -> None:
        self.page = page
        self.url = url
        self.chat = page.locator("#chat")
        self.quick = page.locator("#quick-replies")

    def open(self, name: str) -> None:
        page = self.page
        page.goto(self.url)
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        page.get_by_label("新しい住民の表示名").fill(name)
        page.get_by_role("button", name="作成").click()
        expect(page.locator("#resident-badge")).to_contain_text(name)
        page.locator("#follow-button").click()
        expect(self.chat.locator(".msg.theirs").first).to_contain_text(
            "友だち追加ありがとうございます", timeout=30_000
        )

    def last(self) -> object:
        return self.chat.locator(".msg.theirs").last

    def wait_for(self, text: str, timeout: float = 30_000) -> None:
        expect(self.chat.locator(".msg.theirs", has_text=text).last).to_be_visible(timeout=timeout)

    def quick_reply(self, label: str, then: str) -> None:
        self.quick.get_by_role("button", name=label, exact=True).click()
        self.wait_for(then)

    def type(self, text: str, then: str) -> None:
        self.page.locator("#message-input").fill(text)
        self.page.get_by_role("button", name="送信").click()
        self.wait_for(then)

    def button(self, label: str, *, within: str) -> object:
        return self.chat.locator(".msg.theirs", has_text=within).last.get_by_role("button", name=label).first

    def request_certificate(self, photo: bytes) -> None:
        """From the rich menu to the summary."""
        self.page.locator("#rich-menu-areas").get_by_role("button", name="証明書").click()
        self.wait_for("住民票の写し")
        self.button("申請する", within="住民票の写し").click()
        self.wait_for("記載する人の範囲")
        self.quick_reply("本人のみ", then="本籍・筆頭者")
        self.quick_reply("記載なし", then="続柄")
        self.quick_reply("記載あり", then="部数")
        self.quick_reply("2通", then="使用目的")
        self.quick_reply("就職・勤務先への提出", then="お名前")
        self.type("山田 花子", then="生年月日")
        self.type("1985年2月30日", then="という日付は存在しません")
        self.type("1985年4月12日", then="住民登録のある住所の郵便番号")
        self.type("140-0001", then="東京都品川区北品川")
        self.type("4-5-6 さくら荘203", then="電話番号")
        self.type("080-2468-1357", then="本人確認書類の種類")
        self.quick_reply("運転免許証", then="表面を撮影")
        self.page.locator("#photo-input").set_input_files(
            files=[{"name": "licence.jpg", "mimeType": "image/jpeg", "buffer": photo}]
        )
        self.wait_for("申請内容の確認")
        expect(self.chat.locator(".msg.theirs", has_text="申請内容の確認").last).to_contain_text("710円")

    def confirm_and_pay(self, context: BrowserContext, *, shot: str | None = None) -> str:
        """確定, then pay on the checkout page the link opens; returns the request number."""
        self.button("確定", within="申請内容の確認").click()
        self.wait_for("お支払い額")
        number = re.search(
            r"C-[0-9A-F]{8}", self.chat.locator(".msg.theirs", has_text="お支払い額").last.inner_text()
        )
        assert number is not None
        with context.expect_page() as opened:
            self.button("支払う", within="お支払い額").click()
        checkout = opened.value
        checkout.wait_for_load_state()
        expect(checkout.locator("#amount")).to_have_text("710円")
        if shot:
            screenshot(checkout, shot)
        checkout.get_by_role("button", name="710円を支払う").click()
        expect(checkout.locator("#result")).to_have_text("お支払いが完了しました。")
        checkout.close()
        self.wait_for("申請を受け付けました")
        expect(self.chat.locator(".msg.theirs", has_text="申請を受け付けました").last).to_contain_text(
            number.group(0)
        )
        return number.group(0)


class Dashboard:
    """The clerk's browser."""

    def __init__(self, page: Page, url: str) -> None:
        self.page = page
        self.url = url

    def login(self, username: str, password: str) -> None:
        page = self.page
        page.goto(f"{self.url}/staff/certificates/")
        expect(page).to_have_url(re.compile(r"/staff/login\?next="))
        page.get_by_label("ユーザー名").fill(username)
        page.get_by_label("パスワード").fill(password)
        page.get_by_role("button", name="ログイン").click()
        expect(page.get_by_role("heading", name="証明書の申請", exact=True)).to_be_visible()

    def open_request(self, number: str) -> None:
        self.page.get_by_role("link", name=number).click()
        expect(self.page.get_by_role("heading", level=1)).to_contain_text(number)


def test_a_resident_requests_a_juminhyo_and_a_clerk_approves_issues_and_mails(
    embedded: Embedded, devices: Devices
) -> None:
    resident_context, phone, desk = devices.resident_context, devices.phone, devices.desk
    sim = Simulator(phone, embedded.url)
    sim.open("山田 花子")
    sim.request_certificate(licence_photo())
    sim.chat.locator(".msg.theirs", has_text="申請内容の確認").last.scroll_into_view_if_needed()
    screenshot(phone, "simulator-certificate-summary.png")
    # 内容を確認する: the whole request, unmasked, on the town's own server.
    with resident_context.expect_page() as opened:
        sim.button("内容を確認する", within="申請内容の確認").click()
    review = opened.value
    review.wait_for_load_state()
    expect(review.get_by_role("heading", level=1)).to_have_text("申請内容の確認")
    expect(review.locator("main")).to_contain_text("〒140-0001 東京都品川区北品川4-5-6 さくら荘203")
    expect(review.locator("main")).to_contain_text("1985年4月12日")
    review.close()

    clerk = Dashboard(desk, embedded.url)
    clerk.login("cert-clerk", embedded.password("cert-clerk"))
    number = sim.confirm_and_pay(resident_context, shot="payments-checkout.png")

    # The queue updates live (SSE): the paid request appears without a reload.
    row = desk.locator("table[data-queue='identity'] tr", has_text=number)
    expect(row).to_be_visible(timeout=30_000)
    expect(desk.locator("[data-stat='paid']")).not_to_have_text("0件")
    screenshot(desk, "certificates-dashboard.png")

    clerk.open_request(number)
    photo = desk.get_by_role("img", name=re.compile("運転免許証の写真"))
    expect(photo).to_be_visible()
    # decode() settles once the image has loaded: no race with a photo that is visible but loading.
    assert photo.evaluate("img => img.decode().then(() => img.naturalWidth)") == 640
    expect(desk.locator("[data-field='name']")).to_have_text("山田 花子")
    screenshot(desk, "certificates-identity-check.png")

    desk.get_by_role("button", name="本人確認OK（承認する）").click()
    expect(desk.get_by_role("status")).to_contain_text("本人確認を承認しました")
    sim.wait_for("本人確認が完了しました")

    desk.get_by_label("証明書の交付番号").fill("J-2025-000123")
    desk.get_by_role("button", name="発行を記録する").click()
    expect(desk.get_by_role("status")).to_contain_text("発行を記録しました")
    sim.wait_for("を発行しました")
    desk.get_by_label("郵便の追跡番号").fill("1234-5678-9012")
    desk.get_by_role("button", name="発送を記録する").click()
    expect(desk.get_by_role("status")).to_contain_text("発送を記録しました")

    sim.wait_for("郵送しました")
    mailed = sim.chat.locator(".msg.theirs", has_text="郵送しました").last
    expect(mailed).to_contain_text("追跡番号：1234-5678-9012")
    mailed.scroll_into_view_if_needed()
    screenshot(phone, "simulator-certificate-mailed.png")

    # 申請状況 shows it as mailed.
    sim.page.locator("#rich-menu-areas").get_by_role("button", name="証明書").click()
    sim.wait_for("証明書のオンライン申請です")
    sim.quick_reply("申請状況", then="お申し込みいただいた証明書の状況")
    expect(sim.chat.locator(".msg.theirs").last).to_contain_text("発送済み")


def test_a_clerk_rejects_and_the_resident_is_told_the_reason_and_refunded(
    embedded: Embedded, browser: Browser, devices: Devices
) -> None:
    resident_context, phone, desk = devices.resident_context, devices.phone, devices.desk
    sim = Simulator(phone, embedded.url)
    sim.open("佐藤 次郎")
    sim.request_certificate(licence_photo())
    number = sim.confirm_and_pay(resident_context)

    clerk = Dashboard(desk, embedded.url)
    clerk.login("cert-admin", embedded.password("cert-admin"))
    expect(desk.locator("table[data-queue='identity'] tr", has_text=number)).to_be_visible()
    clerk.open_request(number)
    desk.get_by_label("差し戻しの理由").select_option(label="写真が不鮮明で読み取れませんでした")
    desk.get_by_label("申請者への補足（任意）").fill("明るい場所で、文字が読めるように撮り直してください。")
    desk.get_by_role("button", name="差し戻して返金する").click()
    expect(desk.get_by_role("status")).to_contain_text("差し戻しました")
    screenshot(desk, "certificates-rejected.png")

    sim.wait_for("申請をお戻しします")
    told = sim.chat.locator(".msg.theirs", has_text="申請をお戻しします").last
    expect(told).to_contain_text("写真が不鮮明で読み取れませんでした")
    expect(told).to_contain_text("710円は自動で返金します")
    sim.wait_for("返金手続きが完了しました")
    sim.chat.locator(".msg.theirs", has_text="返金手続きが完了しました").last.scroll_into_view_if_needed()
    screenshot(phone, "simulator-certificate-rejected.png")

    # The department's admin reads who looked at what.
    desk.get_by_role("link", name="閲覧記録（管理者）").click()
    expect(desk.get_by_role("heading", name="閲覧記録と操作記録")).to_be_visible()
    expect(desk.locator("tr[data-action='view_personal_data']").first).to_contain_text("証明書係長 渋谷")
    # One view of the request page is one entry: the photo the page showed is part of it.
    views = desk.locator("tr[data-action='view_personal_data']")
    expect(views.first).to_contain_text("本人確認書類の写真")
    expect(views.filter(has_not_text="本人確認書類の写真")).to_have_count(0)
    expect(desk.locator("tr[data-action='view_id_photo']")).to_have_count(0)
    expect(desk.locator("tr[data-action='reject_identity']").first).to_be_visible()
    screenshot(desk, "certificates-audit.png")
    desk.get_by_label("操作").select_option(label="差し戻し")
    desk.get_by_role("button", name="この条件で表示").click()
    expect(desk.locator("tbody tr")).to_have_count(1)
    expect(desk.locator("tr[data-action='reject_identity']")).to_be_visible()

    # On a phone the log is one block per entry, each value labelled, nothing wider than the screen.
    phone_context, audit_phone = new_page(browser, width=390)
    try:
        phone_context.add_cookies(desk.context.cookies())
        audit_phone.goto(desk.url)
        row = audit_phone.locator("tr[data-action='reject_identity']")
        expect(row).to_be_visible()
        when, what = (row.locator(f"td[data-label='{n}']").bounding_box() for n in ("日時", "操作"))
        assert when and what and when["x"] == what["x"] and what["y"] > when["y"]  # stacked, not columns
        label = row.locator("td[data-label='操作']").evaluate("e => getComputedStyle(e, '::before').content")
        assert label == '"操作："', label
        assert audit_phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        screenshot(audit_phone, "certificates-audit-phone.png")
    finally:
        phone_context.close()

    # Roads staff cannot open the certificates dashboard.
    roads_context, roads = new_page(browser)
    try:
        Dashboard(roads, embedded.url).page.goto(f"{embedded.url}/staff/login")
        roads.get_by_label("ユーザー名").fill("roads-clerk")
        roads.get_by_label("パスワード").fill(embedded.password("roads-clerk"))
        roads.get_by_role("button", name="ログイン").click()
        # Their department's dashboard (通報) is the only one the portal offers them.
        dashboards = roads.get_by_role("list", name="利用できる業務画面")
        expect(dashboards.get_by_role("link")).to_have_count(1)
        expect(dashboards.get_by_role("link")).to_contain_text("通報")
        expect(roads.locator(".site-header")).to_have_text(re.compile(r"^[^道]*道路管理課 品川[^道]*$"))
        response = roads.goto(f"{embedded.url}/staff/certificates/")
        assert response is not None and response.status == 403
        expect(roads.locator("body")).to_contain_text("権限がありません")
    finally:
        roads_context.close()
