"""What residents read: every LINE message of the reservations dialog, in polite Japanese.

Pure builders, SDK models out. Buttons carry what they act on (the draft `d`, the slot `r`/`t`,
the booking `b`, the offer `o`), never who taps them. Answers to the questions never appear in a
message (messages travel as events on `line.outbound`).
"""

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
    FlexCarousel,
    FlexComponent,
    FlexMessage,
    FlexSeparator,
    FlexText,
    Message,
    URIAction,
)

from cityhall.line import build, postback
from cityhall.line.japanese import JST, date_ja
from cityhall.reservations.catalogue import Catalogue, Question, Resource, SlotRef, weekday_ja

DOMAIN = "reservations"
ACCENT = "#14a38b"
FULL = "#b3261e"
MAX_BUBBLES = 12
"""LINE's limit of bubbles in one carousel."""


def when(start: datetime) -> str:
    """「12月9日（水）13:00」 in Japan time."""
    local = start.astimezone(JST)
    return f"{date_ja(local)}（{weekday_ja(local.date())}）{local.hour}:{local.minute:02}"


def day_label(day: date) -> str:
    return f"{date_ja(day)}（{weekday_ja(day)}）"


def tap(label: str, action: str, display: str | None = None, **params: str) -> Action:
    return build.postback(label, postback.encode(DOMAIN, action, **params), display)


def _quit(draft: uuid.UUID) -> Action:
    return tap("やめる", "quit", d=draft.hex)


def slot_params(ref: SlotRef) -> dict[str, str]:
    return {"r": ref.resource, "t": ref.stamp}


# The booking dialog.


def categories(draft: uuid.UUID, catalogue: Catalogue) -> list[Message]:
    choices = [tap(c.label, "cat", d=draft.hex, c=c.code) for c in catalogue.categories]
    return [
        build.text(
            "ご予約ですね。ご希望の種類をお選びください。\n予約済みの内容の確認・変更・キャンセルは「予約確認」からどうぞ。",
            *choices,
            tap("予約確認", "list"),
            _quit(draft),
        )
    ]


def resources(draft: uuid.UUID, label: str, found: Sequence[Resource]) -> list[Message]:
    choices = [tap(r.name, "res", d=draft.hex, r=r.code) for r in found]
    return [build.text(f"「{label}」のご予約です。ご希望のものをお選びください。", *choices, _quit(draft))]


@dataclass(frozen=True)
class DayView:
    day: date
    left: int
    """Free seats over the day's bookable slots."""


def days(draft: uuid.UUID, resource: Resource, weeks: Sequence[Sequence[DayView]]) -> list[Message]:
    """A carousel of the coming weeks: a button per day with seats, 満 for a full day."""
    if not weeks:
        return [
            build.text(
                f"申し訳ありません、「{resource.name}」は現在ご予約いただける日がありません。\n"
                f"お問い合わせ：{resource.phone}",
                _quit(draft),
            )
        ]
    bubbles = [_week(draft, resource, week) for week in weeks[:MAX_BUBBLES]]
    intro = build.text(
        f"「{resource.name}」（{resource.place}）\nご希望の日をお選びください。「満」の日は空きがありません。"
        "横にスクロールすると、先の週を選べます。",
        _quit(draft),
    )
    return [
        intro,
        FlexMessage(alt_text=f"{resource.name}の予約日を選ぶ", contents=FlexCarousel(contents=bubbles)),
    ]


def _week(draft: uuid.UUID, resource: Resource, week: Sequence[DayView]) -> FlexBubble:
    rows: list[FlexComponent] = []
    for view in week:
        label = f"{day_label(view.day)} 残り{view.left}"
        if view.left > 0:
            action = tap(label, "day", day_label(view.day), d=draft.hex, v=view.day.strftime("%Y%m%d"))
            rows.append(FlexButton(style="secondary", height="sm", action=action, margin="sm"))
        else:
            rows.append(
                FlexText(text=f"{day_label(view.day)} 満", color=FULL, size="sm", align="center", margin="md")
            )
    first, last = week[0].day, week[-1].day
    return FlexBubble(
        size="kilo",
        header=FlexBox(
            layout="vertical",
            background_color=ACCENT,
            contents=[
                FlexText(text=resource.name, weight="bold", color="#ffffff", wrap=True),
                FlexText(text=f"{date_ja(first)}〜{date_ja(last)}", size="sm", color="#ffffff"),
            ],
        ),
        body=FlexBox(layout="vertical", contents=rows),
    )


