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

from linebot.v3.messaging import (
    Action,
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
    TextMessage,
    URIAction,
)

from cityhall.certificates.answers import Locality
from cityhall.certificates.catalogue import Catalogue, Certificate, Labelled, Option
from cityhall.certificates.domain import Request, Status, required
from cityhall.certificates.events import MAX_COPIES, MIN_COPIES, PERSONAL_FIELDS
from cityhall.certificates.statuses import CANCELLABLE, PAYABLE, STATUS_LABELS
from cityhall.line import build, postback
from cityhall.line.japanese import datetime_ja

DOMAIN = "certificates"
ACCENT = "#1e6fd9"


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
    if request_id is not None:
        params = {"r": request_id.hex, **params}
    return postback.encode(DOMAIN, action, **params)


def yen(amount: int) -> str:
    return f"{amount:,}円"


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
        body.append(FlexText(text=cert.description, size="sm", color=build.MUTED, wrap=True, margin="md"))
    if cert.registrant_only and REGISTRANT_ONLY not in cert.description:
        body.append(FlexText(text=REGISTRANT_ONLY, size="sm", color=build.MUTED, wrap=True, margin="md"))
    body += [
        FlexSeparator(margin="lg"),
        build.row("手数料", f"1通 {yen(cert.fee)}", margin="lg"),
        build.row("郵送料", yen(cert.postage)),
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
                    action=build.postback(
                        "申請する", postback_data("start", c=cert.code), f"{cert.name}を申請"
                    ),
                )
            ],
        ),
    )


def menu(catalogue: Catalogue, *, draft: bool) -> list[Message]:
    intro = build.text(
        "証明書のオンライン申請です。ご自宅へ郵送でお届けします。\n"
        "必要な証明書の「申請する」を押してください。手数料と郵送料はオンラインでお支払いいただけます。"
    )
    actions: list[Action] = [build.postback("申請状況", postback_data("status"))]
    if draft:
        actions.insert(0, build.postback("入力を続ける", postback_data("resume")))
    carousel = FlexMessage(
        alt_text="申請できる証明書の一覧",
        contents=FlexCarousel(contents=[_certificate_bubble(c) for c in catalogue.certificates]),
        quick_reply=build.quick_reply(*actions),
    )
    return [intro, carousel]


# --- the questions -----------------------------------------------------------------------------


def started(cert: Certificate) -> TextMessage:
    note = f"\n{cert.name}は、{REGISTRANT_ONLY}" if cert.registrant_only else ""
    return build.text(f"{cert.name}の申請を始めます。いくつか質問しますので、順にお答えください。{note}")


def ask_option(request_id: uuid.UUID, option: Option) -> TextMessage:
    return build.text(
        option.question,
        *[
            build.postback(c.label, postback_data("option", request_id, k=option.key, v=c.value))
            for c in option.choices
        ],
    )


def ask_copies(request_id: uuid.UUID) -> TextMessage:
    return build.text(
        f"必要な部数をお選びください（{MIN_COPIES}〜{MAX_COPIES}通）。",
        *[
            build.postback(f"{n}通", postback_data("copies", request_id, n=n))
            for n in range(MIN_COPIES, MAX_COPIES + 1)
        ],
    )


def ask_purpose(request_id: uuid.UUID, purposes: Sequence[Labelled]) -> TextMessage:
    return build.text(
        "証明書の使用目的をお選びください。",
        *[build.postback(p.label, postback_data("purpose", request_id, p=p.code)) for p in purposes],
    )


def ask_name(registrant_only: bool = False) -> TextMessage:
    who = "印鑑登録をしているご本人" if registrant_only else "申請される方"
    return build.text(f"{who}のお名前を、フルネームで入力してください。\n（例：山田 太郎）")


def ask_seal_number() -> TextMessage:
    return build.text(
        "お手元の印鑑登録証（カード）に記載されている登録番号を入力してください。\n（例：12345678）"
    )


