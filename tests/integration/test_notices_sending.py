"""Notices while they are being sent, across processes: an emergency alert overrides a resident's
quiet hours while a campaign waits for them to end; staff cancel a campaign to 5,000 residents in
the middle of its send; notify is SIGKILLed in the middle of an alert to 3,000 residents and
restarted. In every case the LINE emulator's record of what it received is the proof: each
resident got a message at most once (exactly once for the alert), and notify's statistics agree.

Processes: the LINE emulator, `cityhall service gateway`, `notify` and `staff-portal`, each with
its own database on the test Postgres, all on the test Kafka. Staff act over notify's HTTP API;
the residents of the quiet-hours test set their 配信設定 through signed webhooks.

- The emulator keeps LINE's rate limits, with multicast slowed to 1/s (`LINE_EMULATOR_RATE_LIMITS`):
  LINE's own 200/s would send 5,000 residents' ten multicasts in 50 ms, too fast for anyone to
  cancel in the middle. notify meets the 429s as it meets LINE's, retrying each chunk under its
  own retry key.
- notify's clock is moved (`CITYHALL_CLOCK_OFFSET`, development only) to 01:00 Japan time, inside
  the quiet hours 22時〜翌7時, whatever the hour the tests run at; the quiet-hours test then
  restarts notify with its clock at 07:00 to see the held campaign go out when the hours end.
- The SIGKILL lands after LINE accepted the alert's first multicasts; the test then sets those
  chunks back to pending in notify's database, as a kill between LINE's acceptance and notify's
  commit would leave them, so the restart sends them again and only their retry keys (LINE's 409)
  keep them from arriving twice.
- The test Kafka is shared by every integration module, and a new notify reads `intents.notify`
  from its beginning (its offsets live in its own new database): residents that earlier modules
  settled in a district are in this module's audience too. So the tests speak of their own
  residents, and totals are compared with the emulator's record rather than with a fixed number.
- The 5,000 and 3,000 residents of the bulk tests are seeded as a test fixture: their 配信設定
  stored through notify's own store API (`Audience.save`, the call the 配信設定 dialog makes when a
  resident saves: the preferences sealed with the resident's key plus the code table's row) on
  notify's database. Walking 8,000 dialogs through webhooks would take most of the test's time
  and prove nothing the quiet-hours test and tests/integration/test_notices.py do not.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from cityhall.events import db
from cityhall.events.testing import wait_for
from cityhall.line.japanese import JST
from cityhall.line.testing import new_user
from cityhall.notify.audience import Audience
from cityhall.notify.preferences import Preferences
from cityhall.web.csrf import CSRF_HEADER

from .harness import Deployment, LineClient
from .test_notices import APPROVER, AUTHOR, approved, settle_in

pytestmark = pytest.mark.timeout(600)

QUIET = "22時〜翌7時"
MULTICASTS_PER_SECOND = 1


def clock_offset(hour: int) -> float:
    """Seconds from now to the next `hour`:00 Japan time: notify's CITYHALL_CLOCK_OFFSET for a
    clock that reads that hour now."""
    now = datetime.now(JST)
    then = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    if then <= now:
        then += timedelta(days=1)
    return (then - now).total_seconds()


@pytest.fixture(scope="module")
def deployment(
    postgres_dsn: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    deployment = Deployment(
        postgres_dsn,
        kafka_bootstrap,
        tmp_path_factory.mktemp("notices-sending"),
        emulator_env={"LINE_EMULATOR_RATE_LIMITS": f"multicast={MULTICASTS_PER_SECOND}/s"},
    )
    deployment.service("gateway")
    deployment.service("notify", env={"CITYHALL_CLOCK_OFFSET": f"{clock_offset(1):.0f}"})
    deployment.service("staff-portal")
    with deployment:
        yield deployment


@pytest.fixture
async def notify_db(deployment: Deployment) -> AsyncIterator[db.Pool]:
    """notify's own database, for seeding residents as a fixture would."""
    pool = await db.create_pool(deployment.databases["notify"], "svc_notify", max_size=8)
    try:
        yield pool
    finally:
        await pool.close()