def times(
    draft: uuid.UUID, resource: Resource, day: date, slots: Sequence[tuple[datetime, int]]
) -> list[Message]:
    choices = []
    for start, left in slots:
        local = start.astimezone(JST)
        label = f"{local.hour}:{local.minute:02} " + (f"残り{left}" if left > 0 else "満")
        choices.append(tap(label, "time", label, d=draft.hex, t=SlotRef(resource.code, start).stamp))
    return [
        build.text(
            f"{day_label(day)}の「{resource.name}」です。ご希望の時間をお選びください（数字は残りの枠数です）。",
            *choices,
            _quit(draft),
        )
    ]


def ask(draft: uuid.UUID, question: Question) -> list[Message]:
    return [build.text(question.prompt, _quit(draft))]


def bad_answer(draft: uuid.UUID, question: Question) -> list[Message]:
    return [
        build.text(
            f"恐れ入りますが、{question.label}は{question.min}〜{question.max}の数字でお送りください。",
            _quit(draft),
        )
    ]


def not_eligible(resource: Resource, question: Question) -> list[Message]:
    return [
        build.text(
            f"申し訳ありません、「{resource.name}」の対象は{question.label}が"
            f"{question.min}〜{question.max}{question.unit}の方です。そのため、このご予約はお受けできません。\n"
            f"ご相談は {resource.phone} までお問い合わせください。"
        )
    ]


def ask_residency(draft: uuid.UUID, resource: Resource) -> list[Message]:
    return [
        build.text(
            f"「{resource.name}」は市内にお住まいの方が対象です。市内にお住まいですか。",
            tap("はい", "resident", d=draft.hex, v="yes"),
            tap("いいえ", "resident", d=draft.hex, v="no"),
            _quit(draft),
        )
    ]


def not_resident(resource: Resource) -> list[Message]:
    return [
        build.text(
            f"申し訳ありません、「{resource.name}」は市内にお住まいの方のみご予約いただけます。"
            f"お住まいの市区町村の窓口、または {resource.phone} までお問い合わせください。"
        )
    ]


def summary(
    draft: uuid.UUID,
    resource: Resource,
    ref: SlotRef,
    answers: Sequence[tuple[Question, str]],
    replacing: str = "",
) -> list[Message]:
    rows: list[FlexComponent] = [
        build.row("予約", resource.name, bold=True),
        build.row("日時", when(ref.start)),
        build.row("場所", resource.place),
    ]
    if answers:
        rows.append(FlexSeparator(margin="md"))
        rows += [build.row(q.label, f"{value}{q.unit}") for q, value in answers]
    if replacing:
        rows += [FlexSeparator(margin="md"), build.row("変更前", replacing)]
    bubble = card(
        "予約内容の確認",
        rows,
        [
            FlexButton(
                style="primary",
                color=ACCENT,
                action=tap("確定", "book", "確定", d=draft.hex, **slot_params(ref)),
            ),
            FlexButton(style="link", action=_quit(draft)),
        ],
    )
    return [
        build.text("内容をご確認のうえ、「確定」を押してください。"),
        FlexMessage(alt_text=f"予約内容の確認（{resource.name} {when(ref.start)}）", contents=bubble),
    ]