def ask_birth_date(request_id: uuid.UUID, today: date) -> TextMessage:
    return build.text(
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
    return build.text(
        "住民登録のある住所の郵便番号を入力してください。証明書はこの住所へ郵送します。\n（例：140-0001）"
    )


def ask_street(request_id: uuid.UUID, locality: Locality) -> TextMessage:
    return build.text(
        f"〒{locality.postal_code} {locality.area}\n"
        "ですね。続けて、番地・建物名・部屋番号を入力してください。\n（例：1-2-3 ポケットハイツ101）",
        build.postback("郵便番号を入力し直す", postback_data("postal", request_id)),
    )


def ask_phone() -> TextMessage:
    return build.text("日中に連絡のつく電話番号を入力してください。\n（例：090-1234-5678）")


def ask_id_document(request_id: uuid.UUID, documents: Sequence[Labelled]) -> TextMessage:
    return build.text(
        "本人確認のため、本人確認書類の表面の写真をお送りいただきます。まず、お手元の本人確認書類の種類をお選びください。",
        *[build.postback(d.label, postback_data("doc", request_id, d=d.code)) for d in documents],
    )


def ask_photo(document_label: str) -> TextMessage:
    return build.text(
        f"{document_label}の表面を撮影して、写真を送ってください。\n"
        "文字がはっきり読めるよう、明るい場所で書類全体を写してください。（JPEG または PNG、10MB まで）",
        CameraAction(label="カメラを起動"),
        CameraRollAction(label="写真を選ぶ"),
    )


def photo_received() -> TextMessage:
    return build.text("本人確認書類の写真を受け取りました。")


def photo_refused(reason: str) -> TextMessage:
    text = {
        "not_an_image": "送られたファイルは写真として読み取れませんでした。JPEG または PNG 形式の写真を送ってください。",
        "too_large": "写真のサイズが大きすぎます（10MB まで）。サイズを小さくして、もう一度送ってください。",
        "unavailable": "写真を受け取れませんでした。もう一度お送りください。",
    }[reason]
    return build.text(text)


def not_expecting_photo() -> TextMessage:
    return build.text(
        "いまは写真をお受けしていません。本人確認書類の写真は、ご案内したときにお送りください。"
    )


# --- validation messages -------------------------------------------------------------------------


def invalid(message: str) -> TextMessage:
    return build.text(message)


def use_buttons() -> TextMessage:
    return build.text("お手数ですが、表示されたボタンからお選びください。")


# --- the summary ---------------------------------------------------------------------------------


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
    request_id = required(state.request_id, "id")
    rows: list[FlexComponent] = [build.row("証明書", state.certificate_name)]
    for key in state.option_keys:
        rows.append(build.row(view.option_names.get(key, key), state.option_labels.get(key, "")))
    rows += [
        build.row("部数", f"{state.copies}通"),
        build.row("使用目的", state.purpose_label),
        FlexSeparator(margin="md"),
    ]
    rows += [build.row(FIELD_LABELS[f], view.masked.get(f, "")) for f in personal_fields(state)]
    rows += [
        build.row("本人確認書類", f"{state.id_document_label}（写真あり）"),
        FlexSeparator(margin="md"),
        build.row("手数料", f"{yen(state.fee)} × {state.copies}通 = {yen(state.fee * (state.copies or 0))}"),
        build.row("郵送料", yen(state.postage)),
        build.row("合計", yen(state.total), bold=True),
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
                    action=build.postback("確定", postback_data("confirm", request_id), "確定"),
                ),
                FlexButton(
                    style="secondary", action=build.postback("修正", postback_data("edit", request_id))
                ),
                FlexButton(style="link", action=build.postback("中止", postback_data("abort", request_id))),
            ],
        ),
    )
    return [
        build.text("入力ありがとうございました。内容をご確認のうえ、「確定」を押してください。"),
        FlexMessage(alt_text=f"申請内容の確認（合計 {yen(state.total)}）", contents=bubble),
    ]


def edit_menu(state: Request) -> TextMessage:
    request_id = required(state.request_id, "id")
    fields = [("options", "証明書の内容")] if state.option_keys else []
    fields += [("copies", "部数"), ("purpose", "使用目的")]
    fields += [(f, FIELD_LABELS[f]) for f in personal_fields(state)]
    fields.append(("photo", "本人確認書類"))
    return build.text(
        "修正する項目をお選びください。",
        *[
            build.postback(label, postback_data("editfield", request_id, f=field), f"{label}を修正")
            for field, label in fields
        ],
    )


def aborted() -> TextMessage:
    return build.text(
        "申請を中止しました。入力された内容は取り消しました。\nまたのご利用をお待ちしています。"
    )


def not_in_progress() -> TextMessage:
    return build.text(
        "現在、入力途中の証明書の申請はありません。申請はメニューの「証明書」からお申し込みください。",
        build.postback("証明書の申請", postback_data("menu")),
        build.postback("申請状況", postback_data("status")),
    )