async def seed(pool: db.Pool, districts: list[str], count: int) -> list[str]:
    """`count` residents spread over `districts`, every interest, no quiet hours: their 配信設定
    saved by `Audience.save` (sealed with each resident's new key, and the code table's row)."""
    audience = Audience(pool)
    users = [new_user() for _ in range(count)]

    async def save(part: list[str]) -> None:
        async with pool.acquire() as conn, conn.transaction():
            for i, user in enumerate(part):
                await audience.save(conn, user, Preferences(district=districts[i % len(districts)]))

    await asyncio.gather(*(save(users[i::8]) for i in range(8)))
    return users


async def shown(staff: httpx.AsyncClient, notice_id: str) -> dict[str, Any]:
    """The notice as staff see it, with its progress in residents."""
    response = await staff.get(f"/staff/notices/api/notices/{notice_id}")
    response.raise_for_status()
    found: dict[str, Any] = response.json()
    return found


async def records(line: LineClient, text: str) -> list[dict[str, Any]]:
    """The emulator's record of each message containing `text` it delivered (`to`, `retryKey`, ...)."""
    return [m for m in await line.messages() if text in str(m["message"].get("text", ""))]


async def received(line: LineClient, text: str) -> Counter[str]:
    """How many messages containing `text` the emulator delivered, per recipient."""
    return Counter(m["to"] for m in await records(line, text))


async def test_an_alert_overrides_quiet_hours_and_a_campaign_waits_for_them_to_end(
    deployment: Deployment, line: LineClient
) -> None:
    sleeping, awake = line.resident(), line.resident()
    await settle_in(sleeping, "西町", quiet=QUIET)  # notify's clock reads 01:00: inside the hours
    await settle_in(awake, "西町")
    author, _csrf = await deployment.clerk("notify", AUTHOR)
    try:
        campaign = {"kind": "campaign", "title": "清掃活動", "interest": "event",
                    "condition": {"district": ["nishi"]}, "texts": {"ja": "西町で清掃活動を行います。"}}  # fmt: skip
        campaign_id = await approved(deployment, campaign)
        await awake.expect("西町で清掃活動を行います。", timeout=60)

        async def held() -> bool:
            progress = (await shown(author, campaign_id))["progress"]
            return bool(progress["materialized"] and progress["pending"] == 1)

        await wait_for(held, timeout=30, message="the campaign held back for the resident in quiet hours")
        delivered_at_once = (await shown(author, campaign_id))["progress"]["delivered"]

        alert = {"kind": "alert", "title": "避難指示", "condition": {"district": ["nishi"]},
                 "texts": {"ja": "西町に避難指示を発令しました。直ちに避難してください。"}}  # fmt: skip
        await approved(deployment, alert)
        await sleeping.expect("西町に避難指示を発令しました", timeout=60)  # at once, quiet hours or not
        await awake.expect("西町に避難指示を発令しました", timeout=60)
        assert await sleeping.count("清掃活動") == 0  # the campaign still waits for 7時
        assert (await shown(author, campaign_id))["status"] == "approved"

        # Six hours on, 07:00 on notify's clock (the same day): the quiet hours are over and the
        # held campaign goes out.
        notify = deployment.services["notify"]
        notify.env["CITYHALL_CLOCK_OFFSET"] = f"{float(notify.env['CITYHALL_CLOCK_OFFSET']) + 6 * 3600:.0f}"
        notify.restart()
        await sleeping.expect("西町で清掃活動を行います。", timeout=90)

        async def completed() -> bool:
            return (await shown(author, campaign_id))["status"] == "completed"

        await wait_for(completed, timeout=60, message="the campaign completed")
        # everyone delivered at once, and the one held resident
        assert (await shown(author, campaign_id))["completed_delivered"] == delivered_at_once + 1
        assert await sleeping.count("清掃活動") == 1 and await awake.count("清掃活動") == 1
        assert await sleeping.count("西町に避難指示を発令しました") == 1  # the alert once
    finally:
        await author.aclose()


