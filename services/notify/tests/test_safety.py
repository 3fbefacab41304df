"""安否確認: staff send a check to districts through the alert lane; residents answer 無事 or
支援が必要 with a note and a location (sealed); staff see counts per district and, audited, who
needs help."""

from __future__ import annotations

import httpx

from cityhall.line.testing import Intents, Resident, find_postback
from cityhall.notify.preferences import Preferences
from cityhall.web import SESSION_COOKIE, StaffAuth

from .conftest import WEB, Harness
from .test_notices import ADMIN, AUTHOR, Api, resident_with


def resident(harness: Harness, user_id: str) -> Resident:
    return Resident(user_id, harness.http, Intents(harness.publish, "notify"))


async def test_residents_answer_a_safety_check_and_staff_see_who_needs_help(harness: Harness) -> None:
    kita = [resident(harness, await resident_with(harness, Preferences(district="kita"))) for _ in range(2)]
    nishi = resident(harness, await resident_with(harness, Preferences(district="nishi")))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=harness.app), base_url="http://notify"
    ) as client:
        admin = Api(client, *StaffAuth(WEB).signed_in(ADMIN))
        author = Api(client, *StaffAuth(WEB).signed_in(AUTHOR))
        body = {"title": "大雨による浸水", "condition": {"district": ["kita"]}}
        assert (await author.post("/api/safety-checks", body)).status_code == 403  # admins only
        bad = await admin.post("/api/safety-checks", {**body, "condition": {"interest": ["bosai"]}})
        assert bad.status_code == 422 and "地域" in bad.json()["error"]
        check_id = (await admin.post("/api/safety-checks", body)).json()["check_id"]

        safe, hurt = kita
        asked = await safe.expect("【安否確認】大雨による浸水")
        await safe.tap(find_postback(asked, "無事です"), expect="ご無事とのご回答を受け付けました")
        asked = await hurt.expect("【安否確認】大雨による浸水")
        details = await hurt.tap(
            find_postback(asked, "支援が必要です"), expect="支援が必要な方として受け付けました"
        )
        await hurt.say("足をけがして動けません。", expect="状況を受け付けました")
        location = {"title": "自宅", "address": "ポケット市北町1-2-3", "latitude": 35.68, "longitude": 139.76}
        mark = await hurt.send("location", location=location)
        await hurt.expect("位置情報を受け付けました", since=mark)
        await hurt.tap(find_postback(details, "これで終わる"), expect="市の職員が順にご連絡します")
        assert await nishi.count("安否確認") == 0
        forged = find_postback(asked, "無事です").replace(check_id.replace("-", ""), "0" * 32)
        await nishi.tap(forged, expect="この安否確認は受付を終えているか")

        summary = (await author.get(f"/api/safety-checks/{check_id}")).json()
        assert summary["districts"] == [{"district": "北町", "safe": 1, "help": 1}] and summary["sent"] == 2
        sealed = await harness.pool.fetchval(
            "SELECT note FROM safety_answers WHERE user_id = $1", hurt.user_id
        )
        assert sealed.startswith("pd1:")  # sealed with the resident's key
        assert (await author.get(f"/api/safety-checks/{check_id}/help")).status_code == 403
        [needing] = (await admin.get(f"/api/safety-checks/{check_id}/help")).json()["residents"]
        assert needing["user_id"] == hurt.user_id and needing["note"] == "足をけがして動けません。"
        assert needing["location"]["address"] == "ポケット市北町1-2-3" and needing["district"] == "北町"
        viewed = await harness.pool.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'view_safety_help' AND actor = $1", ADMIN.username
        )
        assert viewed == 1


async def test_the_safety_pages(harness: Harness) -> None:
    hurt = resident(harness, await resident_with(harness, Preferences(district="higashi")))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=harness.app), base_url="http://notify"
    ) as client:
        admin = Api(client, *StaffAuth(WEB).signed_in(ADMIN))
        author = Api(client, *StaffAuth(WEB).signed_in(AUTHOR))

        def browser(api: Api) -> dict[str, str]:
            return {"cookie": f"{SESSION_COOKIE}={api.cookie}"}

        page = await client.get("/safety", headers=browser(admin))
        assert page.status_code == 200 and "安否確認を送る" in page.text and "東町" in page.text
        assert "安否確認を送る" not in (await client.get("/safety", headers=browser(author))).text
        empty = await client.post(
            "/safety", data={"csrf_token": admin.csrf, "title": "地震"}, headers=browser(admin)
        )
        assert "error=invalid" in empty.headers["location"]
        sent = await client.post(
            "/safety", data={"csrf_token": admin.csrf, "title": "地震", "district": ["higashi", "minami"]},
            headers=browser(admin),
        )  # fmt: skip
        assert sent.status_code == 303
        asked = await hurt.expect("【安否確認】地震")
        details = await hurt.tap(
            find_postback(asked, "支援が必要です"), expect="支援が必要な方として受け付けました"
        )
        await hurt.say("水が出ません。", expect="状況を受け付けました")
        assert find_postback(details, "これで終わる")
        shown = await client.get(sent.headers["location"], headers=browser(admin))
        assert (
            "東町" in shown.text
            and "水が出ません。" in shown.text
            and "この一覧の表示は記録されます" in shown.text
        )
        for_author = await client.get(sent.headers["location"], headers=browser(author))
        assert for_author.status_code == 200 and "水が出ません。" not in for_author.text
