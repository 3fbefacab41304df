"""電子回覧板 across processes: a resident types 回覧板 and the gateway's guide opens community;
協働推進課 appoints an officer over HTTP, the officer binds their LINE account with the code and
signs in by the link sent in LINE; a resident joins, the officer approves and posts a circular,
the member taps 確認しました and the officer sees it read.

Processes: the LINE emulator, `cityhall service gateway`, `notify`, `staff-portal` and
`community`, each with its own database on the test Postgres, all on the test Kafka.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import httpx
import pytest

from cityhall.community.testing import CODE, ask_to_join, become_officer, sign_in
from cityhall.events.testing import wait_for
from cityhall.line.testing import find_postback
from cityhall.web import StaffUser

from .harness import Deployment, LineClient

pytestmark = pytest.mark.timeout(600)

CLERK = StaffUser("kyodo-clerk", "協働推進課 目黒", frozenset({"kyodo"}))
NAME = "鈴木次郎 2-1"


@pytest.fixture(scope="module")
def deployment(
    postgres_dsn: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    deployment = Deployment(postgres_dsn, kafka_bootstrap, tmp_path_factory.mktemp("community"))
    for name in ("gateway", "notify", "staff-portal", "community"):
        deployment.service(name)
    with deployment:
        yield deployment


async def test_an_officer_posts_a_circular_a_member_reads_in_line(
    deployment: Deployment, line: LineClient
) -> None:
    officer, member = line.resident(), line.resident()
    guide = await member.say("回覧板", expect="下のボタンから始められます")
    assert find_postback(guide, "回覧板を開く") == "domain=community&action=menu"

    clerk, csrf = await deployment.clerk("community", CLERK)
    browser = httpx.AsyncClient(base_url=deployment.services["community"].url, timeout=30)
    try:
        association_id = uuid.uuid4()
        form = {
            "association_id": str(association_id),
            "name": "北町自治会",
            "district": "kita",
            "csrf_token": csrf,
        }
        registered = await clerk.post("/staff/community/associations", data=form)
        assert "done=registered" in registered.headers["location"]
        appointed = await clerk.post(
            f"/staff/community/associations/{association_id}/officers",
            data={"officer_id": str(uuid.uuid4()), "name": "高橋", "csrf_token": csrf},
        )
        code = CODE.search(appointed.text)
        assert code is not None
        officer_csrf = await sign_in(browser, await become_officer(officer, code.group(0)))

        await ask_to_join(member, "北町", "北町自治会", NAME)
        approve: list[str] = []

        async def requested() -> bool:
            approve[:] = re.findall(
                r'action="(/community/members/[0-9a-f-]+/approve)"', (await browser.get("/community/")).text
            )
            return bool(approve)

        await wait_for(requested, timeout=60, message="the request on the officer's page")
        mark = await member.count()
        await browser.post(approve[0], data={"csrf_token": officer_csrf})
        await member.expect("参加が承認されました", since=mark, timeout=60)

        circular_id = uuid.uuid4()
        form = {
            "circular_id": str(circular_id),
            "title": "防災訓練",
            "text": "9月1日に公園で。",
            "csrf_token": officer_csrf,
        }
        mark = await member.count()
        posted = await browser.post("/community/circulars", data=form)
        assert "done=posted" in posted.headers["location"]
        received = await member.expect("【回覧板】北町自治会", since=mark, timeout=60)
        await member.tap(find_postback(received, "確認しました"), expect="確認済みにしました")

        async def read() -> bool:
            return "確認した方（1人）" in (await browser.get(f"/community/circulars/{circular_id}")).text

        await wait_for(read, timeout=60, message="the read on the officer's page")
    finally:
        await clerk.aclose()
        await browser.aclose()
