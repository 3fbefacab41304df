"""What 通報 says to residents (Japanese, polite, plain)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from linebot.v3.messaging import (
    CameraAction,
    CameraRollAction,
    FlexBox,
    FlexBubble,
    FlexButton,
    FlexComponent,
    FlexMessage,
    FlexSeparator,
    FlexText,
    ImageMessage,
    LocationAction,
    Message,
    PostbackAction,
)

from cityhall.line import build, postback
from cityhall.line.content import PhotoRefused
from cityhall.line.japanese import date_ja
from cityhall.reports.categories import CATEGORIES, DEPARTMENTS, department_of
from cityhall.reports.domain import MAX_PHOTOS, MAX_TEXT, STATUSES
from cityhall.reports.events import REOPEN_WITHIN_DAYS

DOMAIN = "reports"
ACCENT = "#e8772e"
EMERGENCY = "危険が迫っている場合は、すぐに110番（警察）・119番（消防）へ通報してください。"


def tap(label: str, action: str, report_id: uuid.UUID, **params: str) -> PostbackAction:
    return build.postback(label, postback.encode(DOMAIN, action, r=report_id.hex, **params))


def _cancel(report_id: uuid.UUID) -> PostbackAction:
    return tap("やめる", "cancel", report_id)


def _history() -> PostbackAction:
    return build.postback("通報履歴", postback.encode(DOMAIN, "history"))


def ask_category(report_id: uuid.UUID) -> list[Message]:
    choices = [tap(c.name, "category", report_id, c=key) for key, c in CATEGORIES.items()]
    return [
        build.text(
            "道路や公園などの不具合をお知らせいただき、ありがとうございます。\n"
            "通報の種類を下からお選びください。\n" + EMERGENCY,
            *choices,
            _history(),
            _cancel(report_id),
        )
    ]


def _photo_actions(report_id: uuid.UUID) -> list[PostbackAction | CameraAction | CameraRollAction]:
    return [CameraAction(label="カメラ"), CameraRollAction(label="写真を選ぶ"), _cancel(report_id)]


def ask_photo(report_id: uuid.UUID, category: str) -> list[Message]:
    department = department_of(category)
    return [
        build.text(
            f"「{CATEGORIES[category].name}」ですね。\n"
            f"{EMERGENCY}\n担当：{department.name}（{department.phone}）\n\n"
            f"様子がわかる写真を1〜{MAX_PHOTOS}枚お送りください。",
            *_photo_actions(report_id),
        )
    ]


def photo_received(report_id: uuid.UUID, count: int) -> list[Message]:
    return [
        build.text(
            f"写真を受け取りました（{count}/{MAX_PHOTOS}枚）。\n"
            "ほかにも写真があればお送りください。写真がそろったら「次へ」を押してください。",
            tap("次へ", "photos_done", report_id),
            *_photo_actions(report_id),
        )
    ]


REFUSED_PHOTO = {
    "not_an_image": "お送りいただいたファイルは写真として読み取れませんでした。JPEGまたはPNGの写真をお送りください。",
    "too_large": "写真が大きすぎます（10MBまで）。サイズを小さくしてお送りください。",
    "unavailable": "写真を受け取れませんでした。お手数ですが、もう一度お送りください。",
}


def photo_refused(report_id: uuid.UUID, refusal: PhotoRefused) -> list[Message]:
    return [build.text(REFUSED_PHOTO[refusal.reason], *_photo_actions(report_id))]


def ask_location(report_id: uuid.UUID) -> list[Message]:
    return [
        build.text(
            "ありがとうございます。次に、場所を位置情報でお送りください。\n"
            "下の「位置情報を送る」から、地図で場所を選べます。",
            LocationAction(label="位置情報を送る"),
            _cancel(report_id),
        )
    ]


def outside_town(report_id: uuid.UUID) -> list[Message]:
    return [
        build.text(
            "申し訳ありません、その場所はポケット市の区域外のため、市では対応できません。\n"
            "市内の場所を選び直してお送りください。市外の場合は、その場所の市区町村へお問い合わせください。",
            LocationAction(label="位置情報を送る"),
            _cancel(report_id),
        )
    ]


@dataclass(frozen=True)
class Nearby:
    """An open report of the same category near the resident's point."""

    report_id: uuid.UUID
    number: str
    status: str
    distance_m: float
    filed_at: datetime


