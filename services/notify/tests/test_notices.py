"""Notices to many: segments counted live, campaigns approved by someone else and sent once,
opt-outs, quiet hours and blocks respected, language variants, emergency alerts overriding
interests and quiet hours, and cancelling mid-send."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from cityhall.events.testing import wait_for
from cityhall.line.japanese import jst
from cityhall.line.ratelimit import RateLimit
from cityhall.line_emulator.settings import EmulatorSettings
from cityhall.notify.events import NoticeCompleted
from cityhall.notify.plan import Plan
from cityhall.notify.preferences import Preferences
from cityhall.web import SESSION_COOKIE, StaffAuth, StaffUser
from cityhall.web.csrf import CSRF_HEADER

from .conftest import WEB, Harness, HarnessFactory, outbound, quick_options, user

AUTHOR = StaffUser("notify-author", "広報係 目黒", frozenset({"notify-author"}))
APPROVER = StaffUser("notify-approver", "広報課長 大田", frozenset({"notify-approver"}))
ADMIN = StaffUser("notify-admin", "広報課 管理者", frozenset({"notify-admin"}))
CLERK = StaffUser("roads-clerk", "道路管理課", frozenset({"roads"}))


@dataclass
class Api:
    client: httpx.AsyncClient
    cookie: str
    csrf: str

    async def post(self, path: str, body: Any = None) -> httpx.Response:
        headers = {
            "cookie": f"{SESSION_COOKIE}={self.cookie}",
            CSRF_HEADER: self.csrf,
            "accept": "application/json",
        }
        return await self.client.post(path, json=body, headers=headers)

    async def get(self, path: str) -> httpx.Response:
        return await self.client.get(
            path, headers={"cookie": f"{SESSION_COOKIE}={self.cookie}", "accept": "application/json"}
        )


@pytest.fixture
async def client(harness: Harness) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=harness.app), base_url="http://notify"
    ) as c:
        yield c


def as_(client: httpx.AsyncClient, person: StaffUser) -> Api:
    cookie, csrf = StaffAuth(WEB).signed_in(person)
    return Api(client, cookie, csrf)


async def resident_with(harness: Harness, prefs: Preferences, *, blocked: bool = False) -> str:
    resident = user()
    async with harness.pool.acquire() as conn, conn.transaction():
        await harness.notify.handlers.audience.friend(conn, resident, reachable=True)
        await harness.notify.handlers.audience.save(conn, resident, prefs)
        if blocked:
            await harness.notify.handlers.audience.friend(conn, resident, reachable=False)
    return resident


def received(got: list[dict[str, Any]]) -> list[str]:
    return [m["message"]["text"] for m in got]


async def completed(harness: Harness, notice_id: str) -> NoticeCompleted:
    found: list[NoticeCompleted] = []

    async def done() -> bool:
        found[:] = [e for e in await harness.events(NoticeCompleted, stream=f"notice-{notice_id}")]  # type: ignore[misc]
        return bool(found)

    await wait_for(done, timeout=30, message=f"notice {notice_id} completed")
    return found[0]


async def test_the_audience_is_counted_live_and_bad_conditions_are_refused(
    harness: Harness, client: httpx.AsyncClient
) -> None:
    await resident_with(harness, Preferences(district="higashi"))
    await resident_with(harness, Preferences(district="minami").toggled("kosodate"))
    await resident_with(harness, Preferences(district="minami"), blocked=True)
    await resident_with(harness, Preferences(district="nishi"))
    author = as_(client, AUTHOR)
    school = {"school": ["東小学校区"]}
    counted = (await author.post("/api/segments/count", {"condition": school})).json()
    counted.pop("cost")
    assert counted == {"count": 2, "opted_out": 0, "blocked": 1, "quota": {"limit": None, "used": 0}}
    counted = (await author.post("/api/segments/count", {"condition": school, "interest": "kosodate"})).json()
    counted.pop("cost")
    assert counted == {"count": 1, "opted_out": 1, "blocked": 1, "quota": {"limit": None, "used": 0}}
    either = {"any": [{"district": ["nishi"]}, {"district": ["higashi"]}]}
    assert (await author.post("/api/segments/count", {"condition": either})).json()["count"] == 2
    bad = await author.post("/api/segments/count", {"condition": {"district": ["atlantis"]}})
    assert bad.status_code == 422 and "「atlantis」はありません" in bad.json()["error"]
    alert = await author.post("/api/segments/count", {"condition": {"interest": ["bosai"]}, "kind": "alert"})
    assert alert.status_code == 422 and "地域" in alert.json()["error"]
    assert (await as_(client, CLERK).post("/api/segments/count", {"condition": school})).status_code == 403
    no_csrf = await client.post(
        "/api/segments/count",
        json={"condition": school},
        headers={"cookie": f"{SESSION_COOKIE}={author.cookie}"},
    )
    assert no_csrf.status_code == 403


async def test_a_campaign_is_approved_by_another_person_and_reaches_only_whom_it_should(
    harness: Harness, client: httpx.AsyncClient
) -> None:
    hour = jst(datetime.now(UTC)).hour
    wanted = await resident_with(harness, Preferences(district="honcho"))
    english = await resident_with(harness, Preferences(district="kita", language="en"))
    vietnamese = await resident_with(harness, Preferences(district="kita", language="vi"))
    stopped = await resident_with(harness, Preferences(district="honcho").toggled("gomi"))
    blocked = await resident_with(harness, Preferences(district="honcho"), blocked=True)
    sleeping = await resident_with(harness, Preferences(district="honcho", quiet=(hour, (hour + 2) % 24)))
    elsewhere = await resident_with(harness, Preferences(district="nishi"))

    author, approver = as_(client, AUTHOR), as_(client, APPROVER)
    body = {
        "kind": "campaign",
        "title": "ごみ収集日の変更",
        "interest": "gomi",
        "condition": {"school": ["中央小学校区"]},
        "texts": {"ja": "年末年始は収集日が変わります。", "en": "Collection days change over the New Year."},
    }
    too_long = await author.post("/api/notices", {**body, "texts": {"ja": "あ" * 4001}})
    assert too_long.status_code == 422 and "長すぎます" in too_long.json()["error"]
    no_japanese = await author.post("/api/notices", {**body, "texts": {"en": "Hello"}})
    assert no_japanese.status_code == 422 and "日本語" in no_japanese.json()["error"]
    assert (await approver.post("/api/notices", body)).status_code == 403  # approvers do not draft

    notice_id = (await author.post("/api/notices", body)).json()["notice_id"]
    assert (await author.post(f"/api/notices/{notice_id}/approve")).status_code == 403
    admin_author = as_(client, StaffUser("notify-author", "広報係 目黒", frozenset({"notify-admin"})))
    own = await admin_author.post(f"/api/notices/{notice_id}/approve")
    assert own.status_code == 422 and "自分で作成した" in own.json()["error"]
    first = await approver.post(f"/api/notices/{notice_id}/approve")
    second = await approver.post(f"/api/notices/{notice_id}/approve")  # a double click: sent once
    assert first.status_code == 200 and second.status_code == 200
    assert await harness.pool.fetchval("SELECT count(*) FROM notice_sends") == 1

    async def progress() -> dict[str, Any]:
        found: dict[str, Any] = (await author.get(f"/api/notices/{notice_id}")).json()["progress"]
        return found

    async def sent() -> bool:
        return (await progress())["delivered"] == 3  # wanted, english, vietnamese

    await wait_for(sent, timeout=30, message="the campaign's chunks delivered")
    now = await progress()
    assert (now["failed"], now["pending"], now["skipped_blocked"], now["skipped_opted_out"]) == (0, 1, 1, 1)

    assert received(await harness.messages(wanted)) == [
        "【お知らせ】ごみ収集日の変更\n\n年末年始は収集日が変わります。"
    ]
    assert received(await harness.messages(english)) == [
        "【Notice】ごみ収集日の変更\n\nCollection days change over the New Year."
    ]
    assert "年末年始" in received(await harness.messages(vietnamese))[0]  # no Vietnamese text: Japanese
    for nobody in (stopped, blocked, elsewhere):
        assert await harness.messages(nobody) == []
    # In quiet hours: held back until they end, so still pending (not lost, not sent).
    assert await harness.messages(sleeping) == []
    release = await harness.pool.fetchval(
        "SELECT release_at FROM notice_chunks WHERE $1 = ANY(recipients)", sleeping
    )
    assert release > datetime.now(UTC) and jst(release).hour == (hour + 2) % 24
    assert (await author.get(f"/api/notices/{notice_id}")).json()["status"] == "approved"  # not complete yet


async def test_an_alert_overrides_interests_and_quiet_hours_and_reaches_only_named_districts(
    harness: Harness, client: httpx.AsyncClient
) -> None:
    hour = jst(datetime.now(UTC)).hour
    stopped_bosai = await resident_with(harness, Preferences(district="kita").toggled("bosai"))
    sleeping = await resident_with(harness, Preferences(district="higashi", quiet=(hour, (hour + 2) % 24)))
    elsewhere = await resident_with(harness, Preferences(district="nishi"))
    blocked = await resident_with(harness, Preferences(district="kita"), blocked=True)
    author, approver = as_(client, AUTHOR), as_(client, APPROVER)
    body = {
        "kind": "alert",
        "title": "避難指示",
        "condition": {"any": [{"district": ["kita"]}, {"school": ["東小学校区"]}]},
        "texts": {"ja": "北町と東小学校区に避難指示を発令しました。直ちに避難してください。"},
    }
    notice_id = (await author.post("/api/notices", body)).json()["notice_id"]
    assert (await approver.post(f"/api/notices/{notice_id}/approve")).status_code == 200
    done = await completed(harness, notice_id)
    assert (done.delivered, done.skipped) == (2, 1)
    for resident in (stopped_bosai, sleeping):
        assert received(await harness.messages(resident))[0].startswith("【緊急】避難指示")
    assert await harness.messages(elsewhere) == [] and await harness.messages(blocked) == []


async def test_a_notice_cancelled_mid_send_keeps_what_was_sent_and_sends_no_more(
    make_harness: HarnessFactory,
) -> None:
    # One multicast a second, so the cancellation lands between chunks.
    slow = quick_options(limits={"multicast": RateLimit(1, 1.0, 1)})
    harness = await make_harness(options=slow)
    residents = [await resident_with(harness, Preferences(district="honcho")) for _ in range(2)]
    async with harness.pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO audience (user_id, district, interests) SELECT
                   'U' || lpad(to_hex(g), 32, '0'), 1, '{1,2,3,4,5,6,7,8}' FROM generate_series(1, 2498) g"""
        )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=harness.app), base_url="http://notify"
    ) as client:
        author, approver = as_(client, AUTHOR), as_(client, APPROVER)
        body = {"kind": "campaign", "title": "図書館まつり", "interest": "bunka",
                "condition": {"district": ["honcho"]}, "texts": {"ja": "図書館まつりを開きます。"}}  # fmt: skip
        notice_id = (await author.post("/api/notices", body)).json()["notice_id"]
        await approver.post(f"/api/notices/{notice_id}/approve")

        async def one_chunk_sent() -> bool:
            return (await harness.stats("multicast")).get("accepted", 0) >= 1

        await wait_for(one_chunk_sent, timeout=20, message="the first chunk")
        assert (await approver.post(f"/api/notices/{notice_id}/cancel")).status_code == 200
        done = await completed(harness, notice_id)
        progress = (await author.get(f"/api/notices/{notice_id}")).json()["progress"]
    assert progress["chunks"] == 5 and progress["cancelled"] > 0
    assert done.delivered == progress["delivered"] < 2500
    accepted = (await harness.stats("multicast"))["accepted"]
    assert accepted * 500 == done.delivered  # nothing reached LINE after the cancellation was recorded
    assert residents