def draft_kept() -> TextMessage:
    return build.text(
        "入力途中の証明書の申請は、下書きとして保存しています。\n"
        "続きは、下の「入力を続ける」か、メニューの「証明書」から「入力を続ける」を押すと再開できます。\n"
        "操作のないまま時間がたつと、下書きは取り消されますのでご注意ください。",
        build.postback("入力を続ける", postback_data("resume")),
    )


def request_closed() -> TextMessage:
    return build.text(
        "この申請は、すでに受付を終了しているため、お手続きを続けられません。"
        "必要な場合は、メニューの「証明書」からもう一度お申し込みください。",
        build.postback("証明書の申請", postback_data("menu")),
        build.postback("申請状況", postback_data("status")),
    )


def late_payment_refund(state: Request, amount: int, reason: str) -> TextMessage:
    why = (
        "申請の期限切れ・取り消しのあとにお支払いがあったため"
        if reason == "late_payment"
        else "同じ申請に重ねてお支払いがあったため"
    )
    return build.text(
        f"受付番号 {state.number} について、{why}、{yen(amount)}を返金します。返金が完了したら、あらためてお知らせします。"
    )


def stale_button() -> TextMessage:
    return build.text(
        "このボタンは以前のご案内のもののため、お受けできません。最新のご案内からお進みください。"
    )


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
                FlexText(text=f"受付番号 {state.number}", size="sm", color=build.MUTED),
                FlexSeparator(margin="md"),
                build.row("証明書", f"{state.certificate_name} {state.copies}通", margin="md"),
                build.row("お支払い額", yen(state.amount or state.total), bold=True),
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
        build.text(PAYMENT_INTROS[intro]),
        FlexMessage(alt_text=f"お支払いのご案内（{yen(state.amount or state.total)}）", contents=bubble),
    ]


def already_submitted(state: Request) -> TextMessage:
    if state.status == "payment_pending":
        return build.text(
            f"この申請はすでに確定しています（受付番号 {state.number}）。先ほどのご案内のリンクからお支払いください。",
            build.postback("支払う", postback_data("pay", state.request_id)),
        )
    return build.text(
        f"この申請はすでに確定しています（受付番号 {state.number}、状況：{STATUS_LABELS[state.status]}）。"
    )


def checkout_unavailable() -> TextMessage:
    return build.text(
        "申し訳ありません。ただいまお支払いの準備ができませんでした。しばらくしてから、もう一度「確定」を押してください。"
    )


def payment_failed(state: Request) -> TextMessage:
    return build.text(
        f"お支払いが完了しませんでした（受付番号 {state.number}）。\n"
        "もう一度お支払いいただくか、不要であれば申請を取り消してください。"
        "お支払いがないまま期限を過ぎると、申請は自動で取り消されます。",
        build.postback("もう一度支払う", postback_data("pay", state.request_id)),
        build.postback("申請を取り消す", postback_data("cancel", state.request_id)),
    )


def no_payment_needed(state: Request) -> TextMessage:
    return build.text(
        f"受付番号 {state.number} の申請は、お支払いの必要がありません（状況：{STATUS_LABELS[state.status]}）。"
    )


# --- the steps after payment (受付, 本人確認完了, 発行・発送, 差し戻し) ------------------------------


def received(state: Request) -> TextMessage:
    return build.text(
        "お支払いを確認し、申請を受け付けました。\n"
        f"受付番号：{state.number}\n"
        f"証明書：{state.certificate_name} {state.copies}通\n"
        f"お支払い額：{yen(state.amount)}\n\n"
        "市の担当者が本人確認を行います。結果はこのトークでお知らせします。",
        build.postback("申請状況", postback_data("status")),
    )


def identity_confirmed(state: Request) -> TextMessage:
    return build.text(
        f"本人確認が完了しました（受付番号 {state.number}）。\n証明書を発行し、準備ができしだい郵送します。"
    )


def issued(state: Request) -> TextMessage:
    return build.text(
        f"{state.certificate_name}を発行しました（受付番号 {state.number}）。\n"
        "郵送の準備ができしだいお送りし、追跡番号をこのトークでお知らせします。"
    )


