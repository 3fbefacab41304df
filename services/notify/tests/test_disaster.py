"""Disaster mode: 危機管理課 (`bousai`) switches it on and off with a reason (an event, audited,
idempotent, published for the gateway on `line.richmenu`); the disaster menu's 安否確認 and 災害情報
tiles answer with the newest safety check and the recent emergency alerts."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from linebot.v3.messaging import TextMessage

from cityhall.line import postback
from cityhall.line.contracts import DISASTER_MODE_STREAM, RICH_MENU_TOPIC, DisasterModeSwitched
from cityhall.line.testing import find_postback
from cityhall.notify import dialog
from cityhall.notify.domain import DisasterMode, disaster_decider
from cityhall.notify.events import SwitchDisasterMode
from cityhall.notify.preferences import Preferences
from cityhall.web import SESSION_COOKIE, StaffUser

from . import test_notices
from .conftest import Harness
from .test_notices import ADMIN, APPROVER, AUTHOR, as_, resident_with
from .test_safety import resident

client = test_notices.client  # the staff API's client (a fixture)
BOUSAI = StaffUser("bousai", "危機管理課 防災係", frozenset({"bousai"}))
NOW = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)


def test_switching_to_what_it_is_changes_nothing() -> None:
    on = SwitchDisasterMode(on=True, by="bousai", reason="大雨", at=NOW)
    assert (
        disaster_decider.decide(SwitchDisasterMode(on=False, by="bousai", reason="x", at=NOW), DisasterMode())
        == []
    )
    [switched] = disaster_decider.decide(on, DisasterMode())
    assert isinstance(switched, DisasterModeSwitched) and switched.on and switched.reason == "大雨"
    state = disaster_decider.fold([switched])
    assert state == DisasterMode(True, "bousai", "大雨", NOW)
    assert disaster_decider.decide(on, state) == []


def test_the_alerts_tile_fits_three_long_alerts_in_one_message() -> None:
    alerts = [
        {"title": f"警報{i}", "texts": {"ja": "川が増水しています。" * 400}, "sent_at": NOW} for i in range(3)
    ]
    [message] = dialog.disaster("alerts", None, alerts)
    assert isinstance(message, TextMessage)
    assert len(message.text) <= 5000 and message.text.count("■") == 3 and message.text.count("…") == 3
    assert "9月1日 18時0分" in message.text  # Japan time


async def test_bousai_switches_disaster_mode_once_with_a_reason_recorded(
    harness: Harness, client: httpx.AsyncClient
) -> None:
    bousai = as_(client, BOUSAI)
    for other in (ADMIN, AUTHOR, APPROVER):
        assert (
            await as_(client, other).post("/api/disaster-mode", {"on": True, "reason": "大雨"})
        ).status_code == 403
    empty = await bousai.post("/api/disaster-mode", {"on": True, "reason": "  "})
    assert empty.status_code == 422 and "理由" in empty.json()["error"]
    no_csrf = await client.post(
        "/api/disaster-mode",
        json={"on": True, "reason": "大雨"},
        headers={"cookie": f"{SESSION_COOKIE}={bousai.cookie}"},
    )
    assert no_csrf.status_code == 403
    assert (await bousai.get("/api/disaster-mode")).json()["on"] is False

    first = await bousai.post("/api/disaster-mode", {"on": True, "reason": "大雨特別警報"})
    again = await bousai.post("/api/disaster-mode", {"on": True, "reason": "二度押し"})
    assert first.json() == {"on": True, "changed": True} and again.json() == {"on": True, "changed": False}
    newcomer = resident(harness, "U" + "d" * 32)
    mark = await newcomer.send("follow")
    await newcomer.expect("ただいま災害時メニューを表示しています", since=mark)  # the menu they see
    state = (await as_(client, AUTHOR).get("/api/disaster-mode")).json()

    assert (state["on"], state["by"], state["reason"]) == (True, "bousai", "大雨特別警報")
    assert (await bousai.post("/api/disaster-mode", {"on": False, "reason": "警報解除"})).json()["changed"]

    switches = await harness.events(DisasterModeSwitched, stream=DISASTER_MODE_STREAM)
    assert [(e.on, e.reason) for e in switches if isinstance(e, DisasterModeSwitched)] == [
        (True, "大雨特別警報"), (False, "警報解除"),
    ]  # fmt: skip
    topics = await harness.pool.fetch("SELECT metadata FROM events WHERE stream = $1", DISASTER_MODE_STREAM)
    assert all(RICH_MENU_TOPIC in str(row["metadata"]) for row in topics)  # for the gateway
    audited = await harness.pool.fetch(
        "SELECT action, actor FROM audit_log WHERE subject = $1 ORDER BY id", DISASTER_MODE_STREAM
    )
    assert [(r["action"], r["actor"]) for r in audited] == [
        ("disaster_mode_on", "bousai"),
        ("disaster_mode_off", "bousai"),
    ]


async def test_the_dashboard_confirms_the_switch(client: httpx.AsyncClient) -> None:
    bousai, author = as_(client, BOUSAI), as_(client, AUTHOR)

    def browser(cookie: str) -> dict[str, str]:
        return {"cookie": f"{SESSION_COOKIE}={cookie}"}

    home = await client.get("/", headers=browser(bousai.cookie))
    assert "災害モード" in home.text and "災害モードを開始する" in home.text
    assert "災害モードを開始する" not in (await client.get("/", headers=browser(author.cookie))).text
    assert (await client.get("/disaster", headers=browser(author.cookie))).status_code == 403
    confirm = await client.get("/disaster", headers=browser(bousai.cookie))
    assert "すべての方のLINEのメニューが災害用のメニューに切り替わります" in confirm.text
    empty = await client.post(
        "/disaster", data={"csrf_token": bousai.csrf, "on": "on"}, headers=browser(bousai.cookie)
    )
    assert "error=invalid" in empty.headers["location"]
    done = await client.post(
        "/disaster",
        data={"csrf_token": bousai.csrf, "on": "on", "reason": "震度6弱"},
        headers=browser(bousai.cookie),
    )
    assert done.status_code == 303
    home = await client.get("/", headers=browser(author.cookie))
    assert "災害モード中" in home.text and "震度6弱" in home.text
    confirm = await client.get("/disaster", headers=browser(bousai.cookie))
    assert "災害モードを終了する" in confirm.text and "震度6弱" in confirm.text


async def test_the_disaster_tiles_answer_with_the_newest_check_and_the_recent_alerts(
    harness: Harness, client: httpx.AsyncClient
) -> None:
    someone = resident(harness, await resident_with(harness, Preferences(district="kita")))
    safety_tile, alerts_tile = postback.encode("notify", "safety_now"), postback.encode("notify", "alerts")
    await someone.tap(safety_tile, expect="現在、市からの安否確認は行っていません")
    await someone.tap(alerts_tile, expect="現在、市から発表している緊急情報はありません")

    admin, author, approver = as_(client, ADMIN), as_(client, AUTHOR), as_(client, APPROVER)
    await admin.post("/api/safety-checks", {"title": "地震の安否確認", "condition": {"district": ["nishi"]}})
    asked = await someone.tap(
        safety_tile, expect="【安否確認】地震の安否確認"
    )  # not sent to kita: asked here
    await someone.tap(find_postback(asked, "無事です"), expect="ご無事とのご回答を受け付けました")
    answered = await harness.pool.fetchval(
        "SELECT status FROM safety_answers WHERE user_id = $1", someone.user_id
    )
    assert answered == "safe"

    body = {"kind": "alert", "title": "避難指示", "condition": {"district": ["kita"]},
            "texts": {"ja": "北町の全域に避難指示を発令しました。"}}  # fmt: skip
    cancelled = (await author.post("/api/notices", {**body, "title": "取り消した警報"})).json()["notice_id"]
    await author.post(f"/api/notices/{cancelled}/cancel")
    notice_id = (await author.post("/api/notices", body)).json()["notice_id"]
    await approver.post(f"/api/notices/{notice_id}/approve")
    shown = await someone.tap(alerts_tile, expect="市が発表した緊急情報です")
    assert "■避難指示" in str(shown) and "北町の全域に避難指示を発令しました。" in str(shown)
    assert "取り消した警報" not in str(shown)
