"""Notices across processes: residents set their 配信設定 through signed webhooks (gateway →
Kafka → notify); staff draft and approve over notify's HTTP API; an emergency alert reaches the
district it names even a resident who stopped 防災, a campaign skips that resident, and a
resident elsewhere gets neither; a campaign approved for a later time waits for it, and one
cancelled before its time is never sent.

Processes: the LINE emulator, `cityhall service gateway`, `notify` and `staff-portal`, each with
its own database on the test Postgres, all on the test Kafka.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cityhall.events.testing import wait_for
from cityhall.line.testing import Resident, find_postback
from cityhall.web import StaffUser
from cityhall.web.csrf import CSRF_HEADER

from .harness import Deployment, LineClient

pytestmark = pytest.mark.timeout(600)

AUTHOR = StaffUser("notify-author", "広報係 目黒", frozenset({"notify-author"}))
APPROVER = StaffUser("notify-approver", "広報課長 大田", frozenset({"notify-approver"}))


@pytest.fixture(scope="module")
def deployment(
    postgres_dsn: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    deployment = Deployment(postgres_dsn, kafka_bootstrap, tmp_path_factory.mktemp("notices"))
    for name in ("gateway", "notify", "staff-portal"):
        deployment.service(name)
    with deployment:
        yield deployment


async def settle_in(
    resident: Resident, district: str, *, stop: str | None = None, quiet: str | None = None
) -> None:
    """The resident's 配信設定 through the dialog: `district`, optionally an interest stopped and
    quiet hours (`quiet`: the choice's label, e.g. 「22時〜翌7時」)."""
    menu = await resident.tap("domain=notify&action=settings", expect="現在の配信設定です")
    districts = await resident.tap(find_postback(menu, "地域"), expect="町丁目")
    menu = await resident.tap(find_postback(districts, district), expect=f"「{district}」")
    if quiet:
        hours = await resident.tap(
            find_postback(menu, "通知しない時間帯"), expect="通知しない時間帯をお選びください"
        )
        menu = await resident.tap(
            find_postback(hours, quiet), expect=f"通知しない時間帯を「{quiet}」にしました"
        )
    if stop:
        interests = await resident.tap(find_postback(menu, "お知らせの種類"), expect="受け取るお知らせの種類")
        interests = await resident.tap(
            find_postback(interests, f"停止：{stop}"), expect=f"× 配信停止：{stop}"
        )
        menu = await resident.tap(find_postback(interests, "戻る"), expect="現在の配信設定です")
    await resident.tap(find_postback(menu, "終了"), expect="配信設定を保存しました")


async def approved(deployment: Deployment, body: dict[str, Any]) -> str:
    """A notice drafted by the author and approved to go now by the approver; its id."""
    author, author_csrf = await deployment.clerk("notify", AUTHOR)
    approver, approver_csrf = await deployment.clerk("notify", APPROVER)
    try:
        made = await author.post("/staff/notices/api/notices", json=body, headers={CSRF_HEADER: author_csrf})
        assert made.status_code == 200, made.text
        notice_id: str = made.json()["notice_id"]
        done = await approver.post(
            f"/staff/notices/api/notices/{notice_id}/approve", json={}, headers={CSRF_HEADER: approver_csrf}
        )
        assert done.status_code == 200, done.text
        return notice_id
    finally:
        await author.aclose()
        await approver.aclose()


async def notice(deployment: Deployment, body: dict[str, Any]) -> str:
    """A notice approved to go now, once it has completed; its id."""
    notice_id = await approved(deployment, body)
    author, _csrf = await deployment.clerk("notify", AUTHOR)
    try:
        await wait_for(
            lambda: _completed(author, notice_id), timeout=60, message=f"notice {notice_id} completed"
        )
        return notice_id
    finally:
        await author.aclose()


async def test_an_alert_overrides_a_stopped_interest_and_a_campaign_respects_it(
    deployment: Deployment, line: LineClient
) -> None:
    minato, yamate = line.resident(), line.resident()
    await settle_in(minato, "北町", stop="防災")
    await settle_in(yamate, "西町")

    alert = {"kind": "alert", "title": "避難指示", "condition": {"district": ["kita"]},
             "texts": {"ja": "北町に避難指示を発令しました。直ちに避難してください。"}}  # fmt: skip
    await notice(deployment, alert)
    await minato.expect("北町に避難指示を発令しました", timeout=60)

    campaign = {"kind": "campaign", "title": "防災訓練", "interest": "bosai",
                "condition": {"any": [{"district": ["kita"]}, {"district": ["nishi"]}]},
                "texts": {"ja": "防災訓練を行います。"}}  # fmt: skip
    await notice(deployment, campaign)
    await yamate.expect("防災訓練を行います。", timeout=60)
    assert await minato.count("防災訓練") == 0  # stopped 防災: campaigns skip them
    assert await yamate.count("避難指示") == 0  # another district: the alert never reached them


async def test_a_campaign_approved_for_later_waits_for_its_time(
    deployment: Deployment, line: LineClient
) -> None:
    resident = line.resident()
    await settle_in(resident, "東町")
    author, author_csrf = await deployment.clerk("notify", AUTHOR)
    approver, approver_csrf = await deployment.clerk("notify", APPROVER)
    try:
        body = {"kind": "campaign", "title": "燃やすごみの日", "interest": "gomi",
                "condition": {"district": ["higashi"]}, "texts": {"ja": "あすは燃やすごみの日です。"}}  # fmt: skip
        made = await author.post("/staff/notices/api/notices", json=body, headers={CSRF_HEADER: author_csrf})
        notice_id = made.json()["notice_id"]
        send_at = datetime.now(UTC) + timedelta(seconds=20)
        approved = await approver.post(
            f"/staff/notices/api/notices/{notice_id}/approve",
            json={"send_at": send_at.isoformat()},
            headers={CSRF_HEADER: approver_csrf},
        )
        assert approved.status_code == 200, approved.text
        assert approved.json()["status"] == "approved"
        assert await resident.count("燃やすごみの日") == 0  # its time has not come

        await resident.expect("あすは燃やすごみの日です。", timeout=90)
        await wait_for(
            lambda: _completed(author, notice_id), timeout=60, message=f"notice {notice_id} completed"
        )
        shown = (await author.get(f"/staff/notices/api/notices/{notice_id}")).json()
        assert shown["approved_send_at"][:19] == send_at.isoformat()[:19]
        assert shown["completed_delivered"] == 1
    finally:
        await author.aclose()
        await approver.aclose()


async def test_a_campaign_cancelled_before_its_time_is_never_sent(
    deployment: Deployment, line: LineClient
) -> None:
    resident = line.resident()
    await settle_in(resident, "南町")
    author, author_csrf = await deployment.clerk("notify", AUTHOR)
    approver, approver_csrf = await deployment.clerk("notify", APPROVER)
    soon = datetime.now(UTC) + timedelta(seconds=15)

    async def approved(text: str, send_at: datetime) -> str:
        body = {"kind": "campaign", "title": "お知らせ", "interest": "event",
                "condition": {"district": ["minami"]}, "texts": {"ja": text}}  # fmt: skip
        made = await author.post("/staff/notices/api/notices", json=body, headers={CSRF_HEADER: author_csrf})
        notice_id: str = made.json()["notice_id"]
        done = await approver.post(
            f"/staff/notices/api/notices/{notice_id}/approve",
            json={"send_at": send_at.isoformat()},
            headers={CSRF_HEADER: approver_csrf},
        )
        assert done.status_code == 200, done.text
        return notice_id

    try:
        cancelled = await approved("中止になった催しのご案内です。", soon)
        await approved("後から届くご案内です。", soon + timedelta(seconds=5))
        stopped = await approver.post(
            f"/staff/notices/api/notices/{cancelled}/cancel", json={}, headers={CSRF_HEADER: approver_csrf}
        )
        assert stopped.status_code == 200 and stopped.json()["status"] == "cancelled", stopped.text
        # the later notice arrives: the sender has passed the cancelled one's time without sending it
        await resident.expect("後から届くご案内です。", timeout=90)
        assert await resident.count("中止になった催し") == 0
    finally:
        await author.aclose()
        await approver.aclose()


async def _completed(client: Any, notice_id: str) -> bool:
    shown = (await client.get(f"/staff/notices/api/notices/{notice_id}")).json()
    return bool(shown["status"] == "completed")
