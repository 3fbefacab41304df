"""The simulator's HTTP API against the real emulator and a signature-checking gateway stand-in."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from cityhall.events.testing import wait_for
from cityhall.line_emulator.testing import EmulatorServer
from cityhall.simulator.app import create_app
from cityhall.simulator.testing import RecordingGateway, WebhookSchema
from cityhall.simulator.webhook import USER_ID_PATTERN

from .conftest import TOKEN, make_config, png

Gateway = tuple[RecordingGateway, str]
AUTH = {"authorization": f"Bearer {TOKEN}"}


async def new_resident(simulator: httpx.AsyncClient, name: str = "山田 花子") -> str:
    response = await simulator.post("/sim/api/residents", json={"displayName": name})
    assert response.status_code == 201, response.text
    return str(response.json()["userId"])


async def act(simulator: httpx.AsyncClient, user: str, action: dict[str, Any]) -> httpx.Response:
    return await simulator.post(f"/sim/api/residents/{user}/actions", json=action)


def last_event(gateway: Gateway, schema: WebhookSchema) -> dict[str, Any]:
    body = gateway[0].received[-1]["body"]
    assert schema.problems(body) == []
    assert len(body["events"]) == 1
    return dict(body["events"][0])


async def test_the_page_and_its_files_are_served(simulator: httpx.AsyncClient) -> None:
    page = await simulator.get("/")
    assert page.status_code == 200
    assert '<html lang="ja">' in page.text
    assert "/sim/static/simulator.js" in page.text
    for name, kind in [
        ("simulator.js", "javascript"),
        ("line/render.js", "javascript"),
        ("line/flex.js", "javascript"),
        ("line/messages.css", "text/css"),
        ("simulator.css", "text/css"),
        ("account.svg", "image/svg+xml"),
    ]:
        response = await simulator.get(f"/sim/static/{name}")
        assert response.status_code == 200, name
        assert kind in response.headers["content-type"], name
    assert (await simulator.get("/sim/static/nope.js")).status_code == 404
    town = (await simulator.get("/sim/api/town")).json()
    assert {p["title"] for p in town["places"]} >= {"ポケット市役所", "ポケット駅", "中央公園"}


async def test_a_created_resident_is_registered_at_the_emulator_and_kept(
    simulator: httpx.AsyncClient, emulator: EmulatorServer, gateway: Gateway, tmp_path: Path
) -> None:
    user = await new_resident(simulator)
    assert USER_ID_PATTERN.match(user)
    assert {
        "userId": user,
        "displayName": "山田 花子",
        "language": "ja",
        "blocked": False,
    } in emulator.state.users()
    listed = (await simulator.get("/sim/api/residents")).json()["residents"]
    assert [(r["userId"], r["friendship"]) for r in listed] == [(user, "none")]
    # A restarted simulator with the same data directory still knows the resident.
    app, sim_core = create_app(make_config(emulator, f"{gateway[1]}/callback", tmp_path))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as again:
        assert (await again.get(f"/sim/api/residents/{user}")).json()["displayName"] == "山田 花子"
    await sim_core.aclose()


@pytest.mark.parametrize("name", ["", "   ", "あ" * 21])
async def test_a_bad_display_name_is_refused(simulator: httpx.AsyncClient, name: str) -> None:
    response = await simulator.post("/sim/api/residents", json={"displayName": name})
    assert response.status_code == 422
    assert (await simulator.get("/sim/api/residents")).json()["residents"] == []


async def test_follow_sends_a_signed_follow_event_whose_reply_token_the_emulator_accepts(
    simulator: httpx.AsyncClient, emulator: EmulatorServer, gateway: Gateway, schema: WebhookSchema
) -> None:
    user = await new_resident(simulator)
    response = await act(simulator, user, {"type": "follow"})
    assert response.status_code == 200, response.text
    item = response.json()["item"]
    assert item["status"] == 200
    event = last_event(gateway, schema)
    assert event["type"] == "follow" and event["follow"] == {"isUnblocked": False}
    assert event["source"] == {"type": "user", "userId": user}
    assert item["event"] == event
    headers = gateway[0].received[-1]["headers"]
    assert headers["content-type"].startswith("application/json")
    assert headers["user-agent"] == "LineBotWebhook/2.0"
    assert (await simulator.get(f"/sim/api/residents/{user}")).json()["friendship"] == "friend"

    # The account replies with the token, as notify would; the chat history shows both sides.
    async with httpx.AsyncClient(base_url=emulator.url, headers=AUTH) as line:
        welcome = {"type": "text", "text": "友だち追加ありがとうございます。"}
        reply = await line.post(
            "/v2/bot/message/reply", json={"replyToken": event["replyToken"], "messages": [welcome]}
        )
        assert reply.status_code == 200, reply.text
    history = (await simulator.get(f"/sim/api/residents/{user}/history")).json()["items"]
    assert [i["from"] for i in history] == ["resident", "account"]
    assert history[1]["message"] == welcome
    assert history[0]["at"] <= history[1]["at"]


async def test_following_twice_is_refused(simulator: httpx.AsyncClient, gateway: Gateway) -> None:
    user = await new_resident(simulator)
    assert (await act(simulator, user, {"type": "follow"})).status_code == 200
    again = await act(simulator, user, {"type": "follow"})
    assert again.status_code == 409
    assert "友だち" in again.json()["detail"]
    assert len(gateway[0].received) == 1


async def test_messages_postbacks_and_locations_reach_the_gateway_as_line_shapes_them(
    simulator: httpx.AsyncClient, gateway: Gateway, schema: WebhookSchema
) -> None:
    user = await new_resident(simulator)
    await act(simulator, user, {"type": "follow"})

    assert (await act(simulator, user, {"type": "text", "text": "使い方 🙂"})).status_code == 200
    text = last_event(gateway, schema)
    assert text["message"]["type"] == "text" and text["message"]["text"] == "使い方 🙂"
    assert text["message"]["id"].isdigit()

    picked = {"type": "postback", "data": "domain=reservations&slot=1", "params": {"date": "2025-06-01"}}
    assert (await act(simulator, user, {**picked, "displayText": "6月1日"})).status_code == 200
    postback = last_event(gateway, schema)
    assert postback["postback"] == {"data": picked["data"], "params": {"date": "2025-06-01"}}
    for params in ({"time": "13:30"}, {"datetime": "2025-06-01T13:30"}):
        assert (await act(simulator, user, {**picked, "params": params})).status_code == 200
        assert last_event(gateway, schema)["postback"]["params"] == params

    spot = {"type": "location", "latitude": 35.66, "longitude": 139.535}
    assert (await act(simulator, user, spot)).status_code == 200
    location = last_event(gateway, schema)["message"]
    assert location["address"].startswith("ポケット市") and "title" not in location
    named = {**spot, "title": "中央公園", "address": "ポケット市東町1-5"}
    assert (await act(simulator, user, named)).status_code == 200
    assert last_event(gateway, schema)["message"]["title"] == "中央公園"

    ids = [r["body"]["events"][0]["webhookEventId"] for r in gateway[0].received]
    assert len(set(ids)) == len(ids) == 7
    history = (await simulator.get(f"/sim/api/residents/{user}/history")).json()["items"]
    assert [i["event"]["webhookEventId"] for i in history] == ids
    assert history[2]["displayText"] == "6月1日"


@pytest.mark.parametrize(
    "action",
    [
        {"type": "postback", "data": "x", "params": {"date": "June 1st"}},
        {"type": "postback", "data": "x", "params": {"colour": "red"}},
        {"type": "postback", "data": ""},
        {"type": "text", "text": ""},
        {"type": "text", "text": "x" * 5001},
        {"type": "location", "latitude": 91, "longitude": 0},
        {"type": "sticker", "packageId": "1"},
        {"type": "sticker", "packageId": "446", "stickerId": "1"},
        {"type": "sticker", "packageId": "1", "stickerId": "1988"},
        {"type": "text", "text": "hi", "extra": True},
    ],
)
async def test_bad_actions_get_422_and_send_nothing(
    simulator: httpx.AsyncClient, gateway: Gateway, action: dict[str, Any]
) -> None:
    user = await new_resident(simulator)
    response = await act(simulator, user, action)
    assert response.status_code == 422, response.text
    assert gateway[0].received == []


async def test_a_sticker_from_the_panel_reaches_the_gateway_as_line_shapes_it(
    simulator: httpx.AsyncClient, gateway: Gateway, schema: WebhookSchema
) -> None:
    user = await new_resident(simulator)
    await act(simulator, user, {"type": "follow"})
    offered = (await simulator.get("/sim/api/stickers")).json()["stickers"]
    assert len(offered) >= 4 and all(s["standIn"] and s["label"] for s in offered)
    chosen = offered[-1]
    sent = {"type": "sticker", "packageId": chosen["packageId"], "stickerId": chosen["stickerId"]}
    response = await act(simulator, user, sent)
    assert response.status_code == 200, response.text
    message = last_event(gateway, schema)["message"]
    assert message["type"] == "sticker" and message["stickerResourceType"] == "STATIC"
    assert (message["packageId"], message["stickerId"]) == (chosen["packageId"], chosen["stickerId"])
    assert message["id"].isdigit() and message["quoteToken"]
    history = (await simulator.get(f"/sim/api/residents/{user}/history")).json()["items"]
    assert history[-1]["event"]["message"] == message


async def test_unknown_residents_get_404(simulator: httpx.AsyncClient, gateway: Gateway) -> None:
    unknown = "U" + "0" * 32
    assert (await act(simulator, unknown, {"type": "follow"})).status_code == 404
    assert (await simulator.get(f"/sim/api/residents/{unknown}/history")).status_code == 404
    assert gateway[0].received == []


async def test_a_photo_is_stored_at_the_emulator_and_sent_as_an_image_event(
    simulator: httpx.AsyncClient, emulator: EmulatorServer, gateway: Gateway, schema: WebhookSchema
) -> None:
    user = await new_resident(simulator)
    photo = png(64, 48)
    response = await simulator.post(
        f"/sim/api/residents/{user}/photos", files={"file": ("pothole.png", photo, "image/png")}
    )
    assert response.status_code == 200, response.text
    message = last_event(gateway, schema)["message"]
    assert message["type"] == "image" and message["contentProvider"] == {"type": "line"}
    assert message["id"].isdigit()
    # A service downloads it from the emulator's content host, as from LINE's.
    async with httpx.AsyncClient(base_url=emulator.url, headers=AUTH) as line:
        content = await line.get(f"/v2/bot/message/{message['id']}/content")
    assert content.status_code == 200 and content.content == photo
    assert content.headers["content-type"] == "image/png"
    mine = await simulator.get(f"/sim/api/content/{message['id']}")
    assert mine.status_code == 200 and mine.content == photo


async def test_photos_that_are_not_images_or_too_large_are_refused(
    simulator: httpx.AsyncClient, gateway: Gateway
) -> None:
    user = await new_resident(simulator)
    text = await simulator.post(
        f"/sim/api/residents/{user}/photos", files={"file": ("a.txt", b"hi", "text/plain")}
    )
    assert text.status_code == 415
    huge = b"\x89PNG" + b"0" * (10 * 1024 * 1024)
    big = await simulator.post(
        f"/sim/api/residents/{user}/photos", files={"file": ("a.png", huge, "image/png")}
    )
    assert big.status_code == 413
    empty = await simulator.post(
        f"/sim/api/residents/{user}/photos", files={"file": ("a.png", b"", "image/png")}
    )
    assert empty.status_code == 422
    assert gateway[0].received == []


async def test_blocking_and_unblocking(
    simulator: httpx.AsyncClient, emulator: EmulatorServer, gateway: Gateway, schema: WebhookSchema
) -> None:
    user = await new_resident(simulator)
    assert (await act(simulator, user, {"type": "unfollow"})).status_code == 409  # not a friend yet
    await act(simulator, user, {"type": "follow"})
    assert (await act(simulator, user, {"type": "unfollow"})).status_code == 200
    unfollow = last_event(gateway, schema)
    assert unfollow["type"] == "unfollow" and "replyToken" not in unfollow
    assert [u["blocked"] for u in emulator.state.users() if u["userId"] == user] == [True]

    sent = len(gateway[0].received)
    blocked = await act(simulator, user, {"type": "text", "text": "hello"})
    assert blocked.status_code == 409
    photo = await simulator.post(
        f"/sim/api/residents/{user}/photos", files={"file": ("a.png", png(2, 2), "image/png")}
    )
    assert photo.status_code == 409
    assert len(gateway[0].received) == sent

    assert (await act(simulator, user, {"type": "follow"})).status_code == 200
    assert last_event(gateway, schema)["follow"] == {"isUnblocked": True}
    assert [u["blocked"] for u in emulator.state.users() if u["userId"] == user] == [False]


async def test_a_gateway_that_refuses_or_is_down_is_reported(
    simulator: httpx.AsyncClient, gateway: Gateway, emulator: EmulatorServer, tmp_path: Path
) -> None:
    user = await new_resident(simulator)
    gateway[0].status = 500
    refused = await act(simulator, user, {"type": "text", "text": "hi"})
    assert refused.status_code == 502
    assert refused.json()["item"]["status"] == 500
    history = (await simulator.get(f"/sim/api/residents/{user}/history")).json()["items"]
    assert history[-1]["status"] == 500

    app, sim_core = create_app(make_config(emulator, "http://127.0.0.1:9/callback", tmp_path))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as down:
        response = await down.post(f"/sim/api/residents/{user}/actions", json={"type": "text", "text": "hi"})
    await sim_core.aclose()
    assert response.status_code == 502
    assert response.json()["item"]["status"] is None
    assert "接続できません" in response.json()["item"]["error"]


async def test_a_wrong_channel_secret_is_what_the_gateway_refuses(
    emulator: EmulatorServer, gateway: Gateway, tmp_path: Path
) -> None:
    """The signature is over the exact body with the channel's secret: another secret fails."""
    config = make_config(emulator, f"{gateway[1]}/callback", tmp_path)
    from dataclasses import replace

    app, sim_core = create_app(replace(config, channel_secret="not-the-channel-secret"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as sim:
        user = (await sim.post("/sim/api/residents", json={"displayName": "x"})).json()["userId"]
        response = await sim.post(f"/sim/api/residents/{user}/actions", json={"type": "follow"})
    await sim_core.aclose()
    assert response.status_code == 502 and response.json()["item"]["status"] == 400
    assert gateway[0].rejected == 1 and gateway[0].received == []


async def test_the_stream_passes_on_what_the_emulator_delivers(
    simulator: httpx.AsyncClient, emulator: EmulatorServer
) -> None:
    user = await new_resident(simulator)
    other = await new_resident(simulator, "別の住民")
    received: list[dict[str, Any]] = []
    lines: list[str] = []

    async def read() -> None:
        async with simulator.stream("GET", f"/sim/api/residents/{user}/stream", timeout=None) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            async for line in stream.aiter_lines():
                lines.append(line)
                if line.startswith("data: "):
                    received.append(json.loads(line[6:]))

    reader = asyncio.create_task(read())
    # The emulator's ": connected" comment comes once it has subscribed the reader.
    await wait_for(lambda: ": connected" in lines, timeout=10)
    assert lines[0] == "retry: 2000"
    async with httpx.AsyncClient(base_url=emulator.url, headers=AUTH) as line:
        for to in (other, user):
            push = await line.post(
                "/v2/bot/message/push", json={"to": to, "messages": [{"type": "text", "text": to}]}
            )
            assert push.status_code == 200, push.text
    await wait_for(lambda: len(received) == 1, timeout=10)
    reader.cancel()
    assert received[0]["message"] == {"type": "text", "text": user}
    assert received[0]["to"] == user


async def test_the_rich_menu_the_resident_sees(
    simulator: httpx.AsyncClient, emulator: EmulatorServer
) -> None:
    user = await new_resident(simulator)
    assert (await simulator.get(f"/sim/api/residents/{user}/richmenu")).json() == {"richMenu": None}
    menu = {
        "size": {"width": 2500, "height": 843},
        "selected": True,
        "name": "main",
        "chatBarText": "メニュー",
        "areas": [
            {
                "bounds": {"x": 0, "y": 0, "width": 1250, "height": 843},
                "action": {"type": "postback", "data": "a"},
            },
            {
                "bounds": {"x": 1250, "y": 0, "width": 1250, "height": 843},
                "action": {"type": "message", "text": "b"},
            },
        ],
    }
    image = png(2500, 843)

    async def install(line: httpx.AsyncClient, name: str) -> str:
        created = await line.post("/v2/bot/richmenu", json={**menu, "name": name})
        assert created.status_code == 200, created.text
        menu_id = str(created.json()["richMenuId"])
        upload = await line.post(
            f"/v2/bot/richmenu/{menu_id}/content", content=image, headers={"content-type": "image/png"}
        )
        assert upload.status_code == 200, upload.text
        return menu_id

    async with httpx.AsyncClient(base_url=emulator.url, headers=AUTH) as line:
        default_id = await install(line, "default")
        assert (await line.post(f"/v2/bot/user/all/richmenu/{default_id}")).status_code == 200
        seen = (await simulator.get(f"/sim/api/residents/{user}/richmenu")).json()
        assert seen["richMenu"]["richMenuId"] == default_id
        assert seen["richMenu"]["areas"] == menu["areas"]
        served = await simulator.get(seen["imageUrl"])
        assert served.status_code == 200 and served.content == image
        # A menu linked to the resident wins over the default; others still see the default.
        linked_id = await install(line, "linked")
        assert (await line.post(f"/v2/bot/user/{user}/richmenu/{linked_id}")).status_code == 200
    other = await new_resident(simulator, "別の住民")
    assert (await simulator.get(f"/sim/api/residents/{user}/richmenu")).json()["richMenu"]["name"] == "linked"
    assert (await simulator.get(f"/sim/api/residents/{other}/richmenu")).json()["richMenu"][
        "name"
    ] == "default"
    assert (await simulator.get("/sim/api/richmenus/richmenu-unknown/image")).status_code == 404


def test_town_addresses() -> None:
    from cityhall.simulator.town import PLACES, address_of, to_lat_lng, town_json

    hall = next(p for p in PLACES if p.key == "cityhall")
    assert address_of(*to_lat_lng(hall.x, hall.y)).startswith("ポケット市本町")
    assert address_of(*to_lat_lng(300, 10)).startswith("ポケット市北町")
    assert address_of(*to_lat_lng(590, 240)).startswith("ポケット市東町")
    assert address_of(35.0, 135.0) == "北緯35.00000 東経135.00000"
    assert len({(p["latitude"], p["longitude"]) for p in town_json()["places"]}) == len(PLACES)
