"""The resident simulator in real Chromium, against the real LINE emulator and a scripted account.

The scripted account (scripted_account.py) answers each webhook through the emulator with
one of every kind of message the page must render, so this test covers the page whatever
state the real services are in; test_issue3.py runs the whole embedded system.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from cityhall.line_emulator import EmulatorSettings
from cityhall.line_emulator.testing import EmulatorServer
from cityhall.simulator.actions import SimulatorConfig
from cityhall.simulator.app import create_app
from cityhall.simulator.testing import WebhookSchema

from .conftest import screenshot
from .scripted_account import GUIDE, ScriptedAccount, install_rich_menu, striped_png

SECRET = "browser-test-channel-secret"
TOKEN = "browser-test-token"


@dataclass
class System:
    url: str
    account: ScriptedAccount
    emulator: EmulatorServer

    def events(self) -> list[dict]:
        return [e for r in self.account.gateway.received for e in r["body"]["events"]]


@contextlib.contextmanager
def running_system(tmp_path: Path, *, rich_menu: bool) -> Iterator[System]:
    with EmulatorServer(EmulatorSettings(tokens=frozenset({TOKEN}))) as emulator:
        account = ScriptedAccount(SECRET, emulator.url, TOKEN)
        if rich_menu:
            install_rich_menu(emulator.url, TOKEN)
        with EmulatorServer(app=account.gateway.app) as gateway:
            config = SimulatorConfig(
                channel_secret=SECRET,
                access_token=TOKEN,
                line_api_url=emulator.url,
                callback_url=f"{gateway.url}/callback",
                data_dir=tmp_path,
            )
            app, _ = create_app(config)
            with EmulatorServer(app=app) as simulator:
                yield System(simulator.url, account, emulator)


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    with running_system(tmp_path, rich_menu=True) as running:
        yield running


def test_a_default_rich_menu_set_after_the_chat_opened_appears_without_a_message(
    tmp_path: Path, page: Page
) -> None:
    with running_system(tmp_path, rich_menu=False) as system:
        page.goto(system.url)
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        page.get_by_label("新しい住民の表示名").fill("テスト 花子")
        page.get_by_label("新しい住民の表示名").press("Enter")
        expect(page.locator("#resident-badge")).to_contain_text("テスト 花子")
        expect(page.locator("#rich-menu")).to_be_hidden()
        # The account sets its default menu later (the gateway does so in the background at start).
        install_rich_menu(system.emulator.url, TOKEN)
        expect(page.locator("#rich-menu-image")).to_be_visible(timeout=15_000)


def own_bubbles(page: Page) -> list[str]:
    return page.locator(".msg.own .bubble").all_inner_texts()


def test_a_resident_talks_to_the_account_with_every_kind_of_message(system: System, page: Page) -> None:
    chat = page.locator("#chat")
    quick = page.locator("#quick-replies")
    page.goto(system.url)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator("#no-residents")).to_be_visible()

    # Create a resident: it is listed, selected, and not yet a friend.
    page.get_by_label("新しい住民の表示名").fill("テスト 太郎")
    page.get_by_label("新しい住民の表示名").press("Enter")
    expect(page.locator("#resident-list button[aria-current=true]")).to_contain_text("テスト 太郎")
    expect(page.locator("#resident-badge")).to_contain_text("友だち未追加")
    user_id = page.evaluate("location.hash.slice(1)")
    assert re.fullmatch(r"U[0-9a-f]{32}", user_id)

    # Follow: the welcome arrives live, with quick replies of every action type.
    page.locator("#follow-button").click()
    expect(chat.locator(".system-line")).to_have_text(["友だち追加しました"])
    expect(chat.locator(".msg.theirs").last).to_contain_text("友だち追加ありがとうございます。")
    expect(chat.locator(".msg.theirs .sender").last).to_have_text("ポケット市役所")
    expect(chat.locator(".msg.theirs img.icon").last).to_be_visible()
    expect(quick).to_be_visible()
    expect(quick.get_by_role("button")).to_have_text(
        ["使い方", "予約", "日付を選ぶ", "日時を選ぶ", "位置情報", "写真を選ぶ"]
    )
    expect(page.locator("#block-button")).to_be_visible()
    assert system.events()[-1]["type"] == "follow"

    # A message quick reply: the resident's bubble on the right, the guide on the left after it.
    quick.get_by_role("button", name="使い方").click()
    expect(chat.locator(".msg").last).to_contain_text("【使い方】")
    assert own_bubbles(page)[-1] == "使い方"
    expect(chat.locator(".msg.own .meta").last).to_contain_text("既読")
    expect(chat.locator(".msg.own time").last).to_have_text(re.compile(r"^\d{2}:\d{2}$"))
    expect(quick).to_be_hidden()  # the guide carries none
    assert chat.locator(".msg.theirs .bubble").last.inner_text() == GUIDE

    # Typing with the keyboard: Enter sends. A Flex carousel comes back.
    page.get_by_label("メッセージ", exact=True).fill("flex")
    page.get_by_label("メッセージ", exact=True).press("Enter")
    expect(chat.locator(".flex-bubble")).to_have_count(2)
    bubble = chat.locator(".flex-bubble").first
    expect(bubble).to_contain_text("住民票の写し")
    expect(bubble).to_contain_text("300円")
    expect(bubble.locator(".flex-separator")).to_have_count(1)
    bubble.get_by_role("button", name="申し込む").click()
    expect(chat.locator(".msg.theirs").last).to_contain_text(
        "postback を受け付けました：domain=certificates&apply=1"
    )
    assert system.events()[-1]["postback"] == {"data": "domain=certificates&apply=1"}

    # Buttons and confirm templates; a template's message action speaks for the resident.
    page.get_by_label("メッセージ", exact=True).fill("template")
    page.get_by_role("button", name="送信").click()
    expect(chat.locator(".template.confirm")).to_contain_text("この内容で送信しますか？")
    expect(chat.locator(".template.buttons .t-title")).to_have_text("手続きの種類")
    screenshot(page, "simulator-flex-and-templates.png")
    chat.locator(".template.confirm").get_by_role("button", name="はい").click()
    expect(chat.locator(".msg.theirs").last).to_contain_text("「はい」を受け付けました。")
    assert own_bubbles(page)[-1] == "はい"

    # Postback with displayText; the datetime pickers send LINE's params.
    page.get_by_label("メッセージ", exact=True).fill("menu")
    page.get_by_label("メッセージ", exact=True).press("Enter")
    quick.get_by_role("button", name="予約").click()
    expect(chat.locator(".msg.theirs").last).to_contain_text("postback を受け付けました：domain=reservations")
    assert own_bubbles(page)[-1] == "予約したい"
    assert system.events()[-1]["postback"] == {"data": "domain=reservations"}

    page.get_by_label("メッセージ", exact=True).fill("menu")
    page.get_by_label("メッセージ", exact=True).press("Enter")
    quick.get_by_role("button", name="日付を選ぶ").click()
    dialog = page.locator("#datetime-dialog")
    expect(dialog).to_be_visible()
    date_input = page.locator("#datetime-input")
    assert date_input.get_attribute("type") == "date"
    expect(date_input).to_have_value("2030-04-01")
    assert (date_input.get_attribute("min"), date_input.get_attribute("max")) == ("2030-01-01", "2030-12-31")
    date_input.fill("2030-05-03")
    dialog.get_by_role("button", name="決定").click()
    expect(chat.locator(".msg.theirs").last).to_contain_text("date=2030-05-03")
    # LINE shows nothing for a picked date; the simulator shows the resident what they picked.
    assert own_bubbles(page)[-1] == "2030年5月3日"
    assert system.events()[-1]["postback"] == {
        "data": "domain=reservations&pick=date",
        "params": {"date": "2030-05-03"},
    }

    page.get_by_label("メッセージ", exact=True).fill("menu")
    page.get_by_label("メッセージ", exact=True).press("Enter")
    quick.get_by_role("button", name="日時を選ぶ").click()
    assert page.locator("#datetime-input").get_attribute("type") == "datetime-local"
    page.locator("#datetime-input").fill("2030-05-03T10:30")
    page.keyboard.press("Enter")
    expect(chat.locator(".msg.theirs").last).to_contain_text("datetime=2030-05-03T10:30")
    assert own_bubbles(page)[-1] == "2030年5月3日 10時30分"
    assert system.events()[-1]["postback"]["params"] == {"datetime": "2030-05-03T10:30"}

    # Location: a preset place, then a point moved on the map with the keyboard.
    page.locator("#location-button").click()
    location = page.locator("#location-dialog")
    expect(location).to_be_visible()
    location.locator("#place-list").get_by_role("button", name="中央公園").click()
    expect(page.locator("#location-selected")).to_contain_text("中央公園")
    screenshot(page, "simulator-location-picker.png")
    location.get_by_role("button", name="この場所を送信").click()
    expect(chat.locator(".msg.theirs").last).to_contain_text(
        "位置情報を受け付けました：中央公園 ポケット市東町1-5"
    )
    expect(chat.locator(".msg.own .location-card").last).to_contain_text("中央公園")
    sent = system.events()[-1]["message"]
    assert (sent["type"], sent["title"], sent["address"]) == ("location", "中央公園", "ポケット市東町1-5")

    page.get_by_label("メッセージ", exact=True).fill("menu")
    page.get_by_label("メッセージ", exact=True).press("Enter")
    quick.get_by_role("button", name="位置情報").click()
    page.locator("#town-map").click(position={"x": 60, "y": 300})
    first_point = page.locator("#location-selected").inner_text()
    page.locator("#town-map").focus()
    page.keyboard.press("ArrowRight")
    expect(page.locator("#location-selected")).not_to_have_text(first_point)
    page.keyboard.press("Enter")
    expect(chat.locator(".msg.theirs").last).to_contain_text("位置情報を受け付けました： ポケット市")
    point = system.events()[-1]["message"]
    assert "title" not in point and point["address"].startswith("ポケット市")
    assert 35.65 <= point["latitude"] <= 35.67 and 139.52 <= point["longitude"] <= 139.55

    # Photos: the cameraRoll quick reply opens the file chooser; the 🖼 button too.
    photo = striped_png(40, 30, [(200, 50, 50)])
    page.get_by_label("メッセージ", exact=True).fill("menu")
    page.get_by_label("メッセージ", exact=True).press("Enter")
    with page.expect_file_chooser() as chooser:
        quick.get_by_role("button", name="写真を選ぶ").click()
    chooser.value.set_files(files=[{"name": "road.png", "mimeType": "image/png", "buffer": photo}])
    expect(chat.locator(".msg.theirs").last).to_contain_text(f"写真を受け取りました（{len(photo)} バイト）")
    own_photo = chat.locator(".msg.own img.media").last
    expect(own_photo).to_be_visible()
    assert own_photo.evaluate("img => img.naturalWidth") == 40
    image = system.events()[-1]["message"]
    assert image["type"] == "image" and image["contentProvider"] == {"type": "line"}

    # The rich menu: the emulator's image with tappable areas, opened and closed from its bar.
    menu = page.locator("#rich-menu")
    expect(menu).to_be_visible()
    expect(page.locator("#rich-menu-bar")).to_contain_text("メニュー")
    expect(page.locator("#rich-menu-panel")).to_be_visible()
    assert page.locator("#rich-menu-image").evaluate("img => img.naturalWidth") == 2500
    # The menu's `name` ("test menu") is for managing it, never shown: the alt names the tiles.
    expect(page.locator("#rich-menu-image")).to_have_attribute(
        "alt", "リッチメニュー：よくある質問・使い方・位置情報を送る"
    )
    page.locator("#rich-menu-areas").get_by_role("button", name="よくある質問").click()
    expect(chat.locator(".msg.theirs").last).to_contain_text("domain=guide&menu=faq")
    page.locator("#rich-menu-areas").get_by_role("button", name="使い方").click()
    expect(chat.locator(".msg.theirs .bubble").last).to_have_text(GUIDE)
    page.locator("#rich-menu-areas").get_by_role("button", name="位置情報を送る").click()
    expect(page.locator("#location-dialog")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#location-dialog")).to_be_hidden()
    page.locator("#rich-menu-bar").click()
    expect(page.locator("#rich-menu-panel")).to_be_hidden()
    expect(page.locator("#rich-menu-bar")).to_have_attribute("aria-expanded", "false")
    page.locator("#rich-menu-bar").click()
    expect(page.locator("#rich-menu-panel")).to_be_visible()
    screenshot(page, "simulator-rich-menu.png")

    # Reloading shows the same conversation (history from the emulator, no duplicates).
    rows = chat.locator(".msg").count()
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(chat.locator(".msg")).to_have_count(rows)

    # Block: an unfollow event, and the composer is disabled.
    page.once("dialog", lambda d: d.accept())
    page.locator("#block-button").click()
    expect(chat.locator(".system-line").last).to_have_text("ブロックしました")
    expect(page.get_by_label("メッセージ", exact=True)).to_be_disabled()
    assert system.events()[-1]["type"] == "unfollow"

    # A gateway that refuses the webhook shows an error banner.
    system.account.gateway.status = 500
    page.locator("#follow-button").click()
    expect(page.locator("#error-banner")).to_be_visible()
    expect(page.locator("#error-banner")).to_contain_text("HTTP 500")
    assert system.events()[-1]["follow"] == {"isUnblocked": True}
    page.locator("#error-close").click()
    expect(page.locator("#error-banner")).to_be_hidden()

    # Every webhook was one LINE could have sent; every webhookEventId unique.
    schema = WebhookSchema()
    bodies = [r["body"] for r in system.account.gateway.received]
    assert all(schema.problems(b) == [] for b in bodies)
    ids = [e["webhookEventId"] for e in system.events()]
    assert len(ids) == len(set(ids)) >= 20
    assert system.account.gateway.rejected == 0


NEWEST_MESSAGE = """() => {
  const box = (node) => node.getBoundingClientRect();
  const chat = box(document.getElementById("chat"));
  const rows = document.querySelectorAll("#chat .msg, #chat .system-line");
  const newest = box(rows[rows.length - 1]);
  const below = {};
  for (const id of ["quick-replies", "composer", "sticker-panel", "rich-menu"]) {
    const node = document.getElementById(id);
    if (!node.hidden) below[id] = box(node).top;
  }
  const floor = Math.min(chat.bottom, innerHeight, ...Object.values(below));
  return {
    inView: newest.top >= chat.top - 0.5 && newest.bottom <= floor + 0.5,
    newest: [newest.top, newest.bottom], chat: [chat.top, chat.bottom], below, innerHeight,
    text: rows[rows.length - 1].innerText,
  };
}"""


def expect_newest_message_in_view(page: Page) -> None:
    """The newest message lies wholly inside the message list, above the quick replies, the
    composer, the sticker panel and the rich menu, and inside the window."""
    # The rich menu's image sets its height once loaded: measure the settled layout.
    expect(page.locator("#rich-menu-image")).to_have_js_property("complete", True)
    try:
        page.wait_for_function(f"({NEWEST_MESSAGE})().inView", timeout=5_000)
    except Exception as exc:
        raise AssertionError(f"newest message hidden: {page.evaluate(NEWEST_MESSAGE)}") from exc


def test_on_a_phone_the_newest_message_stays_in_view(system: System, phone: Page) -> None:
    page, chat, quick = phone, phone.locator("#chat"), phone.locator("#quick-replies")
    message = page.get_by_label("メッセージ", exact=True)
    page.goto(system.url)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    for name in ("スマホ 花子", "スマホ 次郎"):
        page.get_by_label("新しい住民の表示名").fill(name)
        page.get_by_label("新しい住民の表示名").press("Enter")
        expect(page.locator("#resident-list button[aria-current=true]")).to_contain_text(name)
    page.locator("#follow-button").click()
    expect(chat.locator(".msg.theirs").last).to_contain_text("友だち追加ありがとうございます。")

    # More messages than the list holds, with the rich menu open.
    for text in ("使い方", "flex", "template", "使い方", "menu"):
        message.fill(text)
        message.press("Enter")
        expect(chat.locator(".msg.own .bubble").last).to_have_text(text)
        expect(chat.locator(".msg").last).to_have_class(re.compile(r"\btheirs\b"))
        expect_newest_message_in_view(page)
    assert chat.evaluate("c => c.scrollHeight > 2 * c.clientHeight")
    expect(page.locator("#rich-menu-panel")).to_be_visible()

    # The quick-reply bar sits below the message that carries it, never over it.
    expect(quick).to_be_visible()
    expect(chat.locator(".msg").last).to_contain_text("何をしますか？")
    expect_newest_message_in_view(page)

    # Closing and opening the rich menu keeps the newest message in view.
    page.locator("#rich-menu-bar").click()
    expect(page.locator("#rich-menu-panel")).to_be_hidden()
    expect_newest_message_in_view(page)
    page.locator("#rich-menu-bar").click()
    expect(page.locator("#rich-menu-panel")).to_be_visible()
    expect_newest_message_in_view(page)
    screenshot(page, "simulator-phone.png")

    # Reopening the chat (another resident, then back) shows the newest message above the open menu.
    newest = chat.locator(".msg").last.get_attribute("data-id")
    assert newest
    page.locator("#resident-list button", has_text="スマホ 花子").click()
    expect(page.locator("#resident-badge")).to_contain_text("スマホ 花子")
    page.locator("#resident-list button", has_text="スマホ 次郎").click()
    expect(chat.locator(".msg").last).to_have_attribute("data-id", newest)
    expect(page.locator("#rich-menu-panel")).to_be_visible()
    expect_newest_message_in_view(page)

    # A picked date leaves the resident's bubble.
    quick.get_by_role("button", name="日付を選ぶ").click()
    page.locator("#datetime-input").fill("2030-12-05")
    page.locator("#datetime-dialog").get_by_role("button", name="決定").click()
    expect(chat.locator(".msg.own .bubble").last).to_have_text("2030年12月5日")
    expect(chat.locator(".msg.theirs").last).to_contain_text("date=2030-12-05")
    expect_newest_message_in_view(page)

    # A sticker: the panel takes the rich menu's place; LINE's sticker event reaches the account.
    page.get_by_role("button", name="スタンプを送る").click()
    panel = page.locator("#sticker-panel")
    expect(panel).to_be_visible()
    expect(page.locator("#rich-menu-panel")).to_be_hidden()
    panel.get_by_role("button", name="スタンプ（ムーン スペシャル 1988）").click()
    expect(chat.locator(".msg.own .sticker").last).to_have_attribute(
        "aria-label", "スタンプ（ムーン スペシャル 1988）"
    )
    expect(chat.locator(".msg.own .meta").last).to_contain_text("既読")
    sticker = system.events()[-1]["message"]
    assert (sticker["type"], sticker["packageId"], sticker["stickerId"], sticker["stickerResourceType"]) == (
        "sticker",
        "446",
        "1988",
        "STATIC",
    )
    expect_newest_message_in_view(page)
    screenshot(page, "simulator-phone-sticker.png")

    schema = WebhookSchema()
    assert all(schema.problems(r["body"]) == [] for r in system.account.gateway.received)
    assert system.account.gateway.rejected == 0
