"""What residents read about a bulky-waste pickup, in polite Japanese. Pure builders, SDK models
out; buttons carry the draft `d`, the slot `r`/`t` or the booking `b`, never who taps them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from linebot.v3.messaging import (
    Action,
    FlexBox,
    FlexBubble,
    FlexButton,
    FlexComponent,
    FlexMessage,
    FlexSeparator,
    FlexText,
    LocationAction,
    Message,
    URIAction,
)

from cityhall.line import build
from cityhall.line.japanese import JST
from cityhall.reservations.bulky.events import Line
from cityhall.reservations.bulky.prices import Item, PriceList, fee
from cityhall.reservations.catalogue import Catalogue, Resource, SlotRef
from cityhall.reservations.messages import ACCENT, _quit, card, day_label, slot_params, tap, when

LABEL_MAX = 20
"""LINE's limit on a quick reply's label."""


@dataclass(frozen=True)
class Where:
    """Where the crew collects the pickup, and the number to reach the resident on the day."""

    address: str
    phone: str

    def rows(self) -> list[FlexComponent]:
        return [build.row("収集場所", self.address, bold=True), build.row("当日の連絡先", self.phone)]


def yen(amount: int) -> str:
    return f"{amount:,}円"


def _day(start: datetime) -> str:
    """The pickup's day in Japan (a start read back from the database is in UTC)."""
    return day_label(start.astimezone(JST).date())


def by(start: datetime) -> str:
    """The time the items must be out by (the district's slot starts at the catalogue's hour)."""
    at = start.astimezone(JST)
    return f"{at.hour}時{at.minute:02d}分" if at.minute else f"{at.hour}時"


def _lines_text(lines: Sequence[Line]) -> str:
    return "\n".join(f"・{line.name} ×{line.count}　{yen(line.total)}" for line in lines)


def _label(text: str) -> str:
    return text if len(text) <= LABEL_MAX else text[: LABEL_MAX - 1] + "…"


def districts(draft: uuid.UUID, choices: Sequence[tuple[str, str, str]]) -> list[Message]:
    """The town's districts (key, name, pickup resource): the button names the resource too, so
    the handler counts the resident's pickups of it (the catalogue's `max_active`)."""
    return [
        build.text(
            "粗大ごみの収集のお申し込みですね（手数料はこのトークでお支払いいただけます）。\n"
            "収集にうかがう地区をお選びください。わからないときは、ご自宅の位置情報を送ってください。",
            *_district_buttons(draft, choices),
            LocationAction(label="位置情報を送る"),
            _quit(draft),
        )
    ]


def _district_buttons(draft: uuid.UUID, choices: Sequence[tuple[str, str, str]]) -> list[Action]:
    return [tap(name, "bk_dist", name, d=draft.hex, v=key, r=code) for key, name, code in choices]


def district_found(
    draft: uuid.UUID, chosen: tuple[str, str, str] | None, choices: Sequence[tuple[str, str, str]]
) -> list[Message]:
    """The district a sent location lies in, to confirm; outside the town, the list again."""
    if chosen is None:
        return [
            build.text(
                "送っていただいた場所は、市内の収集地区の外のようです。収集にうかがう地区をお選びください。",
                *_district_buttons(draft, choices),
                _quit(draft),
            )
        ]
    key, name, code = chosen
    return [
        build.text(
            f"送っていただいた場所は{name}です。{name}の収集日でお申し込みになりますか。",
            tap(f"{name}で申し込む", "bk_dist", name, d=draft.hex, v=key, r=code),
            _quit(draft),
        )
    ]


def _prompt(draft: uuid.UUID, text: str) -> list[Message]:
    """A question the resident answers by typing, with the button to give up."""
    return [build.text(text, _quit(draft))]


def ask_address(draft: uuid.UUID, district: str) -> list[Message]:
    return _prompt(
        draft,
        f"{district}ですね。収集にうかがう場所の、{district}に続く丁目・番地と、建物名・部屋番号を送ってください"
        f"（例：2丁目3-4 コーポ{district}101号室）。",
    )


