"""What residents read: every LINE message of the certificates dialog, in polite Japanese.

Pure builders, SDK models in and out. Personal fields never appear in clear in a message
(messages travel as events on `line.outbound`): the summary shows them partly masked.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal
from urllib.parse import urlencode

from linebot.v3.messaging import (
    CameraAction,
    CameraRollAction,
    DatetimePickerAction,
    FlexBox,
    FlexBubble,
    FlexButton,
    FlexCarousel,
    FlexComponent,
    FlexMessage,
    FlexSeparator,
    FlexText,
    Message,
    PostbackAction,
    QuickReply,
    QuickReplyItem,
    TextMessage,
    URIAction,
)

from cityhall.certificates.answers import Locality
from cityhall.certificates.catalogue import Catalogue, Certificate, Labelled, Option
from cityhall.certificates.domain import Request, Status
from cityhall.certificates.events import MAX_COPIES, MIN_COPIES, PERSONAL_FIELDS
from cityhall.line.japanese import datetime_ja

ACCENT = "#1e6fd9"

STATUS_LABELS: dict[Status, str] = {
    "new": "未申請",
    "drafting": "入力中",
    "payment_pending": "お支払い待ち",
    "payment_failed": "お支払い未完了",
    "paid": "本人確認中",
    "approved": "発行準備中",
    "issued": "発送準備中",
    "mailed": "発送済み",
    "rejected": "差し戻し",
    "cancelled": "取り消し",
    "expired": "期限切れ",
}

REVIEW_LABEL = "内容を確認する"

FIELD_LABELS = {
    "name": "お名前",
    "birth_date": "生年月日",
    "address": "住所",
    "phone": "電話番号",
    "seal_number": "印鑑登録証の番号",
}
REGISTRANT_ONLY = "登録しているご本人のみ申請できます（代理人による申請はできません）。"


def personal_fields(state: Request) -> list[str]:
    """The personal fields this request asks for, in the order the dialog asks them."""
    return [*PERSONAL_FIELDS, *state.extra_fields]


def postback_data(action: str, request_id: uuid.UUID | None = None, **params: str | int) -> str:
    values: dict[str, str | int] = {"domain": "certificates", "action": action}
    if request_id is not None:
        values["r"] = request_id.hex
    values.update(params)
    return urlencode(values)


def _postback(label: str, data: str, display: str | None = None) -> PostbackAction:
    return PostbackAction(label=label[:20], data=data, display_text=display or label)


def _quick(*actions: object) -> QuickReply:
    return QuickReply(items=[QuickReplyItem(action=a) for a in actions])


def _text(text: str, *actions: object) -> TextMessage:
    return TextMessage(text=text, quick_reply=_quick(*actions) if actions else None)


def yen(amount: int) -> str:
    return f"{amount:,}円"


@dataclass(frozen=True)
class Button:
    label: str
    data: str
    display_text: str


def postback_buttons(messages: Sequence[Message]) -> list[Button]:
    """Every postback button and quick reply in `messages`, in the order they appear."""
    found: list[Button] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            action = node.get("action")
            if isinstance(action, dict) and action.get("type") == "postback":
                found.append(
                    Button(action.get("label", ""), action.get("data", ""), action.get("displayText", ""))
                )
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk([m.to_dict() for m in messages])
    return found


# --- masking ---------------------------------------------------------------------------------


def mask(field: str, value: str) -> str:
    """A hint of a personal field for the summary, never the whole value."""
    if field == "name":
        return value[:1] + "＊" * max(1, len(value.replace(" ", "").replace("　", "")) - 1)
    if field == "birth_date":
        try:
            born = date.fromisoformat(value)
        except ValueError:
            return "＊＊＊＊"
        return f"{born.year}年＊月＊日"
    if field == "address":
        value = re.sub(r"^〒\S+\s*", "", value)  # the postal code is not shown either
        return (value[:6] + "…") if len(value) > 6 else value[:2] + "…"
    if field == "phone":
        digits = [c for c in value if c.isdigit()]
        return "＊" * max(0, len(digits) - 4) + "".join(digits[-4:])
    if field == "seal_number":
        return "＊" * max(0, len(value) - 2) + value[-2:]
    return "＊＊＊"


# --- the menu ----------------------------------------------------------------------------------


def _certificate_bubble(cert: Certificate) -> FlexBubble:
    body: list[FlexComponent] = [
        FlexText(text=cert.name, weight="bold", size="lg", wrap=True),
    ]
    if cert.description:
        body.append(FlexText(text=cert.description, size="sm", color="#5b6775", wrap=True, margin="md"))
    if cert.registrant_only and REGISTRANT_ONLY not in cert.description:
        body.append(FlexText(text=REGISTRANT_ONLY, size="sm", color="#5b6775", wrap=True, margin="md"))
    body += [
        FlexSeparator(margin="lg"),
        _row("手数料", f"1通 {yen(cert.fee)}", margin="lg"),
        _row("郵送料", yen(cert.postage)),
    ]
    return FlexBubble(
        size="kilo",
        body=FlexBox(layout="vertical", contents=body, spacing="sm"),
        footer=FlexBox(
            layout="vertical",
            contents=[
                FlexButton(
                    style="primary",
                    color=ACCENT,
                    action=_postback("申請する", postback_data("start", c=cert.code), f"{cert.name}を申請"),
                )
            ],
        ),
    )


def menu(catalogue: Catalogue, *, draft: bool) -> list[Message]:
    intro = _text(
        "証明書のオンライン申請です。ご自宅へ郵送でお届けします。\n"
        "必要な証明書の「申請する」を押してください。手数料と郵送料はオンラインでお支払いいただけます。"
    )
    actions: list[object] = [_postback("申請状況", postback_data("status"))]
    if draft:
        actions.insert(0, _postback("入力を続ける", postback_data("resume")))
    carousel = FlexMessage(
        alt_text="申請できる証明書の一覧",
        contents=FlexCarousel(contents=[_certificate_bubble(c) for c in catalogue.certificates]),
        quick_reply=_quick(*actions),
    )
    return [intro, carousel]


# --- the questions -----------------------------------------------------------------------------


def started(cert: Certificate) -> TextMessage:
    note = f"\n{cert.name}は、{REGISTRANT_ONLY}" if cert.registrant_only else ""
    return _text(f"{cert.name}の申請を始めます。いくつか質問しますので、順にお答えください。{note}")


def ask_option(request_id: uuid.UUID, option: Option) -> TextMessage:
    return _text(
        option.question,
        *[
            _postback(c.label, postback_data("option", request_id, k=option.key, v=c.value))
            for c in option.choices
        ],
    )


def ask_copies(request_id: uuid.UUID) -> TextMessage:
    return _text(
        f"必要な部数をお選びください（{MIN_COPIES}〜{MAX_COPIES}通）。",
        *[
            _postback(f"{n}通", postback_data("copies", request_id, n=n))
            for n in range(MIN_COPIES, MAX_COPIES + 1)
        ],
    )


def ask_purpose(request_id: uuid.UUID, purposes: Sequence[Labelled]) -> TextMessage:
    return _text(
        "証明書の使用目的をお選びください。",
        *[_postback(p.label, postback_data("purpose", request_id, p=p.code)) for p in purposes],
    )


def ask_name(registrant_only: bool = False) -> TextMessage:
    who = "印鑑登録をしているご本人" if registrant_only else "申請される方"
    return _text(f"{who}のお名前を、フルネームで入力してください。\n（例：山田 太郎）")


def ask_seal_number() -> TextMessage:
    return _text("お手元の印鑑登録証（カード）に記載されている登録番号を入力してください。\n（例：12345678）")


def ask_birth_date(request_id: uuid.UUID, today: date) -> TextMessage:
    return _text(
        "生年月日を入力してください。\n（例：1985年4月12日、1985/4/12、昭和60年4月12日）",
        DatetimePickerAction(
            label="カレンダーから選ぶ",
            data=postback_data("dob", request_id),
            mode="date",
            initial="1980-01-01",
            min="1900-01-01",
            max=today.isoformat(),
        ),
    )


def ask_postal_code() -> TextMessage:
    return _text(
        "住民登録のある住所の郵便番号を入力してください。証明書はこの住所へ郵送します。\n（例：140-0001）"
    )


def ask_street(request_id: uuid.UUID, locality: Locality) -> TextMessage:
    return _text(
        f"〒{locality.postal_code} {locality.area}\n"
        "ですね。続けて、番地・建物名・部屋番号を入力してください。\n（例：1-2-3 ポケットハイツ101）",
        _postback("郵便番号を入力し直す", postback_data("postal", request_id)),
    )


def ask_phone() -> TextMessage:
    return _text("日中に連絡のつく電話番号を入力してください。\n（例：090-1234-5678）")


def ask_id_document(request_id: uuid.UUID, documents: Sequence[Labelled]) -> TextMessage:
    return _text(
        "本人確認のため、本人確認書類の表面の写真をお送りいただきます。まず、お手元の本人確認書類の種類をお選びください。",
        *[_postback(d.label, postback_data("doc", request_id, d=d.code)) for d in documents],
    )


def ask_photo(document_label: str) -> TextMessage:
    return _text(
        f"{document_label}の表面を撮影して、写真を送ってください。\n"
        "文字がはっきり読めるよう、明るい場所で書類全体を写してください。（JPEG または PNG、10MB まで）",
        CameraAction(label="カメラを起動"),
        CameraRollAction(label="写真を選ぶ"),
    )


def photo_received() -> TextMessage:
    return _text("本人確認書類の写真を受け取りました。")


def photo_refused(reason: str) -> TextMessage:
    text = {
        "not_an_image": "送られたファイルは写真として読み取れませんでした。JPEG または PNG 形式の写真を送ってください。",
        "too_large": "写真のサイズが大きすぎます（10MB まで）。サイズを小さくして、もう一度送ってください。",
        "unavailable": "写真を受け取れませんでした。お手数ですが、もう一度送ってください。",
    }[reason]
    return _text(text)


def not_expecting_photo() -> TextMessage:
    return _text("いまは写真をお受けしていません。本人確認書類の写真は、ご案内したときにお送りください。")


# --- validation messages -------------------------------------------------------------------------


def invalid(message: str) -> TextMessage:
    return _text(message)


def use_buttons() -> TextMessage:
    return _text("お手数ですが、表示されたボタンからお選びください。")


# --- the summary ---------------------------------------------------------------------------------


def _row(label: str, value: str, *, margin: str | None = None, bold: bool = False) -> FlexBox:
    return FlexBox(
        layout="horizontal",
        margin=margin,
        contents=[
            FlexText(text=label, size="sm", color="#5b6775", flex=3, wrap=True),
            FlexText(
                text=value or "－",
                size="sm",
                flex=5,
                wrap=True,
                align="end",
                weight="bold" if bold else None,
            ),
        ],
    )


@dataclass(frozen=True)
class SummaryView:
    """The request as the summary shows it; personal fields already masked."""

    state: Request
    masked: dict[str, str]
    option_names: dict[str, str]
    review_url: str
    """The full request on the town's own server (a signed, short-lived link)."""