def _booking_bubble(
    title: str, number: str, resource: Resource, ref: SlotRef, booking_id: uuid.UUID, ics_url: str
) -> FlexBubble:
    rows: list[FlexComponent] = [
        build.row("予約番号", number, bold=True),
        build.row("予約", resource.name),
        build.row("日時", when(ref.start)),
        build.row("場所", resource.place),
        build.row("持ち物", "、".join(resource.bring)),
    ]
    buttons: list[FlexComponent] = [
        FlexButton(style="secondary", height="sm", action=URIAction(label="カレンダーに追加", uri=ics_url)),
        FlexButton(
            style="secondary", height="sm", action=tap("変更", "change", b=booking_id.hex, **slot_params(ref))
        ),
        FlexButton(
            style="link",
            height="sm",
            action=tap("キャンセル", "cancel", b=booking_id.hex, **slot_params(ref)),
        ),
    ]
    return card(title, rows, buttons)


def card(title: str, rows: Sequence[FlexComponent], buttons: Sequence[FlexComponent]) -> FlexBubble:
    """A bubble in the service's look: the title on the accent colour, the rows, the buttons."""
    return FlexBubble(
        header=FlexBox(
            layout="vertical",
            background_color=ACCENT,
            contents=[FlexText(text=title, weight="bold", size="lg", color="#ffffff")],
        ),
        body=FlexBox(layout="vertical", contents=list(rows), spacing="sm"),
        footer=FlexBox(layout="vertical", spacing="sm", contents=list(buttons)),
    )


def booked(
    number: str, resource: Resource, ref: SlotRef, booking_id: uuid.UUID, ics_url: str
) -> list[Message]:
    bubble = _booking_bubble("予約が完了しました", number, resource, ref, booking_id, ics_url)
    return [
        build.text(
            f"ご予約を承りました。予約番号は {number} です。\n前日にこのトークでお知らせします。"
            f"変更・キャンセルは{when(Catalogue.changeable_until(resource, ref.start))}までこのトークでできます。"
        ),
        FlexMessage(alt_text=f"予約完了 {number}（{resource.name} {when(ref.start)}）", contents=bubble),
    ]


def already_booked(number: str) -> list[Message]:
    return [
        build.text(f"このご予約はすでに承っています（予約番号 {number}）。重ねて操作する必要はありません。")
    ]


def full(resource: Resource, ref: SlotRef, draft: uuid.UUID | None) -> list[Message]:
    """The slot is full: the waitlist (within the dialog that chose it), or another day."""
    wait = [tap("空き待ちに登録", "wait", d=draft.hex, t=ref.stamp)] if draft is not None else []
    return [
        build.text(
            f"申し訳ありません、{when(ref.start)}の「{resource.name}」はただいま満席です。\n"
            + (
                "空き待ちに登録すると、キャンセルが出たときに先着順でこのトークにお知らせします。"
                if wait
                else ""
            ),
            *wait,
            tap("別の日を選ぶ", "menu"),
        )
    ]


def already_in_slot(resource: Resource, ref: SlotRef) -> list[Message]:
    return [
        build.text(
            f"{when(ref.start)}の「{resource.name}」は、すでにご予約いただいています。「予約確認」からご確認ください。",
            tap("予約確認", "list"),
        )
    ]


def waitlisted(resource: Resource, ref: SlotRef) -> list[Message]:
    return [
        build.text(
            f"{when(ref.start)}の「{resource.name}」の空き待ちに登録しました。\n"
            f"空きが出たらお知らせします。お知らせから{resource.hold_hours}時間以内に「予約する」を押すと予約が確定します。"
        )
    ]


def already_waiting() -> list[Message]:
    return [build.text("この時間の空き待ちには、すでに登録されています。空きが出たらお知らせします。")]


def seats_free(resource: Resource, ref: SlotRef) -> list[Message]:
    return [
        build.text(
            f"{when(ref.start)}の「{resource.name}」には空きがあります。メニューの「予約」からご予約ください。",
            tap("予約する", "menu"),
        )
    ]


def limit_reached(resource: Resource) -> list[Message]:
    return [
        build.text(
            f"「{resource.name}」のご予約は、お一人{resource.max_active}件までです。"
            "新しく予約するには、「予約確認」から今のご予約を変更またはキャンセルしてください。",
            tap("予約確認", "list"),
        )
    ]