async def test_a_scheduled_notice_waits_for_its_time(harness: Harness, client: httpx.AsyncClient) -> None:
    resident = await resident_with(harness, Preferences(district="nishi"))
    author, approver = as_(client, AUTHOR), as_(client, APPROVER)
    body = {"kind": "campaign", "title": "健診のご案内", "interest": "kenko",
            "condition": {"district": ["nishi"]}, "texts": {"ja": "健診の予約が始まります。"}}  # fmt: skip
    notice_id = (await author.post("/api/notices", body)).json()["notice_id"]
    later = datetime.now(UTC) + timedelta(hours=3)
    await approver.post(f"/api/notices/{notice_id}/approve", {"send_at": later.isoformat()})
    assert await harness.pool.fetchval("SELECT not_before FROM notice_sends") == later.replace(
        microsecond=later.microsecond
    )
    # Not cut, not sent: the sender has looked at least once since (it wakes on the approval).
    await harness.notify.sender._start_cutting()
    assert await harness.pool.fetchval("SELECT count(*) FROM notice_chunks") == 0
    assert await harness.messages(resident) == []
    assert (await approver.post(f"/api/notices/{notice_id}/cancel")).status_code == 200
    done = await completed(harness, notice_id)
    assert (done.delivered, done.failed) == (0, 0)
    assert Counter(n["status"] for n in (await author.get("/api/notices")).json()["notices"]) == {
        "cancelled": 1
    }
    assert uuid.UUID(notice_id)