def summary(view: SummaryView) -> list[Message]:
    state = view.state
    assert state.request_id is not None
    rows: list[FlexComponent] = [_row("証明書", state.certificate_name)]
    for key in state.option_keys:
        rows.append(_row(view.option_names.get(key, key), state.option_labels.get(key, "")))
    rows += [
        _row("部数", f"{state.copies}通"),
        _row("使用目的", state.purpose_label),
        FlexSeparator(margin="md"),
    ]
    rows += [_row(FIELD_LABELS[f], view.masked.get(f, "")) for f in personal_fields(state)]
    rows += [
        _row("本人確認書類", f"{state.id_document_label}（写真あり）"),
        FlexSeparator(margin="md"),
        _row("手数料", f"{yen(state.fee)} × {state.copies}通 = {yen(state.fee * (state.copies or 0))}"),
        _row("郵送料", yen(state.postage)),
        _row("合計", yen(state.total), bold=True),
        FlexText(
            text="個人情報保護のため、お名前・生年月日・住所・電話番号は一部を伏せて表示しています。"
            "「内容を確認する」で、すべての内容を市のサーバーのページで確認できます（15分間有効）。",
            size="xxs",
            color="#8a94a0",
            wrap=True,
            margin="md",
        ),
    ]
    bubble = FlexBubble(
        header=FlexBox(
            layout="vertical",
            contents=[FlexText(text="申請内容の確認", weight="bold", size="lg", color="#ffffff")],
            background_color=ACCENT,
        ),
        body=FlexBox(layout="vertical", contents=rows, spacing="sm"),
        footer=FlexBox(
            layout="vertical",
            spacing="sm",
            contents=[
                FlexButton(style="secondary", action=URIAction(label=REVIEW_LABEL, uri=view.review_url)),
                FlexButton(
                    style="primary",
                    color=ACCENT,
                    action=_postback("確定", postback_data("confirm", state.request_id), "確定"),
                ),
                FlexButton(
                    style="secondary", action=_postback("修正", postback_data("edit", state.request_id))
                ),
                FlexButton(style="link", action=_postback("中止", postback_data("abort", state.request_id))),
            ],
        ),
    )
    return [
        _text("入力ありがとうございました。内容をご確認のうえ、「確定」を押してください。"),
        FlexMessage(alt_text=f"申請内容の確認（合計 {yen(state.total)}）", contents=bubble),
    ]


