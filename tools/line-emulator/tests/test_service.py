"""The runtime's view: an entry point, a ServiceSpec, and the app mounted at /line-api."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import httpx
from fastapi import FastAPI
from linebot.v3.messaging import (
    AsyncApiClient,
    AsyncMessagingApi,
    Configuration,
    PushMessageRequest,
    TextMessage,
)

from cityhall.events.bus import Bus
from cityhall.line_emulator.service import service
from cityhall.line_emulator.testing import EmulatorServer
from cityhall.runtime.service import ServiceContext, Settings, discover


def test_registered_as_a_service() -> None:
    spec = discover()["line-emulator"]
    assert spec is service
    assert (spec.name, spec.mount, spec.uses_database, spec.order) == (
        "line-emulator",
        "/line-api",
        False,
        10,
    )


async def test_mounted_at_line_api_serves_the_sdk_and_inspection(
    menu_body: Callable[..., dict[str, Any]], menu_png: bytes
) -> None:
    context = ServiceContext(
        name="line-emulator", mode="embedded", settings=Settings(), pool=None, bus=cast(Bus, None), store=None
    )
    running = await service.build(context)
    assert running.app is not None
    root = FastAPI()
    root.mount("/line-api", running.app)  # as the embedded run does

    with EmulatorServer(app=root) as server:
        base = f"{server.url}/line-api"
        async with AsyncApiClient(Configuration(host=base, access_token="embedded-emulator-token")) as client:
            await AsyncMessagingApi(client).push_message(
                PushMessageRequest(to="Ualice", messages=[TextMessage(text="埋め込み")])
            )
        async with httpx.AsyncClient(base_url=base) as http:
            [message] = (await http.get("/_inspect/messages", params={"to": "Ualice"})).json()["messages"]
            assert message["message"]["text"] == "埋め込み"
            missing = await http.get("/_inspect/richmenu", params={"userId": "Ualice"})
            assert missing.status_code == 404

            # Links the emulator hands out carry the mount prefix.
            auth = {"Authorization": "Bearer embedded-emulator-token"}
            menu_id = (await http.post("/v2/bot/richmenu", json=menu_body(), headers=auth)).json()[
                "richMenuId"
            ]
            image_headers = {**auth, "content-type": "image/png"}
            await http.post(f"/v2/bot/richmenu/{menu_id}/content", content=menu_png, headers=image_headers)
            await http.post(f"/v2/bot/user/all/richmenu/{menu_id}", headers=auth)
            seen = (await http.get("/_inspect/richmenu", params={"userId": "Ualice"})).json()
            assert seen["imageUrl"] == f"{base}/_inspect/richmenu/{menu_id}/image"
            assert (await http.get(seen["imageUrl"])).content == menu_png