def ask_same(report_id: uuid.UUID, category: str, nearby: Sequence[Nearby]) -> list[Message]:
    lines = [
        f"・{n.number}（約{round(n.distance_m)}m先、{date_ja(n.filed_at)}受付、{STATUSES[n.status]}）"
        for n in nearby
    ]
    same = [tap(f"{n.number}と同じ", "same", report_id, d=n.report_id.hex) for n in nearby]
    return [
        build.text(
            f"近くで同じ「{CATEGORIES[category].name}」の通報がすでに寄せられています。\n"
            + "\n".join(lines)
            + "\n\nこの通報と同じですか？\n同じ場合は、その通報の対応状況をお知らせします（重ねて通報する必要はありません）。",
            *same,
            tap("別の件です", "new", report_id),
            _cancel(report_id),
        )
    ]


def subscribed(number: str) -> list[Message]:
    return [
        build.text(
            f"ありがとうございます。通報 {number} と同じ件として承りました。\n"
            "対応状況が変わりましたら、このトークでお知らせします。"
        )
    ]


def ask_comment(report_id: uuid.UUID) -> list[Message]:
    return [
        build.text(
            f"状況について補足があれば、文章でお送りください（{MAX_TEXT}文字まで）。\n"
            "なければ「なし」を押してください。",
            tap("なし", "skip", report_id),
            _cancel(report_id),
        )
    ]


def comment_too_long(report_id: uuid.UUID) -> list[Message]:
    return [
        build.text(
            f"申し訳ありません、補足は{MAX_TEXT}文字までとさせていただいております。短くしてお送りください。",
            tap("なし", "skip", report_id),
            _cancel(report_id),
        )
    ]


@dataclass(frozen=True)
class Summary:
    report_id: uuid.UUID
    category: str
    district: str
    latitude: float
    longitude: float
    photos: int
    comment: bool


def summary(view: Summary) -> list[Message]:
    department = department_of(view.category)
    rows: list[FlexComponent] = [
        build.row("種類", CATEGORIES[view.category].name),
        build.row("場所", f"{view.district}（北緯{view.latitude:.5f} 東経{view.longitude:.5f}）"),
        build.row("写真", f"{view.photos}枚"),
        build.row("補足", "あり" if view.comment else "なし"),
        FlexSeparator(margin="md"),
        build.row("担当", f"{department.name}（{department.phone}）"),
        FlexText(text=EMERGENCY, size="xxs", color="#8a94a0", wrap=True, margin="md"),
    ]
    bubble = FlexBubble(
        header=FlexBox(
            layout="vertical",
            contents=[FlexText(text="通報内容の確認", weight="bold", size="lg", color="#ffffff")],
            background_color=ACCENT,
        ),
        body=FlexBox(layout="vertical", contents=rows, spacing="sm"),
        footer=FlexBox(
            layout="vertical",
            spacing="sm",
            contents=[
                FlexButton(style="primary", color=ACCENT, action=tap("送信", "send", view.report_id)),
                FlexButton(style="link", action=_cancel(view.report_id)),
            ],
        ),
    )
    return [
        build.text("内容をご確認のうえ、「送信」を押してください。"),
        FlexMessage(alt_text=f"通報内容の確認（{CATEGORIES[view.category].name}）", contents=bubble),
    ]


def received(number: str, category: str) -> list[Message]:
    department = department_of(category)
    return [
        build.text(
            f"通報を受け付けました。受付番号は {number} です。\n"
            f"{department.name}が確認し、対応状況をこのトークでお知らせします。ご協力ありがとうございました。",
            _history(),
        )
    ]


def already_sent(number: str) -> list[Message]:
    return [
        build.text(f"この通報はすでに受け付けています（受付番号 {number}）。重ねて送信する必要はありません。")
    ]


def not_yours() -> list[Message]:
    return [
        build.text(
            "申し訳ありません、この操作はお受けできません。画面下のメニューの「通報」からやり直してください。"
        )
    ]


def stale() -> list[Message]:
    return [
        build.text(
            "このボタンは有効期限が切れています。お手数ですが、画面下のメニューの「通報」からやり直してください。"
        )
    ]


def cancelled() -> list[Message]:
    return [build.text("通報を取りやめました。お気づきの点があれば、またいつでもお知らせください。")]