def bad_address(draft: uuid.UUID, district: str, problem: str) -> list[Message]:
    why = (
        "番地の数字が見当たりませんでした。丁目・番地まで"
        if problem == "number"
        else "住所は60文字以内で、丁目・番地から"
    )
    return _prompt(draft, f"{why}お送りください（例：{district}2丁目3-4 コーポ{district}101号室）。")


def ask_phone(draft: uuid.UUID, address: str) -> list[Message]:
    return _prompt(
        draft,
        f"収集場所は「{address}」ですね。\n収集日にご連絡のつく電話番号を送ってください（例：090-1234-5678）。"
        "品物が見当たらないときなどに、収集の担当からお電話します。",
    )


def bad_phone(draft: uuid.UUID) -> list[Message]:
    return _prompt(
        draft,
        "電話番号は、市外局番または携帯番号から、10けたか11けたの数字でお送りください（例：090-1234-5678）。",
    )


def ask_item(draft: uuid.UUID, district: str, prices: PriceList) -> list[Message]:
    return [
        build.text(
            "ありがとうございます。出すものの名前を送ってください（例：ソファ、自転車、たんす）。\n"
            f"1回のお申し込みで{prices.max_kinds}品目まで、1品目{prices.max_count}点まで承ります。",
            _quit(draft),
        )
    ]


def matches(draft: uuid.UUID, typed: str, found: Sequence[Item]) -> list[Message]:
    shown = found[:12]
    listing = "\n".join(
        f"・{item.name}　{yen(item.fee)}" + (f"（{item.note}）" if item.note else "") for item in shown
    )
    more = (
        "\nほかにも候補があります。もう少し詳しい名前でもお探しいただけます。"
        if len(found) > len(shown)
        else ""
    )
    buttons = [
        tap(_label(f"{item.name} {yen(item.fee)}"), "bk_item", item.name, d=draft.hex, i=item.code)
        for item in shown
    ]
    return [
        build.text(f"「{typed}」の品目です（1点あたりの手数料）。お選びください。\n{listing}{more}", *buttons)
    ]


def not_found(draft: uuid.UUID, typed: str, prices: PriceList, reason: str | None) -> list[Message]:
    if reason is not None:
        return [
            build.text(
                f"「{typed}」について：{reason}\nほかに出すものがあれば、名前を送ってください。", _quit(draft)
            )
        ]
    return [
        build.text(
            f"「{typed}」は品目表に見つかりませんでした。別の言い方（例：いす、棚、ふとん）でお送りください。\n"
            f"品目がわからないときは、{prices.phone}にお問い合わせください。",
            _quit(draft),
        )
    ]


def ask_count(draft: uuid.UUID, item: Item, prices: PriceList) -> list[Message]:
    counts = [
        tap(f"{n}点", "bk_count", f"{n}点", d=draft.hex, i=item.code, n=str(n))
        for n in range(1, prices.max_count + 1)
    ]
    note = f"\n※{item.note}" if item.note else ""
    return [
        build.text(f"「{item.name}」（1点{yen(item.fee)}）をいくつ出しますか。{note}", *counts, _quit(draft))
    ]


def cart(draft: uuid.UUID, lines: Sequence[Line], prices: PriceList) -> list[Message]:
    more = (
        "ほかにも出すものがあれば、名前を送ってください。"
        if len(lines) < prices.max_kinds
        else f"品目は{prices.max_kinds}までです。"
    )
    return [
        build.text(
            f"出すもの：\n{_lines_text(lines)}\n合計 {yen(fee(lines))}\n\n{more}そろったら「収集日を選ぶ」を押してください。",
            tap("収集日を選ぶ", "bk_days", "収集日を選ぶ", d=draft.hex),
            _quit(draft),
        )
    ]