def edit_menu(state: Request) -> TextMessage:
    assert state.request_id is not None
    request_id = state.request_id
    fields = [("options", "証明書の内容")] if state.option_keys else []
    fields += [("copies", "部数"), ("purpose", "使用目的")]
    fields += [(f, FIELD_LABELS[f]) for f in personal_fields(state)]
    fields.append(("photo", "本人確認書類"))
    return _text(
        "修正する項目をお選びください。",
        *[
            _postback(label, postback_data("editfield", request_id, f=field), f"{label}を修正")
            for field, label in fields
        ],
    )


def aborted() -> TextMessage:
    return _text("申請を中止しました。入力された内容は取り消しました。\nまたのご利用をお待ちしています。")


def not_in_progress() -> TextMessage:
    return _text(
        "現在、入力途中の証明書の申請はありません。申請はメニューの「証明書」からお申し込みください。",
        _postback("証明書の申請", postback_data("menu")),
        _postback("申請状況", postback_data("status")),
    )


def draft_kept() -> TextMessage:
    return _text(
        "入力途中の証明書の申請は、下書きとして保存しています。\n"
        "続きは、下の「入力を続ける」か、メニューの「証明書」から「入力を続ける」を押すと再開できます。\n"
        "操作のないまま時間がたつと、下書きは取り消されますのでご注意ください。",
        _postback("入力を続ける", postback_data("resume")),
    )


