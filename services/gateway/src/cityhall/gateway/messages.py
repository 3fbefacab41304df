"""What residents read when no service answers: the gateway's own Japanese copy.

Pure builders, SDK models out. The town's contacts (phone numbers, hours, web pages) are the
table `CONTACTS`, the only place they are written.
"""

from __future__ import annotations

from dataclasses import dataclass

from linebot.v3.messaging import PostbackAction, TextMessage

from cityhall.gateway.declared import DISASTER_TILES, TILES, tile_data
from cityhall.line import build, postback
from cityhall.runtime.declarations import Tile

TOWN = "ポケット市"
WEEKDAYS = "平日 8時30分〜17時15分"


@dataclass(frozen=True)
class Contact:
    department: str
    phone: str
    hours: str = WEEKDAYS


CONTACTS: dict[str, Contact] = {
    "main": Contact("市役所代表", "0299-00-1000", f"{WEEKDAYS}、夜間・休日は宿直がお受けします"),
    "certificates": Contact("市民課", "0299-00-1101"),
    "reservations": Contact("市民相談課", "0299-00-1201"),
    "reports": Contact("道路管理課", "0299-00-1301"),
    "disaster": Contact("危機管理課", "0299-00-1401"),
    "disaster_line": Contact("災害対策本部 電話相談窓口", "0299-00-1400", "災害時は24時間受付"),
    "garbage": Contact("環境課", "0299-00-1501"),
    "notify": Contact("広報課", "0299-00-1601"),
    "community": Contact("協働推進課", "0299-00-1701"),
}
"""Who residents call, by domain (and a few topics)."""

WEB = "https://www.city.pocket.example"
PAGES = {
    "faq": f"{WEB}/faq/",
    "shelters": f"{WEB}/bousai/hinanjo/",
    "garbage": f"{WEB}/kurashi/gomi/calendar/",
}

SERVICE_NAMES = {
    "certificates": "証明書の申請",
    "reservations": "予約",
    "reports": "通報（道路・公園の不具合のお知らせ）",
    "notify": "配信設定",
    "community": "電子回覧板（町内会・自治会）",
}
ENTRIES = {"community": "回覧板を開く"}
WORDS = {"community": "回覧板"}
"""The word a resident types to reach a service without a tile (one of its `answers.TOPICS`)."""
"""Services without a tile (the menu is full), started by a button labelled so: its `menu` postback."""


def _tile(domain: str) -> Tile:
    """A service domain's rich-menu tile."""
    return next(t for t in TILES if t.domain == domain)


def _button(tile: Tile) -> PostbackAction:
    """The rich menu tile's own postback, as a button."""
    return build.postback(tile.label, tile_data(tile))


def _text(text: str, *buttons: PostbackAction) -> TextMessage:
    """A message with the given buttons, or the menu's tiles, as quick replies."""
    return build.text(text, *(buttons or [_button(t) for t in TILES]))


def call(contact_key: str) -> str:
    contact = CONTACTS[contact_key]
    return f"{contact.department}　電話 {contact.phone}（{contact.hours}）"


def preparing(domain: str) -> TextMessage:
    """A domain whose service is not running yet."""
    # A service that declares its tile but is not deployed here is named by its tile.
    name = SERVICE_NAMES.get(domain) or next(
        (f"「{t.label}」" for t in TILES if t.domain == domain), "このサービス"
    )
    return _text(
        f"申し訳ありません。LINEでの{name}は、現在準備を進めています。\n"
        f"準備が整うまでは、お手数ですが次の窓口へお問い合わせください。\n{call(domain if domain in CONTACTS else 'main')}"
    )


def menu_guide() -> str:
    """Which menu does what, in the rich menu's own words (its tiles' subtitles), and what is
    opened by a word instead (the services without a tile)."""
    tiles = "\n".join(f"・{t.label}：{t.subtitle}" for t in TILES)
    words = "".join(f"\n{SERVICE_NAMES[d]}は「{WORDS[d]}」と送ると開けます。" for d in ENTRIES)
    return f"画面下のメニューから、次のことができます。\n{tiles}{words}"


def overview(*, greeting: bool = False) -> TextMessage:
    """Which menu does what, for text we cannot place."""
    opening = (
        f"こんにちは。{TOWN}役所の公式アカウントです。"
        if greeting
        else "お問い合わせありがとうございます。申し訳ありませんが、このご質問には、まだLINEでお答えできません。"
    )
    return _text(f"{opening}\n\n{menu_guide()}\n\nそのほかのお問い合わせは、{call('main')}へどうぞ。")


