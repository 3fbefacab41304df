"""What the 電子回覧板 says (Japanese, polite, plain): to residents in LINE, and the refusals staff
and officers read on their pages."""

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime

from linebot.v3.messaging import Message, PostbackAction

from cityhall.line import build, postback
from cityhall.line.japanese import datetime_ja

DOMAIN = "community"
MAX_NAME = 40
"""Characters of the name a resident gives when asking to join."""
REFUSED = {
    "already_registered": "この町内会はすでに登録されています。",
    "bad_name": "町内会の名前は1〜60文字でご入力ください。",
    "unknown_district": "町名が正しくありません。",
    "no_association": "この町内会は見つかりません。",
    "already_member": "すでに参加しています。",
    "already_requested": "すでに参加を申し込んでいます。",
    "not_pending": "この申し込みはすでに承認または辞退の処理がされています。",
    "not_member": "この町内会には参加していません。",
    "already_posted": "この回覧板はすでに回しています。",
    "bad_title": "件名は1〜60文字でご入力ください。",
    "bad_text": "本文は1〜2000文字でご入力ください。",
    "no_members": "承認済みの会員がいないため、回覧板を回せません。",
    "no_circular": "この回覧板は見つかりません。",
    "not_recipient": "この回覧板はお届けしていません。",
    "all_read": "全員が確認済みのため、再通知の必要はありません。",
    "reminded_recently": "再通知は6時間に1回までです。しばらくおいてからお試しください。",
    "bad_officer": "役員のお名前は1〜40文字でご入力ください。",
    "no_officer": "この役員は見つかりません。",
    "already_appointed": "この役員はすでに登録しています。招待コードは登録した直後の画面にだけ表示されます。"
    "コードが分からなくなった場合は、役員から外して登録し直してください。",
}
"""Why a command is refused, as staff and officers read it (the reason travels in the page's URL)."""
AUDIT_ACTIONS = {
    "view_members": "会員の閲覧",
    "view_readers": "回覧板の確認状況の閲覧",
    "officer_login": "役員のログイン",
    "appoint_officer": "役員の登録",
    "remove_officer": "役員から外す",
    "forget_resident": "個人情報の消去",
}
"""What the audit log records, as 協働推進課's administrators read it."""


def _tap(label: str, action: str, **params: str) -> PostbackAction:
    return build.postback(label, postback.encode(DOMAIN, action, **params))


def _menu() -> PostbackAction:
    return _tap("回覧板メニュー", "menu")


def _cancel() -> PostbackAction:
    return _tap("やめる", "cancel")


def read_button(circular_id: uuid.UUID, label: str = "確認しました") -> PostbackAction:
    return _tap(label, "read", c=circular_id.hex)


def menu(joined: Sequence[str], pending: Sequence[str], officer: bool) -> list[Message]:
    lines = ["電子回覧板です。町内会・自治会の回覧板を、このトークでお届けします。"]
    lines += [f"参加中：{name}" for name in joined]
    lines += [f"承認待ち：{name}" for name in pending]
    if not joined and not pending:
        lines.append("まだどの町内会にも参加していません。「町内会に参加」からお申し込みください。")
    actions = [_tap("町内会に参加", "join"), _tap("届いた回覧板", "recent")]
    if joined or pending:
        actions.append(_tap("退会する", "leave"))
    actions.append(_tap("役員ページ" if officer else "役員の方", "officer"))
    return [build.text("\n".join(lines), *actions)]


def choose_district(districts: Sequence[tuple[str, str]]) -> list[Message]:
    choices = [_tap(name, "district", d=key) for key, name in districts]
    return [
        build.text(
            "お住まいの町名をお選びください。町内会の名前で探すときは、名前の一部をこのトークでお送りください。",
            *choices,
            _cancel(),
        )
    ]


def choose_association(where: str, associations: Sequence[tuple[uuid.UUID, str]]) -> list[Message]:
    """`where`: the 町 picked (本町) or the words searched (「一丁目」を含む名前)."""
    if not associations:
        return [
            build.text(
                f"申し訳ありません。{where}の町内会は、まだ電子回覧板に登録されていません。",
                _tap("町名から選ぶ", "join"),
                _menu(),
            )
        ]
    choices = [_tap(name, "pick", a=a.hex) for a, name in associations[:12]]
    return [build.text(f"{where}の町内会です。参加する町内会をお選びください。", *choices, _cancel())]


def searched(words: str) -> str:
    return f"「{words[:20]}」を含む名前"


def ask_name(association: str) -> list[Message]:
    return [
        build.text(
            f"{association}への参加を申し込みます。\n"
            "役員の方がどなたか分かるよう、お名前と番地（集合住宅は部屋番号も）をこのトークでお送りください"
            f"（{MAX_NAME}文字まで）。例：山田花子 3-5-201",
            _cancel(),
        )
    ]


def name_too_long() -> list[Message]:
    return [build.text(f"恐れ入りますが、{MAX_NAME}文字までで短くしてお送りください。", _cancel())]


def text_only() -> list[Message]:
    return [build.text("恐れ入りますが、お名前は文章でお送りください。", _cancel())]


def join_requested(association: str) -> list[Message]:
    return [
        build.text(
            f"{association}に参加を申し込みました。役員の方が承認すると、このトークでお知らせします。",
            _menu(),
        )
    ]


def already(reason: str) -> list[Message]:
    return [build.text(REFUSED[reason], _menu())]


