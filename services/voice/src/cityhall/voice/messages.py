"""What the opinion box says (Japanese, polite, plain): to residents in LINE, and the labels and
refusals its clerks read on the dashboard."""

import uuid

from linebot.v3.messaging import Message, PostbackAction

from cityhall.line import build, postback

DOMAIN = "voice"
MAX_TEXT = 1000
"""Characters of one opinion (and of an answer)."""
CATEGORIES = {"town": "まちづくり", "welfare": "福祉・健康", "children": "子育て・教育", "other": "その他"}
REFUSED = {
    "already_submitted": "このご意見はすでに受け付けています。",
    "unknown_category": "分野が正しくありません。",
    "not_submitted": "このご意見は見つかりません。",
    "already_answered": "このご意見にはすでに回答しています。",
    "bad_answer": "回答は1〜1000文字でご入力ください。",
    "forgotten": "この方の個人情報は消去済みのため、回答を送れません。",
}
"""Why a command is refused, as the clerk reads it (the reason travels in the page's URL)."""


def _tap(label: str, action: str, opinion_id: uuid.UUID, **params: str) -> PostbackAction:
    return build.postback(label, postback.encode(DOMAIN, action, o=opinion_id.hex, **params))


def _cancel(opinion_id: uuid.UUID) -> PostbackAction:
    return _tap("やめる", "cancel", opinion_id)


def ask_text(opinion_id: uuid.UUID) -> list[Message]:
    return [
        build.text(
            "市民の声をお寄せいただき、ありがとうございます。\n"
            f"市政へのご意見・ご提案を、このトークに文章でお送りください（{MAX_TEXT}文字まで）。\n"
            "いただいたご意見は、広聴広報課の職員が拝見します。",
            _cancel(opinion_id),
        )
    ]


def text_too_long(opinion_id: uuid.UUID) -> list[Message]:
    return [
        build.text(
            f"申し訳ありません、ご意見は{MAX_TEXT}文字までとさせていただいております。短くしてお送りください。",
            _cancel(opinion_id),
        )
    ]


def text_only(opinion_id: uuid.UUID) -> list[Message]:
    return [build.text("恐れ入りますが、ご意見は文章でお送りください。", _cancel(opinion_id))]


def ask_category(opinion_id: uuid.UUID) -> list[Message]:
    choices = [_tap(label, "category", opinion_id, c=key) for key, label in CATEGORIES.items()]
    return [
        build.text(
            "ありがとうございます。ご意見の分野を下からお選びください（選ばなくてもかまいません）。",
            *choices,
            _tap("選ばない", "category", opinion_id, c=""),
            _cancel(opinion_id),
        )
    ]


def confirm(opinion_id: uuid.UUID, category: str) -> list[Message]:
    chosen = CATEGORIES.get(category, "指定なし")
    return [
        build.text(
            f"分野：{chosen}\nこの内容でご意見を送信してよろしいですか。",
            _tap("送信", "send", opinion_id),
            _cancel(opinion_id),
        )
    ]


def use_buttons(opinion_id: uuid.UUID) -> list[Message]:
    return [build.text("恐れ入りますが、下のボタンからお選びください。", _cancel(opinion_id))]


def received(number: str) -> list[Message]:
    return [
        build.text(
            f"ご意見を受け付けました。受付番号は {number} です。\n"
            "担当の職員が拝見し、回答が必要なものにはこのトークでお答えします。貴重なご意見をありがとうございました。"
        )
    ]


def already_sent(number: str) -> list[Message]:
    return [
        build.text(
            f"このご意見はすでに受け付けています（受付番号 {number}）。重ねて送信する必要はありません。"
        )
    ]


def not_yours() -> list[Message]:
    return [
        build.text(
            "申し訳ありません、この操作はお受けできません。画面下のメニューの「市民の声」からやり直してください。"
        )
    ]


def stale() -> list[Message]:
    return [
        build.text(
            "このボタンは有効期限が切れています。お手数ですが、画面下のメニューの「市民の声」からやり直してください。"
        )
    ]


def cancelled() -> list[Message]:
    return [build.text("ご意見の送信を取りやめました。またいつでもお寄せください。")]


def forgotten() -> list[Message]:
    return [
        build.text(
            "お客さまの個人情報は、ご依頼により消去しております。そのため、ご意見をお受けできません。お手数ですが、広聴広報課までお電話でお問い合わせください。"
        )
    ]


def answer(number: str, text: str) -> list[Message]:
    return [
        build.text(
            f"【市民の声への回答】受付番号 {number}\nお寄せいただいたご意見について、広聴広報課よりお答えします。\n\n{text}"
        )
    ]