def go_to(domain: str) -> TextMessage:
    """A recognised request whose service runs: the tile that starts it."""
    if domain in ENTRIES:
        entry = build.postback(ENTRIES[domain], postback.encode(domain, "menu"))
        return _text(f"{SERVICE_NAMES[domain]}は、下のボタンから始められます。", entry)
    tile = _tile(domain)
    return _text(
        f"{SERVICE_NAMES[domain]}は、メニューの「{tile.label}」からどうぞ。下のボタンからも始められます。",
        _button(tile),
    )


def garbage() -> TextMessage:
    return _text(
        "ごみの収集日は地区ごとに決まっています。お住まいの地区の収集日は、市のホームページの"
        f"「ごみ収集カレンダー」でご確認いただけます。\n{PAGES['garbage']}\n\n"
        "粗大ごみは事前の申し込みが必要です。ごみの出し方のご相談は、"
        f"{call('garbage')}へどうぞ。"
    )


def shelters() -> TextMessage:
    return _text(
        f"{TOWN}の指定避難所の一覧と地図は、市のホームページでご覧いただけます。\n{PAGES['shelters']}\n\n"
        "避難の情報は、テレビ・ラジオや防災行政無線でもお知らせします。"
        f"災害や防災についてのお問い合わせは、{call('disaster')}へどうぞ。\n"
        "命に危険がある場合は、ためらわずに119番・110番へ通報してください。"
    )


def disaster_contact() -> TextMessage:
    """The disaster menu's 問い合わせ: the disaster phone line and its hours."""
    return _text(
        f"災害についてのお問い合わせは、次の窓口へお電話ください。\n{call('disaster_line')}\n\n"
        f"ふだんの防災のご相談は、{call('disaster')}です。\n"
        "命に危険がある場合は、ためらわずに119番・110番へ通報してください。",
        *(_button(t) for t in DISASTER_TILES if t.action != "disaster_contact"),
    )


def faq() -> TextMessage:
    return _text(
        "よくあるご質問にお答えします。\n\n"
        "【住民票の写しがほしい】市役所1階の市民課窓口のほか、メニューの「証明書」から申請すると"
        "ご自宅へ郵送します。マイナンバーカードをお持ちなら、コンビニでも取得できます（6時30分〜23時）。\n\n"
        "【ごみの収集日を知りたい】地区ごとの収集日は、ホームページの「ごみ収集カレンダー」をご覧ください。"
        f"\n{PAGES['garbage']}\n\n"
        f"【市役所の開庁時間】{WEEKDAYS}です（土日・祝日・年末年始は閉庁）。\n\n"
        f"ほかのご質問は、ホームページの「よくある質問」をご覧ください。\n{PAGES['faq']}"
    )


def _report_instead(received: str, *, reports_served: bool) -> TextMessage:
    """A photo or a location outside any dialog: most likely something to report."""
    thanks = f"{received}をお送りいただき、ありがとうございます。\n"
    if reports_served:
        return _text(
            thanks
            + "道路や公園の傷みのお知らせは、メニューの「通報」から、写真と場所を添えてお送りください。",
            _button(_tile("reports")),
        )
    return _text(
        thanks + "道路や公園の傷みを写真と場所でお知らせいただく「通報」は、現在準備を進めています。"
        f"お手数ですが、場所と様子を{call('reports')}へお知らせください。\n"
        "近くの避難所は、メニューの「防災/避難所」からご案内します。"
    )


def photo(*, reports_served: bool) -> TextMessage:
    return _report_instead("写真", reports_served=reports_served)


def location(*, reports_served: bool) -> TextMessage:
    return _report_instead("位置情報", reports_served=reports_served)


def sticker() -> TextMessage:
    return _text(
        "スタンプをありがとうございます。\nご用件は、画面下のメニューからお選びいただくか、このトークに文章でお送りください。"
    )


def unsupported_message() -> TextMessage:
    return _text(
        "申し訳ありません。動画・音声・ファイルなどは、このアカウントでは受け付けていません。\n"
        "ご用件は、画面下のメニューからお選びいただくか、文章でお送りください。"
    )