def request_closed() -> TextMessage:
    return _text(
        "この申請は、すでに受付を終了しているため、お手続きを続けられません。"
        "必要な場合は、メニューの「証明書」からもう一度お申し込みください。",
        _postback("証明書の申請", postback_data("menu")),
        _postback("申請状況", postback_data("status")),
    )


def late_payment_refund(state: Request, amount: int, reason: str) -> TextMessage:
    why = (
        "申請の期限切れ・取り消しのあとにお支払いがあったため"
        if reason == "late_payment"
        else "同じ申請に重ねてお支払いがあったため"
    )
    return _text(
        f"受付番号 {state.number} について、{why}、{yen(amount)}を返金します。返金が完了したら、あらためてお知らせします。"
    )


def stale_button() -> TextMessage:
    return _text("このボタンは以前のご案内のもののため、お受けできません。最新のご案内からお進みください。")


# --- submission and payment -----------------------------------------------------------------------


PaymentIntro = Literal["submitted", "renewed", "reminder"]
PAYMENT_INTROS: dict[PaymentIntro, str] = {
    "submitted": "申請内容を確定しました。続けて手数料と郵送料のお支払いをお願いします。\n"
    "お支払いが確認できしだい、申請を受け付けます。",
    "renewed": "新しいお支払いのリンクを作成しました。以前のリンクは使えませんので、こちらからお支払いください。",
    "reminder": "お支払いのご案内です。こちらからお支払いください。",
}