def too_many_kinds(draft: uuid.UUID, prices: PriceList) -> list[Message]:
    return [
        build.text(
            f"1回のお申し込みは{prices.max_kinds}品目までです。続きは、このお申し込みのあとに改めてお申し込みください。",
            tap("収集日を選ぶ", "bk_days", "収集日を選ぶ", d=draft.hex),
            _quit(draft),
        )
    ]


def empty_cart(draft: uuid.UUID) -> list[Message]:
    return [build.text("まず、出すものの名前を送ってください（例：ソファ）。", _quit(draft))]


def day_full(draft: uuid.UUID, day: date) -> list[Message]:
    return [
        build.text(
            f"申し訳ありません、{day_label(day)}の収集はお申し込みがいっぱいです。別の日をお選びください。",
            tap("収集日を選ぶ", "bk_days", "収集日を選ぶ", d=draft.hex),
            _quit(draft),
        )
    ]


def summary(
    draft: uuid.UUID,
    resource: Resource,
    district: str,
    ref: SlotRef,
    lines: Sequence[Line],
    prices: PriceList,
    where: Where,
) -> list[Message]:
    rows: list[FlexComponent] = [
        build.row("地区", district, bold=True),
        build.row("収集日", f"{_day(ref.start)} {by(ref.start)}までに出す"),
        *where.rows(),
        FlexSeparator(margin="md"),
        *(build.row(f"{line.name} ×{line.count}", yen(line.total)) for line in lines),
        FlexSeparator(margin="md"),
        build.row("手数料の合計", yen(fee(lines)), bold=True),
    ]
    bubble = card(
        "粗大ごみ収集の確認",
        rows,
        [
            FlexButton(
                style="primary",
                color=ACCENT,
                action=tap("確定して支払う", "bk_pay", "確定して支払う", d=draft.hex, **slot_params(ref)),
            ),
            FlexButton(style="link", action=_quit(draft)),
        ],
    )
    return [
        build.text(
            "内容をご確認のうえ、「確定して支払う」を押してください。"
            f"収集日はお支払いまで{prices.hold_minutes}分間確保します。"
        ),
        FlexMessage(alt_text=f"粗大ごみ収集の確認（{district} {_day(ref.start)}）", contents=bubble),
    ]


def pay(total: int, url: str, until: datetime, ref: SlotRef) -> list[Message]:
    bubble = FlexBubble(
        body=FlexBox(
            layout="vertical",
            spacing="sm",
            contents=[
                FlexText(text="手数料のお支払い", weight="bold", size="lg"),
                build.row("収集日", _day(ref.start)),
                build.row("手数料", yen(total), bold=True),
                build.row("お支払い期限", when(until)),
            ],
        ),
        footer=FlexBox(
            layout="vertical",
            contents=[FlexButton(style="primary", color=ACCENT, action=URIAction(label="支払う", uri=url))],
        ),
    )
    return [
        build.text(
            f"収集日を確保しました。{when(until)}までに手数料{yen(total)}をお支払いください。"
            "お支払いを確認したら、処理券に書く受付番号をお知らせします。\n"
            "期限までにお支払いがないと、お申し込みは取り消されます。"
        ),
        FlexMessage(alt_text=f"手数料のお支払い {yen(total)}", contents=bubble),
    ]


def payment_unavailable(draft: uuid.UUID, ref: SlotRef) -> list[Message]:
    return [
        build.text(
            "申し訳ありません、ただいまお支払いの準備ができませんでした。"
            "少し時間をおいて、もう一度「確定して支払う」を押してください。",
            tap("確定して支払う", "bk_pay", "確定して支払う", d=draft.hex, **slot_params(ref)),
            _quit(draft),
        )
    ]


