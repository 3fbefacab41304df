"""Disaster mode across processes: 危機管理課 switches it on over notify's HTTP API; notify's relay
puts the switch on Kafka (`line.richmenu`); the gateway, which owns the rich menu, makes the disaster
menu every resident's at the LINE emulator, even one with a menu linked to them alone; the
resident's tap on a disaster tile is answered; switching off brings the main menu back.

Processes: the LINE emulator, `cityhall service gateway`, `notify` and `staff-portal`, each with
its own database on the test Postgres, all on the test Kafka.
"""

from __future__ import annotations

import pytest
from linebot.v3.messaging import AsyncApiClient, AsyncMessagingApi

from cityhall.events.testing import wait_for
from cityhall.gateway.richmenu import DISASTER_MENU_NAME, MENU_NAME, create_rich_menu, sdk_configuration
from cityhall.line.testing import Resident
from cityhall.runtime.service import Settings
from cityhall.web import StaffUser
from cityhall.web.csrf import CSRF_HEADER

from . import test_notices
from .harness import ACCESS_TOKEN, Deployment, LineClient

pytestmark = pytest.mark.timeout(600)

BOUSAI = StaffUser("bousai", "危機管理課 防災係", frozenset({"bousai"}))


deployment = test_notices.deployment  # the same processes: the emulator, gateway, notify, staff-portal


async def menu_of(line: LineClient, resident: Resident) -> dict[str, object] | None:
    found = await line.emulator.get("/_inspect/richmenu", params={"userId": resident.user_id})
    return dict(found.json()["richMenu"]) if found.status_code == 200 else None


def tile(menu: dict[str, object], label: str) -> str:
    areas = menu["areas"]
    assert isinstance(areas, list)
    return str(next(a["action"]["data"] for a in areas if a["action"]["label"] == label))


async def test_switching_disaster_mode_changes_every_residents_menu_and_back(
    deployment: Deployment, line: LineClient
) -> None:
    # The operator's `cityhall line richmenu`: the main menu is the channel's default.
    configuration = sdk_configuration(
        Settings(line_channel_access_token=ACCESS_TOKEN, line_api_url=str(line.emulator.base_url))
    )
    main_id = await create_rich_menu(configuration)
    everyone, linked = line.resident(), line.resident()
    async with AsyncApiClient(configuration) as client:
        await AsyncMessagingApi(client).link_rich_menu_id_to_user(linked.user_id, main_id)
    mark = await everyone.send("follow")
    await everyone.expect("友だち追加ありがとうございます", since=mark)

    bousai, csrf = await deployment.clerk("notify", BOUSAI)
    try:

        async def switch(on: bool, reason: str) -> None:
            done = await bousai.post(
                "/staff/notices/api/disaster-mode",
                json={"on": on, "reason": reason},
                headers={CSRF_HEADER: csrf},
            )
            assert done.status_code == 200 and done.json()["changed"], done.text

        async def everyone_sees(name: str) -> bool:
            menus = [await menu_of(line, r) for r in (everyone, linked)]
            return all(m is not None and m["name"] == name for m in menus)

        await switch(True, "大雨特別警報")
        await wait_for(lambda: everyone_sees(DISASTER_MENU_NAME), timeout=60, message="the disaster menu")
        menu = await menu_of(line, everyone)
        assert menu is not None
        await everyone.tap(tile(menu, "安否確認"), expect="現在、市からの安否確認は行っていません")
        await everyone.tap(tile(menu, "問い合わせ"), expect="災害対策本部 電話相談窓口")
        await everyone.tap(tile(menu, "避難所"), expect="指定避難所の一覧と地図")

        await switch(False, "警報解除")
        await wait_for(lambda: everyone_sees(MENU_NAME), timeout=60, message="the main menu again")
    finally:
        await bousai.aclose()