def payment_link(
    state: Request, url: str, deadline: datetime, intro: PaymentIntro = "submitted"
) -> list[Message]:
    bubble = FlexBubble(
        body=FlexBox(
            layout="vertical",
            spacing="sm",
            contents=[
                FlexText(text="お支払い", weight="bold", size="lg"),
                FlexText(text=f"受付番号 {state.number}", size="sm", color="#5b6775"),
                FlexSeparator(margin="md"),
                _row("証明書", f"{state.certificate_name} {state.copies}通", margin="md"),
                _row("お支払い額", yen(state.amount or state.total), bold=True),
                FlexText(
                    text=f"{datetime_ja(deadline)}までにお支払いください。期限を過ぎると申請は取り消されます。",
                    size="sm",
                    wrap=True,
                    margin="md",
                ),
            ],
        ),
        footer=FlexBox(
            layout="vertical",
            contents=[FlexButton(style="primary", color=ACCENT, action=URIAction(label="支払う", uri=url))],
        ),
    )
    return [
        _text(PAYMENT_INTROS[intro]),
        FlexMessage(alt_text=f"お支払いのご案内（{yen(state.amount or state.total)}）", contents=bubble),
    ]


def already_submitted(state: Request) -> TextMessage:
    if state.status == "payment_pending":
        return _text(
            f"この申請はすでに確定しています（受付番号 {state.number}）。先ほどのご案内のリンクからお支払いください。",
            _postback("支払う", postback_data("pay", state.request_id)),
        )
    return _text(
        f"この申請はすでに確定しています（受付番号 {state.number}、状況：{STATUS_LABELS[state.status]}）。"
    )


def checkout_unavailable() -> TextMessage:
    return _text(
        "申し訳ありません。ただいまお支払いの準備ができませんでした。しばらくしてから、もう一度「確定」を押してください。"
    )


def payment_failed(state: Request) -> TextMessage:
    return _text(
        f"お支払いが完了しませんでした（受付番号 {state.number}）。\n"
        "もう一度お支払いいただくか、不要であれば申請を取り消してください。"
        "お支払いがないまま期限を過ぎると、申請は自動で取り消されます。",
        _postback("もう一度支払う", postback_data("pay", state.request_id)),
        _postback("申請を取り消す", postback_data("cancel", state.request_id)),
    )


def no_payment_needed(state: Request) -> TextMessage:
    return _text(
        f"受付番号 {state.number} の申請は、お支払いの必要がありません（状況：{STATUS_LABELS[state.status]}）。"
    )


# --- the steps after payment (受付, 本人確認完了, 発行・発送, 差し戻し) ------------------------------


def received(state: Request) -> TextMessage:
    return _text(
        "お支払いを確認し、申請を受け付けました。\n"
        f"受付番号：{state.number}\n"
        f"証明書：{state.certificate_name} {state.copies}通\n"
        f"お支払い額：{yen(state.amount)}\n\n"
        "市の担当者が本人確認を行います。結果はこのトークでお知らせします。",
        _postback("申請状況", postback_data("status")),
    )


def identity_confirmed(state: Request) -> TextMessage:
    return _text(
        f"本人確認が完了しました（受付番号 {state.number}）。\n証明書を発行し、準備ができしだい郵送します。"
    )


def issued(state: Request) -> TextMessage:
    return _text(
        f"{state.certificate_name}を発行しました（受付番号 {state.number}）。\n"
        "郵送の準備ができしだいお送りし、追跡番号をこのトークでお知らせします。"
    )


def mailed(state: Request, tracking_number: str) -> TextMessage:
    return _text(
        f"{state.certificate_name}を郵送しました。\n"
        f"受付番号：{state.number}\n"
        f"追跡番号：{tracking_number}\n\n"
        "日本郵便の追跡サービスで配達状況をご確認いただけます。お手元に届くまで数日かかることがあります。"
    )


def rejected(state: Request, reason: str, note: str) -> TextMessage:
    extra = f"\n補足：{note}" if note else ""
    return _text(
        f"申し訳ありません。本人確認ができなかったため、申請をお戻しします（受付番号 {state.number}）。\n"
        f"理由：{reason}{extra}\n\n"
        f"お支払いいただいた{yen(state.amount)}は自動で返金します。"
        "お手数ですが、内容をご確認のうえ、あらためてお申し込みください。",
        _postback("証明書の申請", postback_data("menu")),
    )


def refunded(state: Request, amount: int) -> TextMessage:
    return _text(
        f"受付番号 {state.number} の{yen(amount)}の返金手続きが完了しました。"
        "お支払いに使われた方法へ返金されます。"
    )


