"""The newcomer series: day 0 / 7 / 30 after 転入日, each at its hour, once per resident; a resident
who sets 転入日 later joins at the right step; stopped interests and blocks are respected; staff
edit the steps."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx

from cityhall.events.testing import wait_for
from cityhall.line.japanese import JST
from cityhall.notify.preferences import Preferences
from cityhall.web import SESSION_COOKIE, StaffAuth, StaffUser
from cityhall.web.csrf import CSRF_HEADER

from .conftest import WEB, Harness
from .test_notices import AUTHOR, received, resident_with

TODAY = date(2030, 1, 10)
"""Years ahead of the real clock, so the series' own minute-by-minute run never finds these
residents due: only the test's ticks send."""


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, 5, tzinfo=JST).astimezone(UTC)


async def test_each_step_reaches_a_newcomer_once_at_its_hour(harness: Harness) -> None:
    series = harness.notify.newcomers
    await series.offer_defaults()
    fresh = await resident_with(harness, Preferences(district="kita", moved_in=TODAY))
    later = await resident_with(harness, Preferences(district="kita", moved_in=TODAY - timedelta(days=10)))
    no_gomi = await resident_with(harness, Preferences(district="kita", moved_in=TODAY).toggled("gomi"))
    blocked = await resident_with(harness, Preferences(moved_in=TODAY), blocked=True)
    long_ago = await resident_with(harness, Preferences(moved_in=TODAY - timedelta(days=400)))

    assert await series.tick(at(TODAY, 9)) == 0  # before the steps' hour (10 時)
    assert await series.tick(at(TODAY, 10)) == 2  # fresh: day 0; later: joins at day 7
    assert await series.tick(at(TODAY, 15)) == 0  # once

    async def arrived() -> bool:
        return bool(await harness.messages(fresh)) and bool(await harness.messages(later))

    await wait_for(arrived, timeout=20, message="the newcomer messages")
    assert received(await harness.messages(fresh))[0].startswith("【お知らせ】ごみの出し方")
    assert received(await harness.messages(later))[0].startswith("【お知らせ】子育て支援のご案内")
    for nobody in (no_gomi, blocked, long_ago):
        assert await harness.messages(nobody) == []

    assert await series.tick(at(TODAY + timedelta(days=7), 10)) == 2  # fresh: day 7; no_gomi too
    assert await series.tick(at(TODAY + timedelta(days=30), 11)) == 3  # day 30 for all three

    async def all_arrived() -> bool:
        return len(await harness.messages(fresh)) == 3 and len(await harness.messages(later)) == 2

    await wait_for(all_arrived, timeout=20, message="the rest of the series")
    assert [t.split("\n")[0] for t in received(await harness.messages(fresh))] == [
        "【お知らせ】ごみの出し方", "【お知らせ】子育て支援のご案内", "【お知らせ】防災のご案内",
    ]  # fmt: skip


async def test_staff_edit_a_step(harness: Harness) -> None:
    await harness.notify.newcomers.offer_defaults()
    cookie, csrf = StaffAuth(WEB).signed_in(AUTHOR)
    headers = {"cookie": f"{SESSION_COOKIE}={cookie}", CSRF_HEADER: csrf, "accept": "application/json"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=harness.app), base_url="http://notify"
    ) as client:
        bad = await client.post(
            "/api/newcomer-steps/7", json={"hour": 25, "title": "x", "body": "y"}, headers=headers
        )
        assert bad.status_code == 422 and "0時から23時" in bad.json()["error"]
        edited = await client.post(
            "/api/newcomer-steps/7", json={"hour": 18, "title": "子育てのご案内", "body": "児童手当の申請をお忘れなく。"},
            headers=headers,
        )  # fmt: skip
        assert edited.status_code == 200
        [step] = [s for s in edited.json()["steps"] if s["day"] == 7]
        assert (step["hour"], step["title"], step["updated_by"]) == (18, "子育てのご案内", "notify-author")
        page = await client.get("/newcomers", headers={"cookie": f"{SESSION_COOKIE}={cookie}"})
        assert page.status_code == 200 and "児童手当の申請をお忘れなく。" in page.text
        clerk, _ = StaffAuth(WEB).signed_in(StaffUser("roads-clerk", "道路", frozenset({"roads"})))
        assert (
            await client.get("/newcomers", headers={"cookie": f"{SESSION_COOKIE}={clerk}"})
        ).status_code == 403
    resident = await resident_with(harness, Preferences(moved_in=TODAY - timedelta(days=8)))
    assert await harness.notify.newcomers.tick(at(TODAY, 17)) == 0  # the day-7 step now goes at 18 時
    assert await harness.notify.newcomers.tick(at(TODAY, 18)) == 1

    async def arrived() -> bool:
        return bool(await harness.messages(resident))

    await wait_for(arrived, timeout=20, message="the edited step")
    assert received(await harness.messages(resident)) == [
        "【お知らせ】子育てのご案内\n\n児童手当の申請をお忘れなく。"
    ]