def join_approved(association: str) -> list[Message]:
    return [
        build.text(
            f"{association}への参加が承認されました。これから回覧板をこのトークでお届けします。"
            "届いた回覧板は、読んだら「確認しました」をタップしてください。",
            _menu(),
        )
    ]


def join_declined(association: str) -> list[Message]:
    return [
        build.text(
            f"申し訳ありません。{association}への参加のお申し込みは、承認されませんでした。"
            "お心当たりがない場合は、町内会の役員の方にお尋ねください。"
        )
    ]


def circular(association: str, number: str, title: str, text: str, circular_id: uuid.UUID) -> list[Message]:
    return [
        build.text(
            f"【回覧板】{association}\n{title}\n\n{text}\n\n（{number}）読んだら「確認しました」をタップしてください。",
            read_button(circular_id),
        )
    ]


def reminder(association: str, number: str, title: str, text: str, circular_id: uuid.UUID) -> list[Message]:
    return [
        build.text(
            f"【回覧板・まだ確認されていません】{association}\n{title}\n\n{text}\n\n"
            f"（{number}）読んだら「確認しました」をタップしてください。",
            read_button(circular_id),
        )
    ]


def read_ok(title: str) -> list[Message]:
    return [build.text(f"回覧板「{title}」を確認済みにしました。ありがとうございます。", _menu())]


def read_again(title: str) -> list[Message]:
    return [build.text(f"回覧板「{title}」は確認済みです。重ねてタップする必要はありません。", _menu())]


def not_recipient() -> list[Message]:
    return [build.text("申し訳ありません、この回覧板はお客さまにお届けしたものではありません。", _menu())]


def recent(circulars: Sequence[tuple[uuid.UUID, str, str, datetime, bool]]) -> list[Message]:
    """`circulars`: (id, association, title, posted at, read), newest first."""
    if not circulars:
        return [build.text("最近届いた回覧板はありません。", _menu())]
    lines = ["最近届いた回覧板です。"]
    lines += [
        f"・{datetime_ja(at)} {association}「{title}」{'確認済み' if read else '未確認'}"
        for _id, association, title, at, read in circulars
    ]
    unread = [read_button(c, f"確認：{title}") for c, _a, title, _at, read in circulars if not read]
    return [build.text("\n".join(lines), *unread[:12], _menu())]


def choose_leave(memberships: Sequence[tuple[uuid.UUID, str]]) -> list[Message]:
    if not memberships:
        return [build.text("参加している町内会はありません。", _menu())]
    choices = [_tap(f"退会：{name}", "leave_pick", a=a.hex) for a, name in memberships[:12]]  # 13 at most
    return [build.text("退会する町内会をお選びください。", *choices, _cancel())]


def confirm_leave(association: str, association_id: uuid.UUID) -> list[Message]:
    return [
        build.text(
            f"{association}を退会しますか。退会すると、回覧板は届かなくなります。",
            _tap("退会する", "leave_yes", a=association_id.hex),
            _cancel(),
        )
    ]


def left(association: str) -> list[Message]:
    return [build.text(f"{association}を退会しました。ご利用ありがとうございました。", _menu())]


def ask_code() -> list[Message]:
    return [
        build.text(
            "町内会の役員の方は、市役所（協働推進課）からお渡しした招待コードを、このトークでお送りください。"
            "例：K7QF-2M9X",
            _cancel(),
        )
    ]


def bad_code() -> list[Message]:
    return [
        build.text(
            "招待コードが正しくないか、有効期限が切れています。お確かめのうえ、もう一度お送りください。"
            "分からない場合は協働推進課へお問い合わせください。",
            _cancel(),
        )
    ]


def throttled(seconds: int) -> list[Message]:
    return [
        build.text(
            f"誤ったコードが続いたため、少しお待ちいただいています。{seconds}秒ほどおいてから、もう一度お送りください。",
            _cancel(),
        )
    ]


def officer_registered(association: str, name: str) -> list[Message]:
    return [
        build.text(
            f"{name}さんを{association}の役員として登録しました。\n"
            "役員ページには、このトークでお送りするリンクからログインします。パスワードはありません。",
            _tap("役員ページ", "officer"),
        )
    ]


def signin_link(url: str, minutes: int) -> list[Message]:
    return [
        build.text(
            f"役員ページへのログイン用リンクです（{minutes}分間・1回限り有効）。\n{url}\n"
            "このリンクは他の方に転送しないでください。お心当たりがない場合は、そのまま破棄してください。",
            _menu(),
        )
    ]


def use_buttons() -> list[Message]:
    return [build.text("恐れ入りますが、下のボタンからお選びください。", _menu())]


def stale() -> list[Message]:
    return [
        build.text(
            "このボタンは有効期限が切れています。お手数ですが、回覧板メニューからやり直してください。",
            _menu(),
        )
    ]


def cancelled() -> list[Message]:
    return [build.text("取りやめました。", _menu())]


def forgotten() -> list[Message]:
    return [
        build.text(
            "お客さまの個人情報は、ご依頼により消去しております。そのため、町内会へのお申し込みをお受けできません。"
            "お手数ですが、協働推進課までお問い合わせください。"
        )
    ]


CircularMessage = Callable[[str, str, str, str, uuid.UUID], list[Message]]
"""`circular` or `reminder`: (association, number, title, text, circular id) -> the message."""