REFUSED_TIME = {
    "past": "この日時はすでに過ぎています。",
    "too_soon": "この日時は受付期間を過ぎています（{lead}時間前までのご予約です）。",
    "too_far": "この日時はまだ受付を始めていません（{horizon}日先までご予約いただけます）。",
    "no_slot": "この日時には予約枠がありません。",
    "closed": "この日時の受付は終了しました。",
}


def time_refused(resource: Resource, reason: str) -> list[Message]:
    text = REFUSED_TIME.get(reason, REFUSED_TIME["no_slot"]).format(
        lead=resource.lead_hours, horizon=resource.horizon_days
    )
    return [build.text(f"申し訳ありません。{text}別の日時をお選びください。", tap("日を選び直す", "menu"))]


def use_buttons(draft: uuid.UUID) -> list[Message]:
    return [build.text("恐れ入りますが、上のボタンからお選びください。", _quit(draft))]


def numbers_only(draft: uuid.UUID, question: Question) -> list[Message]:
    return [build.text(f"恐れ入りますが、{question.label}は数字でお送りください。", _quit(draft))]


def quit() -> list[Message]:
    return [build.text("ご予約の手続きを終了しました。またいつでもご利用ください。")]


def stale() -> list[Message]:
    return [
        build.text(
            "このボタンは有効期限が切れています。お手数ですが、画面下のメニューの「予約」からやり直してください。"
        )
    ]


def not_yours() -> list[Message]:
    return [
        build.text(
            "申し訳ありません、この操作はお受けできません。ご自身のご予約は「予約確認」からご確認ください。",
            tap("予約確認", "list"),
        )
    ]


def forgotten() -> list[Message]:
    return [
        build.text(
            "お客さまの個人情報は、ご依頼により消去しております。そのため、LINEでのご予約はお受けできません。"
            "お手数ですが、各窓口までお電話でお問い合わせください。"
        )
    ]


# Bookings already made.


@dataclass(frozen=True)
class Upcoming:
    booking_id: uuid.UUID
    number: str
    resource: Resource
    ref: SlotRef
    ics_url: str


def bookings(found: Sequence[Upcoming], waiting: Sequence[tuple[Resource, SlotRef]] = ()) -> list[Message]:
    """予約確認: the upcoming bookings (a carousel) and the slots the resident waits for."""
    said: list[Message] = []
    if not found:
        said.append(
            build.text(
                "現在、ご予約はありません。新しく予約するには「予約する」を押してください。",
                tap("予約する", "menu"),
            )
        )
    else:
        bubbles = [
            _booking_bubble("ご予約", u.number, u.resource, u.ref, u.booking_id, u.ics_url)
            for u in found[:MAX_BUBBLES]
        ]
        said += [
            build.text(f"これからのご予約は{len(found)}件です。"),
            FlexMessage(alt_text=f"ご予約一覧（{len(found)}件）", contents=FlexCarousel(contents=bubbles)),
        ]
    if waiting:
        lines = "\n".join(f"・{when(ref.start)} {resource.name}" for resource, ref in waiting)
        leave = [
            tap(f"取消 {ref.start.astimezone(JST):%-m/%-d %-H:%M}", "unwait", **slot_params(ref))
            for _resource, ref in waiting[:12]
        ]
        said.append(
            build.text(f"空き待ちに登録中です。\n{lines}\n取り消す場合は下のボタンを押してください。", *leave)
        )
    return said


def left_waitlist(resource: Resource, ref: SlotRef) -> list[Message]:
    return [build.text(f"{when(ref.start)}の「{resource.name}」の空き待ちを取り消しました。")]


def not_waiting() -> list[Message]:
    return [
        build.text("この時間の空き待ちには登録されていません（すでに取り消したか、ご案内が終わっています）。")
    ]


def confirm_cancel(number: str, resource: Resource, ref: SlotRef, booking_id: uuid.UUID) -> list[Message]:
    params = {"b": booking_id.hex, **slot_params(ref)}
    return [
        build.text(
            f"予約番号 {number}（{resource.name} {when(ref.start)}）をキャンセルしますか。",
            tap("キャンセルする", "cancel_ok", **params),
            tap("やめておく", "keep"),
        )
    ]


