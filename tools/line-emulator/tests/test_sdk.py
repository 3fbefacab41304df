"""The official SDK (line-bot-sdk v3, async) against the emulator on a real port, unchanged."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
from linebot.v3.messaging import (
    ApiException,
    AsyncMessagingApi,
    AsyncMessagingApiBlob,
    BroadcastRequest,
    MessageAction,
    MulticastRequest,
    NarrowcastRequest,
    PostbackAction,
    PushMessageRequest,
    QuickReply,
    QuickReplyItem,
    ReplyMessageRequest,
    RichMenuArea,
    RichMenuBounds,
    RichMenuRequest,
    RichMenuSize,
    TextMessage,
)

from cityhall.line_emulator.testing import EmulatorServer

Sdk = tuple[AsyncMessagingApi, AsyncMessagingApiBlob]


def text(body: str) -> TextMessage:
    return TextMessage(text=body)


async def test_push_with_quick_reply_and_retry_key(sdk: Sdk, server: EmulatorServer) -> None:
    messaging, _ = sdk
    key = str(uuid.uuid4())
    message = TextMessage(
        text="どの証明書ですか?",
        quick_reply=QuickReply(
            items=[QuickReplyItem(action=MessageAction(label="住民票", text="住民票"))],
        ),
    )
    first = await messaging.push_message_with_http_info(
        PushMessageRequest(to="Ualice", messages=[message]), x_line_retry_key=key
    )
    assert first.status_code == 200
    assert first.data.sent_messages[0].id.isdigit()
    assert first.data.sent_messages[0].quote_token

    with pytest.raises(ApiException) as conflict:
        await messaging.push_message(
            PushMessageRequest(to="Ualice", messages=[message]), x_line_retry_key=key
        )
    assert conflict.value.status == 409
    assert conflict.value.headers["x-line-accepted-request-id"] == first.headers["x-line-request-id"]
    assert json.loads(conflict.value.body)["message"] == "The retry key is already accepted"

    [delivered] = server.state.messages("Ualice")
    assert delivered["message"]["quickReply"]["items"][0]["action"] == {
        "type": "message",
        "label": "住民票",
        "text": "住民票",
    }


async def test_invalid_message_raises_the_sdk_error_with_lines_body(sdk: Sdk) -> None:
    messaging, _ = sdk
    # The SDK checks counts itself, but not LINE's UTF-16 text length.
    with pytest.raises(ApiException) as error:
        await messaging.push_message(PushMessageRequest(to="U1", messages=[text("ok"), text("🗾" * 2501)]))
    assert error.value.status == 400
    body = json.loads(error.value.body)
    assert body["details"] == [
        {"message": "Length must be between 0 and 5000", "property": "messages[1].text"}
    ]


async def test_reply_multicast_broadcast_narrowcast(sdk: Sdk, server: EmulatorServer) -> None:
    messaging, _ = sdk
    state = server.state
    state.add_reply_token("token-1", "Ualice")
    reply = await messaging.reply_message(ReplyMessageRequest(reply_token="token-1", messages=[text("はい")]))
    assert len(reply.sent_messages) == 1

    await messaging.multicast(MulticastRequest(to=["Ualice", "Ubob"], messages=[text("お知らせ")]))
    state.add_user({"userId": "Ucarol", "displayName": "carol"})
    await messaging.broadcast(BroadcastRequest(messages=[text("避難所開設")]))
    accepted = await messaging.narrowcast_with_http_info(NarrowcastRequest(messages=[text("粗大ごみ")]))
    assert accepted.status_code == 202
    progress = await messaging.get_narrowcast_progress(accepted.headers["x-line-request-id"])
    assert progress.phase == "succeeded" and progress.success_count == 1

    assert [m["endpoint"] for m in state.messages("Ualice")] == ["reply", "multicast"]
    assert [m["endpoint"] for m in state.messages("Ucarol")] == ["broadcast", "narrowcast"]
    usage = await messaging.get_message_quota_consumption()
    assert usage.total_usage == 4  # 2 multicast + 1 broadcast + 1 narrowcast; replies are free
    assert (await messaging.get_message_quota()).type == "none"


async def test_profile(sdk: Sdk, server: EmulatorServer) -> None:
    messaging, _ = sdk
    server.state.add_user({"userId": "Ualice", "displayName": "市役 花子", "language": "ja"})
    profile = await messaging.get_profile("Ualice")
    assert (profile.user_id, profile.display_name, profile.language) == ("Ualice", "市役 花子", "ja")
    with pytest.raises(ApiException) as missing:
        await messaging.get_profile("Unobody")
    assert missing.value.status == 404


async def test_blob_content_a_resident_sent(sdk: Sdk, server: EmulatorServer) -> None:
    _, blob = sdk
    photo = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8
    async with httpx.AsyncClient(base_url=server.url) as http:
        stored = await http.post("/_inspect/content", content=photo, headers={"content-type": "image/jpeg"})
    content = await blob.get_message_content(stored.json()["messageId"])
    assert bytes(content) == photo


async def test_rich_menu_flow(sdk: Sdk, server: EmulatorServer, menu_png: bytes) -> None:
    messaging, blob = sdk
    request = RichMenuRequest(
        size=RichMenuSize(width=2500, height=1686),
        selected=True,
        name="main",
        chat_bar_text="メニュー",
        areas=[
            RichMenuArea(
                bounds=RichMenuBounds(x=0, y=0, width=2500, height=1686),
                action=PostbackAction(data="domain=reports", display_text="道路の損傷を報告"),
            )
        ],
    )
    await messaging.validate_rich_menu_object(request)
    menu_id = (await messaging.create_rich_menu(request)).rich_menu_id
    assert menu_id.startswith("richmenu-")

    with pytest.raises(ApiException) as no_image:
        await messaging.link_rich_menu_id_to_user("Ualice", menu_id)
    assert no_image.value.status == 400

    await blob.set_rich_menu_image(menu_id, menu_png, _headers={"Content-Type": "image/png"})
    assert bytes(await blob.get_rich_menu_image(menu_id)) == menu_png

    await messaging.set_default_rich_menu(menu_id)
    assert (await messaging.get_default_rich_menu_id()).rich_menu_id == menu_id
    await messaging.link_rich_menu_id_to_user("Ualice", menu_id)
    assert (await messaging.get_rich_menu_id_of_user("Ualice")).rich_menu_id == menu_id

    menu = await messaging.get_rich_menu(menu_id)
    assert menu.chat_bar_text == "メニュー" and menu.areas[0].action.data == "domain=reports"
    assert [m.rich_menu_id for m in (await messaging.get_rich_menu_list()).richmenus] == [menu_id]

    await messaging.unlink_rich_menu_id_from_user("Ualice")
    with pytest.raises(ApiException) as unlinked:
        await messaging.get_rich_menu_id_of_user("Ualice")
    assert unlinked.value.status == 404
    async with httpx.AsyncClient(base_url=server.url) as http:
        seen = (await http.get("/_inspect/richmenu", params={"userId": "Ualice"})).json()
        assert (seen["source"], seen["richMenu"]["richMenuId"]) == ("default", menu_id)
        assert (await http.get(seen["imageUrl"])).content == menu_png

    await messaging.cancel_default_rich_menu()
    await messaging.delete_rich_menu(menu_id)
    assert (await messaging.get_rich_menu_list()).richmenus == []


async def test_stream_yields_a_pushed_message_live(sdk: Sdk, server: EmulatorServer) -> None:
    messaging, _ = sdk
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=10) as http,
        http.stream("GET", "/_inspect/stream", params={"to": "Ualice"}) as stream,
    ):
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.aiter_lines()
        async with asyncio.timeout(10):
            assert await anext(lines) == ": connected"  # subscribed from here on
            await messaging.push_message(PushMessageRequest(to="Ubob", messages=[text("not for alice")]))
            await messaging.push_message(PushMessageRequest(to="Ualice", messages=[text("窓口は9時から")]))
            event = await _next_event(lines)
    assert event["to"] == "Ualice" and event["endpoint"] == "push"
    assert event["message"] == {"type": "text", "text": "窓口は9時から"}
    assert set(event) >= {"requestId", "retryKey", "receivedAt"}


async def _next_event(lines: Any) -> dict[str, Any]:
    async for line in lines:
        if line.startswith("data: "):
            event: dict[str, Any] = json.loads(line.removeprefix("data: "))
            return event
    raise AssertionError("stream ended")
