"""notify's part of the conversation: the welcome on follow, the 使い方 guide, 配信設定.

Pure: an intent in, a friend command and the messages to answer with out. The messages go
out as a reply through notify's own outbound path (see handlers.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from linebot.v3.messaging import Message, MessageAction, QuickReply, TextMessage

from cityhall.line import postback
from cityhall.line.build import postback as button
from cityhall.line.build import quick_reply
from cityhall.line.contracts import ResidentIntent
from cityhall.notify.events import Follow, FriendCommand, Unfollow

TOWN = "ポケット市役所"

DOMAIN = "notify"
HOWTO_DATA = postback.encode(DOMAIN, "howto")
SETTINGS_DATA = postback.encode(DOMAIN, "settings")
FAQ_TEXT = "よくある質問"


@dataclass(frozen=True)
class Response:
    command: FriendCommand | None = None
    messages: list[Message] = field(default_factory=list)
    release_dialog: bool = False
    """Hand the resident's free text back to the guide (a notify postback put them in our dialog)."""


def quick_replies(*, howto: bool = True) -> QuickReply:
    guide = [button("使い方", HOWTO_DATA)] if howto else []
    return quick_reply(
        *guide, MessageAction(label=FAQ_TEXT, text=FAQ_TEXT), button("配信設定", SETTINGS_DATA)
    )


def welcome(*, returning: bool = False) -> list[Message]:
    greeting = (
        f"おかえりなさい。{TOWN}の公式アカウントを再び友だちに追加していただき、ありがとうございます。"
        if returning
        else f"友だち追加ありがとうございます。{TOWN}の公式アカウントです。"
    )
    text = (
        f"{greeting}\n"
        "このアカウントでは、窓口に来なくてもできる手続きやお問い合わせを受け付けています。\n"
        "\n"
        "画面下のメニューから、次のことができます。\n"
        "・証明書：住民票の写しなどを申請できます\n"
        "・予約：窓口での相談や各種の予約ができます\n"
        "・通報：道路や公園の傷みを写真でお知らせいただけます\n"
        "・防災/避難所：近くの避難所や防災情報を確かめられます\n"
        "・配信設定：受け取るお知らせを選べます\n"
        "・よくある質問：よくあるお問い合わせにお答えします\n"
        "・市民の声：市政へのご意見・ご提案をお寄せいただけます\n"
        "・使い方：このアカウントの使い方をご案内します\n"
        "\n"
        "詳しい使い方は、下の「使い方」をタップしてご覧ください。"
    )
    return [TextMessage(text=text, quick_reply=quick_replies())]


def howto() -> list[Message]:
    text = (
        "使い方のご案内です。メニューはいつでも画面下から開けます。\n"
        "\n"
        "【証明書】住民票の写しや印鑑登録証明書などを申請できます。本人確認のあと、ご自宅へ郵送します。\n"
        "【予約】窓口での相談、子育て相談、予防接種、施設の利用、粗大ごみの収集を予約できます。\n"
        "【通報】道路の穴や公園の遊具の傷み、落書きなどを、写真と場所を添えてお知らせください。\n"
        "【防災/避難所】お近くの避難所を探したり、防災情報を確かめたりできます。\n"
        "【配信設定】防災情報やイベントなど、受け取りたいお知らせを選べます。\n"
        "【よくある質問】ごみの出し方や手続きなど、よくあるご質問にお答えします。\n"
        "【市民の声】市政へのご意見やご提案を、文章でお寄せいただけます。担当の職員が拝見し、必要に応じてこのトークでお答えします。\n"
        "\n"
        "わからないことがあれば、このトークにそのまま文章でお送りください。"
    )
    return [TextMessage(text=text, quick_reply=quick_replies(howto=False))]


def settings() -> list[Message]:
    text = (
        "配信設定のご案内です。\n"
        "受け取るお知らせの種類を選べる機能は、現在準備を進めています。"
        "準備が整うまでは、防災情報など大切なお知らせをすべてお届けします。\n"
        "お知らせを止めたいときは、このアカウントをブロックしてください。"
    )
    return [TextMessage(text=text, quick_reply=quick_replies())]


def not_understood() -> list[Message]:
    text = "申し訳ありません、うまく読み取れませんでした。画面下のメニューから、ご用件をお選びください。"
    return [TextMessage(text=text, quick_reply=quick_replies())]


def respond(intent: ResidentIntent) -> Response:
    """What notify does for an intent routed to it."""
    match intent.kind:
        case "follow":
            follow = intent.raw.get("follow")
            returning = isinstance(follow, dict) and follow.get("isUnblocked") is True
            return Response(Follow(user_id=intent.user_id, at=intent.timestamp), welcome(returning=returning))
        case "unfollow":
            # A resident who blocked the account cannot be answered.
            return Response(Unfollow(user_id=intent.user_id, at=intent.timestamp))
        case "postback":
            tapped = postback.decode(intent.postback_data)
            match tapped.action if tapped else None:
                case "howto":
                    return Response(messages=howto(), release_dialog=True)
                case "settings":
                    return Response(messages=settings(), release_dialog=True)
                case _:
                    return Response(messages=howto(), release_dialog=True)
        case _:
            return Response(messages=not_understood(), release_dialog=True)
