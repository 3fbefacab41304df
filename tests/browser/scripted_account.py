"""A scripted LINE account for the simulator's own browser test.

It stands where the gateway and the domain services stand: it receives the simulator's
webhooks (signature checked by RecordingGateway with the SDK) and answers every event
through the real LINE emulator with the SDK, with one of each kind of message the page must
render: quick replies of every action type, buttons and confirm templates, a Flex carousel,
and a rich menu.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

from linebot.v3.messaging import (
    ApiClient,
    AsyncApiClient,
    AsyncMessagingApi,
    AsyncMessagingApiBlob,
    Configuration,
    FlexMessage,
    Message,
    MessagingApi,
    MessagingApiBlob,
    ReplyMessageRequest,
    RichMenuRequest,
    TemplateMessage,
    TextMessage,
)
from linebot.v3.webhooks import (
    FollowEvent,
    ImageMessageContent,
    LocationMessageContent,
    MessageEvent,
    PostbackEvent,
    TextMessageContent,
)

from cityhall.simulator.testing import RecordingGateway

GUIDE = "【使い方】\n・証明書：住民票などの請求\n・予約：窓口や施設の予約\n・通報：道路の損傷などの連絡"

QUICK_REPLY = {
    "items": [
        {"type": "action", "action": {"type": "message", "label": "使い方", "text": "使い方"}},
        {
            "type": "action",
            "action": {
                "type": "postback",
                "label": "予約",
                "data": "domain=reservations",
                "displayText": "予約したい",
            },
        },
        {
            "type": "action",
            "action": {
                "type": "datetimepicker",
                "label": "日付を選ぶ",
                "data": "domain=reservations&pick=date",
                "mode": "date",
                "initial": "2030-04-01",
                "min": "2030-01-01",
                "max": "2030-12-31",
            },
        },
        {
            "type": "action",
            "action": {
                "type": "datetimepicker",
                "label": "日時を選ぶ",
                "data": "pick=datetime",
                "mode": "datetime",
            },
        },
        {"type": "action", "action": {"type": "location", "label": "位置情報"}},
        {"type": "action", "action": {"type": "cameraRoll", "label": "写真を選ぶ"}},
    ]
}

FLEX = {
    "type": "carousel",
    "contents": [
        {
            "type": "bubble",
            "header": {
                "type": "box",
                "layout": "vertical",
                "backgroundColor": "#06c755",
                "contents": [
                    {
                        "type": "text",
                        "text": "住民票の写し",
                        "color": "#ffffff",
                        "weight": "bold",
                        "size": "lg",
                    }
                ],
            },
            "body": {
                "type": "box",
                "layout": "vertical",
                "spacing": "md",
                "contents": [
                    {
                        "type": "box",
                        "layout": "baseline",
                        "contents": [
                            {"type": "text", "text": "手数料", "color": "#888888", "size": "sm", "flex": 2},
                            {"type": "text", "text": "300円", "size": "sm", "flex": 5, "weight": "bold"},
                        ],
                    },
                    {"type": "separator"},
                    {
                        "type": "text",
                        "wrap": True,
                        "contents": [
                            {"type": "span", "text": "郵送", "weight": "bold"},
                            {"type": "span", "text": "で受け取れます。"},
                        ],
                    },
                    {
                        "type": "box",
                        "layout": "horizontal",
                        "contents": [{"type": "filler"}, {"type": "text", "text": "右", "flex": 0}],
                    },
                ],
            },
            "footer": {
                "type": "box",
                "layout": "vertical",
                "spacing": "sm",
                "contents": [
                    {
                        "type": "button",
                        "style": "primary",
                        "action": {
                            "type": "postback",
                            "label": "申し込む",
                            "data": "domain=certificates&apply=1",
                        },
                    },
                    {
                        "type": "button",
                        "style": "secondary",
                        "action": {"type": "message", "label": "やめる", "text": "やめる"},
                    },
                ],
            },
        },
        {
            "type": "bubble",
            "size": "kilo",
            "body": {
                "type": "box",
                "layout": "horizontal",
                "contents": [
                    {"type": "text", "text": "二枚目", "weight": "bold"},
                    {"type": "text", "text": "右寄せ", "align": "end", "color": "#3a63b8"},
                ],
            },
        },
    ],
}

TEMPLATES: list[dict[str, Any]] = [
    {
        "type": "template",
        "altText": "手続きを選んでください",
        "template": {
            "type": "buttons",
            "title": "手続きの種類",
            "text": "どれを申し込みますか？",
            "actions": [
                {"type": "postback", "label": "住民票", "data": "domain=certificates&kind=juminhyo"},
                {"type": "message", "label": "印鑑登録証明書", "text": "印鑑登録証明書"},
            ],
        },
    },
    {
        "type": "template",
        "altText": "確認",
        "template": {
            "type": "confirm",
            "text": "この内容で送信しますか？",
            "actions": [
                {"type": "message", "label": "はい", "text": "はい"},
                {"type": "message", "label": "いいえ", "text": "いいえ"},
            ],
        },
    },
]

RICH_MENU = {
    "size": {"width": 2500, "height": 843},
    "selected": True,
    "name": "test menu",
    "chatBarText": "メニュー",
    "areas": [
        {
            "bounds": {"x": 0, "y": 0, "width": 833, "height": 843},
            "action": {"type": "postback", "label": "よくある質問", "data": "domain=guide&menu=faq"},
        },
        {
            "bounds": {"x": 833, "y": 0, "width": 834, "height": 843},
            "action": {"type": "message", "label": "使い方", "text": "使い方"},
        },
        {
            "bounds": {"x": 1667, "y": 0, "width": 833, "height": 843},
            "action": {"type": "uri", "label": "位置情報を送る", "uri": "https://line.me/R/nv/location/"},
        },
    ],
}


def striped_png(width: int, height: int, colours: list[tuple[int, int, int]]) -> bytes:
    """Vertical stripes, one per rich menu area, without an image library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    stripe = width // len(colours)
    row = b"\x00" + b"".join(bytes(colours[min(x // stripe, len(colours) - 1)]) for x in range(width))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def install_rich_menu(line_api_url: str, token: str) -> str:
    """Creates the menu, uploads its image and makes it the default, through the SDK."""
    with ApiClient(Configuration(host=line_api_url, access_token=token)) as client:
        menu_id: str = (
            MessagingApi(client).create_rich_menu(RichMenuRequest.from_dict(RICH_MENU)).rich_menu_id
        )
        image = striped_png(2500, 843, [(0x2E, 0x7D, 0x32), (0x06, 0xC7, 0x55), (0x1E, 0x88, 0xE5)])
        MessagingApiBlob(client).set_rich_menu_image(
            menu_id, body=bytearray(image), _headers={"Content-Type": "image/png"}
        )
        MessagingApi(client).set_default_rich_menu(menu_id)
    return menu_id


class ScriptedAccount:
    def __init__(self, channel_secret: str, line_api_url: str, token: str) -> None:
        self.gateway = RecordingGateway(channel_secret)
        self.gateway.on_events = self.answer
        self.configuration = Configuration(host=line_api_url, access_token=token)
        self.replies: list[str] = []

    async def answer(self, events: list[Any]) -> None:
        for event in events:
            messages = await self.messages_for(event)
            if messages and getattr(event, "reply_token", None):
                async with AsyncApiClient(self.configuration) as client:
                    await AsyncMessagingApi(client).reply_message(
                        ReplyMessageRequest(reply_token=event.reply_token, messages=messages)
                    )

    async def messages_for(self, event: Any) -> list[Message]:
        if isinstance(event, FollowEvent):
            return [
                TextMessage.from_dict(
                    {"type": "text", "text": "友だち追加ありがとうございます。", "quickReply": QUICK_REPLY}
                )
            ]
        if isinstance(event, PostbackEvent):
            params = event.postback.params or {}
            shown = " ".join(f"{k}={v}" for k, v in sorted(params.items()))
            return [TextMessage(text=f"postback を受け付けました：{event.postback.data} {shown}".strip())]
        if not isinstance(event, MessageEvent):
            return []
        message = event.message
        if isinstance(message, LocationMessageContent):
            return [TextMessage(text=f"位置情報を受け付けました：{message.title or ''} {message.address}")]
        if isinstance(message, ImageMessageContent):
            async with AsyncApiClient(self.configuration) as client:
                content = await AsyncMessagingApiBlob(client).get_message_content(message.id)
            return [TextMessage(text=f"写真を受け取りました（{len(content)} バイト）")]
        if isinstance(message, TextMessageContent):
            match message.text:
                case "使い方":
                    return [TextMessage(text=GUIDE)]
                case "flex":
                    return [FlexMessage.from_dict({"type": "flex", "altText": "証明書", "contents": FLEX})]
                case "template":
                    return [TemplateMessage.from_dict(t) for t in TEMPLATES]
                case "menu":
                    return [
                        TextMessage.from_dict(
                            {"type": "text", "text": "何をしますか？", "quickReply": QUICK_REPLY}
                        )
                    ]
                case text:
                    return [TextMessage(text=f"「{text}」を受け付けました。")]
        return []