async def test_the_dashboard_drafts_approves_and_shows_progress(
    harness: Harness, client: httpx.AsyncClient
) -> None:
    resident = await resident_with(harness, Preferences(district="minami", language="zh"))
    author, approver = as_(client, AUTHOR), as_(client, APPROVER)

    def html(api: Api) -> dict[str, str]:
        return {"cookie": f"{SESSION_COOKIE}={api.cookie}"}

    home = await client.get("/", headers=html(author))
    assert home.status_code == 200 and "お知らせを作成する" in home.text
    composer = await client.get("/notices/new", headers=html(author))
    assert composer.status_code == 200 and "送り先の条件" in composer.text and "minami" in composer.text
    assert (await client.get("/notices/new", headers=html(approver))).status_code == 403
    form = {
        "csrf_token": author.csrf, "kind": "campaign", "title": "桜まつり", "interest": "event",
        "condition": '{"all": [{"district": ["minami"]}]}', "text_ja": "桜まつりを開きます。",
        "text_zh": "樱花节开幕。", "notice_id": str(uuid.uuid4()),
    }  # fmt: skip
    bad = await client.post(
        "/notices", data={**form, "condition": '{"colour": ["red"]}'}, headers=html(author)
    )
    assert (
        bad.status_code == 422
        and "「colour」という属性はありません" in bad.text
        and "桜まつりを開きます。" in bad.text
    )
    made = await client.post("/notices", data=form, headers=html(author))
    assert made.status_code == 303
    location = made.headers["location"]
    twice = await client.post("/notices", data=form, headers=html(author))  # a double click
    assert twice.status_code == 303 and twice.headers["location"] == location
    assert len((await author.get("/api/notices")).json()["notices"]) == 1
    page = await client.get(location, headers=html(approver))
    assert "承認して送信する" in page.text and "樱花节开幕。" in page.text and "1人" in page.text
    notice_id = location.split("/notices/")[1].split("?")[0]
    approved = await client.post(
        f"/notices/{notice_id}/approve",
        data={"csrf_token": approver.csrf, "send_at": ""},
        headers=html(approver),
    )
    assert approved.status_code == 303 and "done=approved" in approved.headers["location"]
    await completed(harness, notice_id)
    assert received(await harness.messages(resident)) == ["【通知】桜まつり\n\n樱花节开幕。"]
    fragment = await client.get(f"/fragments/notices/{notice_id}", headers=html(author))
    assert "送信を終えました" in fragment.text
    again = await client.post(
        f"/notices/{notice_id}/cancel", data={"csrf_token": author.csrf}, headers=html(author)
    )
    assert "error=completed" in again.headers["location"]
    shown = await client.get(again.headers["location"], headers=html(author))
    assert "送信を終えています" in shown.text