def payment_expired(state: Request) -> TextMessage:
    return _text(
        f"お支払いの期限が過ぎたため、申請（受付番号 {state.number}）を取り消しました。\n"
        "必要な場合は、メニューの「証明書」からもう一度お申し込みください。",
        _postback("証明書の申請", postback_data("menu")),
    )


def draft_expired() -> TextMessage:
    return _text(
        "入力の途中のまま30分以上たったため、証明書の申請を中断し、入力された内容を取り消しました。\n"
        "必要な場合は、メニューの「証明書」からもう一度お申し込みください。",
        _postback("証明書の申請", postback_data("menu")),
    )


# --- 申請状況 and cancelling ------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusItem:
    request_id: uuid.UUID
    number: str
    certificate_name: str
    copies: int | None
    status: Status
    amount: int
    updated_at: datetime
    tracking_number: str | None = None


CANCELLABLE: frozenset[Status] = frozenset(
    {"drafting", "payment_pending", "payment_failed", "paid", "approved"}
)
PAYABLE: frozenset[Status] = frozenset({"payment_pending", "payment_failed"})


def _status_bubble(item: StatusItem) -> FlexBubble:
    rows: list[FlexComponent] = [
        FlexText(text=item.certificate_name, weight="bold", size="md", wrap=True),
        FlexText(text=f"受付番号 {item.number}", size="xs", color="#5b6775"),
        FlexSeparator(margin="md"),
        _row("状況", STATUS_LABELS[item.status], margin="md", bold=True),
        _row("部数", f"{item.copies}通" if item.copies else "－"),
        _row("金額", yen(item.amount) if item.amount else "－"),
        _row("更新", datetime_ja(item.updated_at)),
    ]
    if item.tracking_number:
        rows.append(_row("追跡番号", item.tracking_number))
    buttons: list[FlexComponent] = []
    if item.status in PAYABLE:
        buttons.append(
            FlexButton(
                style="primary",
                color=ACCENT,
                height="sm",
                action=_postback("支払う", postback_data("pay", item.request_id)),
            )
        )
    if item.status in CANCELLABLE:
        buttons.append(
            FlexButton(
                style="secondary",
                height="sm",
                action=_postback("取り消す", postback_data("cancel", item.request_id), "申請を取り消す"),
            )
        )
    return FlexBubble(
        size="kilo",
        body=FlexBox(layout="vertical", contents=rows, spacing="sm"),
        footer=FlexBox(layout="vertical", contents=buttons, spacing="sm") if buttons else None,
    )


def status_list(items: Sequence[StatusItem]) -> list[Message]:
    if not items:
        return [
            _text(
                "現在、お申し込みいただいている証明書はありません。",
                _postback("証明書の申請", postback_data("menu")),
            )
        ]
    return [
        _text(
            "お申し込みいただいた証明書の状況です"
            + (f"（新しい順に{len(items)}件）。" if len(items) > 1 else "。")
        ),
        FlexMessage(
            alt_text="申請状況",
            contents=FlexCarousel(contents=[_status_bubble(i) for i in items[:10]]),
        ),
    ]


def confirm_cancel(state: Request) -> TextMessage:
    assert state.request_id is not None
    refund = (
        f"\nお支払いいただいた{yen(state.amount)}は返金します。"
        if state.status in ("paid", "approved")
        else ""
    )
    return _text(
        f"受付番号 {state.number}（{state.certificate_name}）の申請を取り消しますか。{refund}",
        _postback("取り消す", postback_data("cancelyes", state.request_id), "はい、取り消します"),
        _postback("取り消さない", postback_data("status"), "取り消さない"),
    )


def cancelled(state: Request, refund: int | None) -> TextMessage:
    extra = (
        f"\nお支払いいただいた{yen(refund)}は返金します。返金が完了したら、あらためてお知らせします。"
        if refund
        else ""
    )
    return _text(f"申請（受付番号 {state.number}）を取り消しました。{extra}")


def cannot_cancel(state: Request) -> TextMessage:
    return _text(
        f"受付番号 {state.number} の申請は、{STATUS_LABELS[state.status]}のため取り消せません。"
        "ご不明な点は市民課の窓口へお問い合わせください。"
    )