def cancelled(number: str) -> list[Message]:
    return [build.text(f"予約番号 {number} のご予約をキャンセルしました。またのご利用をお待ちしております。")]


def kept() -> list[Message]:
    return [build.text("ご予約はそのままです。当日お待ちしております。")]


def already_cancelled(number: str = "") -> list[Message]:
    which = f"予約番号 {number} の" if number else "この"
    return [build.text(f"{which}ご予約は、すでにキャンセルされています。")]


def past_cutoff(resource: Resource, ref: SlotRef) -> list[Message]:
    until = when(Catalogue.changeable_until(resource, ref.start))
    return [
        build.text(
            f"申し訳ありません、このご予約のLINEでの変更・キャンセルは{until}までです。\n"
            f"お手数ですが、{resource.phone}までお電話ください。"
        )
    ]


def changed(number: str, old_number: str) -> list[Message]:
    return [
        build.text(f"予約番号 {old_number} は取り消し、新しいご予約（予約番号 {number}）に変更しました。")
    ]


# Pushes: the waitlist, the reminder, what a clerk did.


def offered(resource: Resource, ref: SlotRef, offer_id: uuid.UUID, until: datetime) -> list[Message]:
    return [
        build.text(
            f"【空きのお知らせ】{when(ref.start)}の「{resource.name}」に空きが出ました。\n"
            f"{when(until)}までに「予約する」を押すと、ご予約が確定します（押さなければ次の方にご案内します）。",
            tap("予約する", "accept", "予約する", o=offer_id.hex, **slot_params(ref)),
        )
    ]


def offer_lapsed(resource: Resource, ref: SlotRef) -> list[Message]:
    return [
        build.text(
            f"{when(ref.start)}の「{resource.name}」の空きのご案内は、お返事の期限が過ぎたため、次の方にご案内しました。"
            "またのご利用をお待ちしております。",
            tap("ほかの日を探す", "menu"),
        )
    ]


def offer_gone() -> list[Message]:
    return [
        build.text(
            "申し訳ありません、このご案内は有効期限が切れたか、すでに次の方にご案内しました。",
            tap("ほかの日を探す", "menu"),
        )
    ]


def reminder(number: str, resource: Resource, ref: SlotRef) -> list[Message]:
    bring = "、".join(resource.bring) or "特になし"
    return [
        build.text(
            f"【明日のご予約】{when(ref.start)}「{resource.name}」（予約番号 {number}）\n"
            f"場所：{resource.place}\n持ち物：{bring}\nご都合が悪くなった場合は、{resource.phone}までご連絡ください。"
        )
    ]


def cancelled_by_staff(number: str, resource: Resource, ref: SlotRef, reason: str) -> list[Message]:
    return [
        build.text(
            f"【ご予約の取り消し】予約番号 {number}（{resource.name} {when(ref.start)}）は、"
            f"次の理由により取り消しとなりました。\n理由：{reason}\n"
            "大変申し訳ありません。別の日をご希望の場合は、下のボタンからご予約ください。",
            tap("別の日を予約する", "menu"),
        )
    ]


def waitlist_ended(resource: Resource, ref: SlotRef, reason: str) -> list[Message]:
    return [
        build.text(
            f"【空き待ちの終了】{when(ref.start)}の「{resource.name}」は、次の理由により休止となりました。"
            f"空き待ちの登録は終了します。\n理由：{reason}\n別の日をご希望の場合は、下のボタンからご予約ください。",
            tap("別の日を予約する", "menu"),
        )
    ]


def moved_by_staff(
    number: str, new_number: str, resource: Resource, old: SlotRef, new: SlotRef, reason: str
) -> list[Message]:
    return [
        build.text(
            f"【ご予約の変更】予約番号 {number}（{resource.name}）の日時を、"
            f"{when(old.start)}から{when(new.start)}に変更しました。新しい予約番号は {new_number} です。\n"
            f"理由：{reason}\n場所：{resource.place}\n"
            f"ご都合が合わない場合は、{resource.phone}までご連絡ください。"
        )
    ]