async def test_the_count_previews_the_months_quota(make_harness: HarnessFactory) -> None:
    harness = await make_harness(emulator_settings=EmulatorSettings(monthly_quota=500))
    await harness.publish(outbound(user()))  # one message used this month
    await wait_for(lambda: harness.stats("push"), timeout=20, message="the push")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=harness.app), base_url="http://notify"
    ) as client:
        counted = await as_(client, AUTHOR).post("/api/segments/count", {"condition": {"all": []}})
    assert counted.json()["quota"] == {"limit": 500, "used": 1}


async def test_the_count_previews_the_cost_beyond_the_plans_free_messages(
    make_harness: HarnessFactory,
) -> None:
    plan = Plan(monthly_yen=15_000, free_messages=2, additional_yen=2.5)
    harness = await make_harness(options=quick_options(plan=plan))
    await harness.publish(outbound(user()))  # one of the two free messages used this month
    await wait_for(lambda: harness.stats("push"), timeout=20, message="the push")
    for _ in range(4):
        await resident_with(harness, Preferences(district="higashi"))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=harness.app), base_url="http://notify"
    ) as client:
        counted = await as_(client, AUTHOR).post("/api/segments/count", {"condition": {"all": []}})
    answer = counted.json()
    assert answer["count"] == 4
    assert answer["cost"] == {
        "monthly_yen": 15_000, "free_messages": 2, "additional_yen": 2.5,
        "additional_messages": 3, "yen": 8,
    }  # fmt: skip