async def test_a_campaign_cancelled_mid_send_keeps_what_was_sent_and_sends_nothing_more(
    deployment: Deployment, line: LineClient, notify_db: db.Pool
) -> None:
    residents = set(await seed(notify_db, ["honcho"], 5_000))
    text = "本町の夏祭りのご案内です。"
    campaign = {"kind": "campaign", "title": "夏祭り", "interest": "event",
                "condition": {"district": ["honcho"]}, "texts": {"ja": text}}  # fmt: skip
    approver, csrf = await deployment.clerk("notify", APPROVER)
    try:
        notice_id = await approved(deployment, campaign)

        async def some_sent() -> bool:
            return bool((await shown(approver, notice_id))["progress"]["delivered"] > 0)

        await wait_for(some_sent, timeout=60, message="the first multicasts of the campaign")
        cancelled = await approver.post(
            f"/staff/notices/api/notices/{notice_id}/cancel", json={}, headers={CSRF_HEADER: csrf}
        )
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled", cancelled.text

        async def finished() -> bool:
            return "completed_delivered" in await shown(approver, notice_id)

        await wait_for(finished, timeout=120, message="the cancelled campaign finished")
        notice = await shown(approver, notice_id)
        progress = notice["progress"]
        got = await received(line, text)
        assert notice["status"] == "cancelled"
        assert set(got) <= residents and max(got.values()) == 1  # nobody twice
        delivered = sum(got.values())
        assert delivered == progress["delivered"] == notice["completed_delivered"]  # the statistics agree
        assert 0 < delivered < 5_000  # cancelled in the middle: some sent, not all
        assert progress["cancelled"] == 5_000 - delivered  # the rest never went out
        assert progress["pending"] == 0 and progress["failed"] == 0 == notice["completed_failed"]
    finally:
        await approver.aclose()


async def test_an_alert_resumes_after_a_sigkill_mid_send_none_lost_none_twice(
    deployment: Deployment, line: LineClient, notify_db: db.Pool
) -> None:
    count = 3_000
    residents = set(await seed(notify_db, ["higashi", "minami"], count))
    text = "東町と南町に避難指示を発令しました。直ちに避難してください。"
    alert = {"kind": "alert", "title": "避難指示", "condition": {"district": ["higashi", "minami"]},
             "texts": {"ja": text}}  # fmt: skip
    staff, _csrf = await deployment.clerk("notify", AUTHOR)
    try:
        conflicts = (await line.stats())["endpoints"].get("multicast", {}).get("conflicts", 0)
        notice_id = await approved(deployment, alert)

        async def some_received() -> bool:
            return bool(await received(line, text))

        await wait_for(some_received, timeout=60, message="the alert's first multicast at LINE")
        deployment.services["notify"].kill()  # SIGKILL: no shutdown code runs
        at_kill = await received(line, text)
        assert 0 < sum(at_kill.values()) < count  # killed in the middle of the send
        accepted = {m["retryKey"] for m in await records(line, text)}  # the chunks LINE accepted
        # The worst moment for the kill: LINE had accepted these chunks, notify had not yet
        # committed that. Their rows go back to pending, as that crash leaves them.
        await notify_db.execute(
            "UPDATE notice_chunks SET status = 'pending', sent_at = NULL WHERE send_id = $1 AND status = 'delivered'",
            uuid.UUID(notice_id),
        )

        deployment.services["notify"].start()

        async def completed() -> bool:
            return (await shown(staff, notice_id))["status"] == "completed"

        await wait_for(completed, timeout=180, message="the alert completed after the restart")
        got = await received(line, text)
        assert residents <= set(got)  # none lost
        assert set(got.values()) == {1}  # none twice
        # the chunks LINE had accepted were sent again under their retry keys and refused as such
        resent = (await line.stats())["endpoints"]["multicast"]["conflicts"] - conflicts
        assert resent >= len(accepted) > 0
        notice = await shown(staff, notice_id)
        assert notice["completed_delivered"] == len(got) and notice["completed_failed"] == 0
    finally:
        await staff.aclose()