HINTS = {
    "category": "恐れ入りますが、通報の種類を下のボタンからお選びください。",
    "photo": "恐れ入りますが、様子がわかる写真をお送りください。",
    "location": "恐れ入りますが、場所を位置情報でお送りください（下の「位置情報を送る」）。",
    "duplicate": "恐れ入りますが、下のボタンからお選びください。",
    "comment": "恐れ入りますが、補足は文章でお送りください。なければ「なし」を押してください。",
    "confirm": "恐れ入りますが、内容をご確認のうえ「送信」か「やめる」を押してください。",
}


def hint(report_id: uuid.UUID, awaiting: str, photos: int) -> list[Message]:
    """What the resident is asked again when they sent something the step does not take."""
    actions: list[PostbackAction | CameraAction | CameraRollAction | LocationAction]
    if awaiting == "category":
        return ask_category(report_id)
    if awaiting == "photo":
        actions = [*([tap("次へ", "photos_done", report_id)] if photos else []), *_photo_actions(report_id)]
    elif awaiting == "location":
        actions = [LocationAction(label="位置情報を送る"), _cancel(report_id)]
    elif awaiting == "comment":
        actions = [tap("なし", "skip", report_id), _cancel(report_id)]
    else:
        actions = [_cancel(report_id)]
    return [build.text(HINTS[awaiting], *actions)]


def forgotten() -> list[Message]:
    return [
        build.text(
            "お客さまの個人情報は、ご依頼により消去しております。そのため、LINEでの通報はお受けできません。"
            f"お手数ですが、{DEPARTMENTS['roads'].name}（{DEPARTMENTS['roads'].phone}）までお電話でお知らせください。"
        )
    ]


@dataclass(frozen=True)
class Mine:
    number: str
    category: str
    status: str
    filed_at: datetime


def history(reports: Sequence[Mine]) -> list[Message]:
    if not reports:
        return [
            build.text("これまでの通報はありません。画面下のメニューの「通報」からお知らせいただけます。")
        ]
    lines = [
        f"・{r.number} {CATEGORIES[r.category].name}（{date_ja(r.filed_at)}）：{STATUSES[r.status]}"
        for r in reports
    ]
    return [build.text("これまでの通報（新しい順）\n" + "\n".join(lines))]


# --- status changes, pushed to the reporter and the residents who said 「同じです」 --------------


def accepted(number: str, category: str) -> list[Message]:
    return [
        build.text(
            f"【通報 {number}】{department_of(category).name}が内容を確認しました。現地の状況に応じて対応します。"
        )
    ]


def started(number: str) -> list[Message]:
    return [build.text(f"【通報 {number}】対応中です。対応が終わりましたら、このトークでお知らせします。")]


def resolved(report_id: uuid.UUID, number: str, note: str, after_photo_url: str | None) -> list[Message]:
    body = f"【通報 {number}】対応が完了しました（対応済み）。ご協力ありがとうございました。"
    if note:
        body += f"\n\n{note}"
    body += f"\n\nまだ直っていない場合は、{REOPEN_WITHIN_DAYS}日以内であれば「まだ直っていない」から再度の対応を依頼できます。"
    out: list[Message] = [build.text(body)]
    if after_photo_url:
        out.append(ImageMessage(original_content_url=after_photo_url, preview_image_url=after_photo_url))
    out.append(
        build.text(
            "対応に満足されましたか？",
            tap("満足", "rate", report_id, s="1"),
            tap("不満", "rate", report_id, s="0"),
            tap("まだ直っていない", "reopen", report_id),
        )
    )
    return out


def rejected(number: str, reason: str) -> list[Message]:
    return [build.text(f"【通報 {number}】今回は市では対応しないこととなりました。\n理由：{reason}")]


def duplicate(number: str, of_number: str) -> list[Message]:
    return [
        build.text(
            f"【通報 {number}】同じ場所の通報 {of_number} と同じ件として対応します。"
            f"今後は通報 {of_number} の対応状況をお知らせします。"
        )
    ]


def reopened(number: str) -> list[Message]:
    return [build.text(f"【通報 {number}】再度の対応を承りました。担当課が改めて確認します。")]


def rated(satisfied: bool) -> list[Message]:
    if satisfied:
        return [build.text("ご回答ありがとうございました。今後の対応の参考にいたします。")]
    return [
        build.text(
            "ご回答ありがとうございました。ご期待に沿えず申し訳ありません。今後の対応の参考にいたします。"
        )
    ]


def refused(message: str) -> list[Message]:
    """A button the report no longer takes (the decider's reason, as it reads)."""
    return [build.text(f"申し訳ありません。{message}")]