def receipt(
    number: str, resource: Resource, ref: SlotRef, lines: Sequence[Line], booking_id: uuid.UUID, where: Where
) -> list[Message]:
    until = when(Catalogue.changeable_until(resource, ref.start))
    rows: list[FlexComponent] = [
        build.row("受付番号", number, bold=True),
        build.row("収集日", f"{_day(ref.start)} {by(ref.start)}までに出す"),
        *where.rows(),
        build.row("出す場所", resource.place),
        FlexSeparator(margin="md"),
        *(build.row(f"{line.name} ×{line.count}", yen(line.total)) for line in lines),
        build.row("手数料（お支払い済み）", yen(fee(lines)), bold=True),
    ]
    cancel = tap("キャンセル", "cancel", b=booking_id.hex, **slot_params(ref))
    bubble = card("粗大ごみ収集の受付完了", rows, [FlexButton(style="link", height="sm", action=cancel)])
    return [
        build.text(
            f"お支払いを確認しました。受付番号は {number} です。\n"
            f"処理券に受付番号 {number} を書いて出すものに1点ずつ貼り、{_day(ref.start)}の朝{by(ref.start)}までに"
            f"{resource.place}に出してください。\n"
            f"キャンセルは{until}までこのトークでできます（手数料はお返しします）。それ以降は{resource.phone}までお電話ください。"
        ),
        FlexMessage(alt_text=f"粗大ごみ収集 受付番号 {number}", contents=bubble),
    ]


def reminder(
    number: str, resource: Resource, ref: SlotRef, lines: Sequence[Line], where: Where
) -> list[Message]:
    """The day before: what to put out, where, by what time."""
    return [
        build.text(
            f"【明日は粗大ごみの収集日です】受付番号 {number}\n"
            f"明日{_day(ref.start)}の朝{by(ref.start)}までに、次のものを出してください。\n"
            f"{_lines_text(lines)}\n"
            f"収集場所：{where.address}\n出す場所：{resource.place}\n"
            f"それぞれに受付番号 {number} を書いた処理券を貼ってください。"
            f"ご不明な点は{resource.phone}までどうぞ。"
        )
    ]


def already_paid(number: str) -> list[Message]:
    return [
        build.text(
            f"このお申し込みはお支払い済みです（受付番号 {number}）。重ねてお支払いいただく必要はありません。"
        )
    ]


def expired(ref: SlotRef, reason: str = "timeout") -> list[Message]:
    why = (
        "お支払いの期限までにお支払いが確認できなかった"
        if reason == "timeout"
        else "お支払いが完了しなかった"
    )
    return [
        build.text(
            f"{why}ため、{_day(ref.start)}の粗大ごみ収集の"
            "お申し込みを取り消しました。お手数ですが、もう一度お申し込みください。",
            tap("もう一度申し込む", "menu"),
        )
    ]


def no_longer_open() -> list[Message]:
    return [
        build.text(
            "このお申し込みはすでに取り消されています。お手数ですが、もう一度お申し込みください。",
            tap("もう一度申し込む", "menu"),
        )
    ]


def refund_coming(number: str, amount: int) -> list[Message]:
    return [build.text(f"受付番号 {number} の手数料{yen(amount)}は、お支払いに使った方法でお返しします。")]


def late_payment(amount: int, reason: str) -> list[Message]:
    why = {
        "late": "お支払いの期限を過ぎていて、お申し込みがすでに取り消されていた",
        "duplicate": "同じお申し込みに2回目のお支払いがあった",
        "amount": "手数料と異なる金額のお支払いだった",
    }.get(reason, "お申し込みとお支払いが合わなかった")
    return [
        build.text(
            f"{why}ため、お支払いいただいた{yen(amount)}をお返しします。ご不便をおかけし申し訳ありません。"
        )
    ]


def refunded(number: str, amount: int) -> list[Message]:
    return [build.text(f"受付番号 {number} の{yen(amount)}の返金が完了しました。")]


def no_change(resource: Resource) -> list[Message]:
    return [
        build.text(
            "粗大ごみ収集の日の変更は、いったんキャンセルしてから改めてお申し込みください"
            f"（お支払い済みの手数料はお返しします）。ご不明な点は{resource.phone}までどうぞ。"
        )
    ]