def mailed(state: Request, tracking_number: str) -> TextMessage:
    return build.text(
        f"{state.certificate_name}を郵送しました。\n"
        f"受付番号：{state.number}\n"
        f"追跡番号：{tracking_number}\n\n"
        "日本郵便の追跡サービスで配達状況をご確認いただけます。お手元に届くまで数日かかることがあります。"
    )


def rejected(state: Request, reason: str, note: str) -> TextMessage:
    extra = f"\n補足：{note}" if note else ""
    return build.text(
        f"申し訳ありません。本人確認ができなかったため、申請をお戻しします（受付番号 {state.number}）。\n"
        f"理由：{reason}{extra}\n\n"
        f"お支払いいただいた{yen(state.amount)}は自動で返金します。"
        "お手数ですが、内容をご確認のうえ、あらためてお申し込みください。",
        build.postback("証明書の申請", postback_data("menu")),
    )


def refunded(state: Request, amount: int) -> TextMessage:
    return build.text(
        f"受付番号 {state.number} の{yen(amount)}の返金手続きが完了しました。"
        "お支払いに使われた方法へ返金されます。"
    )


def payment_expired(state: Request) -> TextMessage:
    return build.text(
        f"お支払いの期限が過ぎたため、申請（受付番号 {state.number}）を取り消しました。\n"
        "必要な場合は、メニューの「証明書」からもう一度お申し込みください。",
        build.postback("証明書の申請", postback_data("menu")),
    )


def draft_expired() -> TextMessage:
    return build.text(
        "入力の途中のまま30分以上たったため、証明書の申請を中断し、入力された内容を取り消しました。\n"
        "必要な場合は、メニューの「証明書」からもう一度お申し込みください。",
        build.postback("証明書の申請", postback_data("menu")),
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


def _status_bubble(item: StatusItem) -> FlexBubble:
    rows: list[FlexComponent] = [
        FlexText(text=item.certificate_name, weight="bold", size="md", wrap=True),
        FlexText(text=f"受付番号 {item.number}", size="xs", color=build.MUTED),
        FlexSeparator(margin="md"),
        build.row("状況", STATUS_LABELS[item.status], margin="md", bold=True),
        build.row("部数", f"{item.copies}通" if item.copies else "－"),
        build.row("金額", yen(item.amount) if item.amount else "－"),
        build.row("更新", datetime_ja(item.updated_at)),
    ]
    if item.tracking_number:
        rows.append(build.row("追跡番号", item.tracking_number))
    buttons: list[FlexComponent] = []
    if item.status in PAYABLE:
        buttons.append(
            FlexButton(
                style="primary",
                color=ACCENT,
                height="sm",
                action=build.postback("支払う", postback_data("pay", item.request_id)),
            )
        )
    if item.status in CANCELLABLE:
        buttons.append(
            FlexButton(
                style="secondary",
                height="sm",
                action=build.postback("取り消す", postback_data("cancel", item.request_id), "申請を取り消す"),
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
            build.text(
                "現在、お申し込みいただいている証明書はありません。",
                build.postback("証明書の申請", postback_data("menu")),
            )
        ]
    return [
        build.text(
            "お申し込みいただいた証明書の状況です"
            + (f"（新しい順に{len(items)}件）。" if len(items) > 1 else "。")
        ),
        FlexMessage(
            alt_text="申請状況",
            contents=FlexCarousel(contents=[_status_bubble(i) for i in items[:10]]),
        ),
    ]


def confirm_cancel(state: Request) -> TextMessage:
    request_id = required(state.request_id, "id")
    refund = (
        f"\nお支払いいただいた{yen(state.amount)}は返金します。"
        if state.status in ("paid", "approved")
        else ""
    )
    return build.text(
        f"受付番号 {state.number}（{state.certificate_name}）の申請を取り消しますか。{refund}",
        build.postback("取り消す", postback_data("cancelyes", request_id), "はい、取り消します"),
        build.postback("取り消さない", postback_data("status"), "取り消さない"),
    )


def cancelled(state: Request, refund: int | None) -> TextMessage:
    extra = (
        f"\nお支払いいただいた{yen(refund)}は返金します。返金が完了したら、あらためてお知らせします。"
        if refund
        else ""
    )
    return build.text(f"申請（受付番号 {state.number}）を取り消しました。{extra}")


def cannot_cancel(state: Request) -> TextMessage:
    return build.text(
        f"受付番号 {state.number} の申請は、{STATUS_LABELS[state.status]}のため取り消せません。"
        "ご不明な点は市民課の窓口へお問い合わせください。"
    )