async def test_a_weekly_notice_goes_out_each_week_until_cancelled(
    harness: Harness, client: httpx.AsyncClient
) -> None:
    resident = await resident_with(harness, Preferences(district="higashi"))
    author, approver = as_(client, AUTHOR), as_(client, APPROVER)
    body = {"kind": "campaign", "title": "燃やすごみの日", "interest": "gomi",
            "condition": {"district": ["higashi"]}, "texts": {"ja": "あすは燃やすごみの日です。"}}  # fmt: skip
    notice_id = (await author.post("/api/notices", body)).json()["notice_id"]
    await approver.post(f"/api/notices/{notice_id}/approve", {"weekly": True})

    async def weeks() -> list[dict[str, Any]]:
        rows = await harness.pool.fetch(
            "SELECT send_id, not_before, finished_at FROM notice_sends WHERE notice_id = $1 ORDER BY not_before",
            uuid.UUID(notice_id),
        )
        return [dict(r) for r in rows]

    async def planned(count: int) -> bool:
        return len(await weeks()) == count

    await wait_for(lambda: planned(2), timeout=20, message="the second week planned")
    first, second = await weeks()
    assert second["not_before"] - first["not_before"] == timedelta(days=7) and second["finished_at"] is None
    assert len(await harness.messages(resident)) == 1
    assert (await author.get(f"/api/notices/{notice_id}")).json()["status"] == "approved"  # still running

    # A week later (the clock moved by hand): the second week goes out, under its own retry keys.
    await harness.pool.execute(
        "UPDATE notice_sends SET not_before = now() WHERE send_id = $1", second["send_id"]
    )
    harness.notify.sender.wake()
    await wait_for(lambda: planned(3), timeout=20, message="the third week planned")

    async def two() -> bool:
        return len(await harness.messages(resident)) == 2

    await wait_for(two, timeout=20, message="the second week's message")
    assert (await approver.post(f"/api/notices/{notice_id}/cancel")).status_code == 200
    await completed(harness, notice_id)
    assert all(w["finished_at"] is not None for w in await weeks())
    assert (await author.get(f"/api/notices/{notice_id}")).json()["status"] == "cancelled"
    assert len(await harness.messages(resident)) == 2
