"""The resident's front door, across processes: LINE → gateway → Kafka → notify → the LINE emulator.

The gateway, notify and the emulator run as separate processes (`cityhall service gateway`,
`cityhall service notify`, `python -m cityhall.line_emulator`), on real Kafka and Postgres.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest
from linebot.v3.messaging import TextMessage

from cityhall.events.bus import Record
from cityhall.events.kafka_bus import KafkaBus
from cityhall.events.testing import wait_for
from cityhall.gateway import testing as webhooks
from cityhall.line.contracts import OUTBOUND_TOPIC, outbound_message

from .harness import Deployment, LineClient

pytestmark = pytest.mark.timeout(600)


async def arrived(line: LineClient, user: str, count: int, timeout: float = 60) -> list[dict[str, Any]]:
    """The messages delivered to `user`, once there are at least `count`."""
    got: list[dict[str, Any]] = []

    async def enough() -> bool:
        got[:] = await line.messages(user)
        return len(got) >= count

    await wait_for(enough, timeout=timeout, interval=0.1, message=f"{count} message(s) for {user}")
    return got


def quick_reply_postback(message: dict[str, Any], label: str) -> str:
    for item in message.get("quickReply", {}).get("items", []):
        action = item["action"]
        if action.get("label") == label and action["type"] == "postback":
            return str(action["data"])
    raise AssertionError(f"no {label} postback quick reply in {message}")


async def gateway_intents(deployment: Deployment, user: str) -> int:
    conn = await asyncpg.connect(deployment.databases["gateway"])
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM svc_gateway.events WHERE category = 'intent' AND data->>'user_id' = $1",
            user,
        )
        return count
    finally:
        await conn.close()


async def test_a_signed_follow_leads_to_the_welcome_at_the_emulator(line: LineClient) -> None:
    user = webhooks.user_id()
    await line.add_resident(user)
    follow = await line.issue_reply_token(webhooks.follow(user))
    response = await line.post_webhook(follow)
    assert response.status_code == 200, response.text

    [welcome] = await arrived(line, user, 1)
    assert welcome["endpoint"] == "reply"  # the reply token was fresh
    assert welcome["message"]["type"] == "text"
    assert "友だち追加" in welcome["message"]["text"]

    # Tapping 使い方 is a postback: the gateway routes it by its data, notify answers with the guide.
    tap = await line.issue_reply_token(
        webhooks.postback(user, quick_reply_postback(welcome["message"], "使い方"))
    )
    assert (await line.post_webhook(tap)).status_code == 200
    _, guide = await arrived(line, user, 2)
    assert guide["message"]["type"] == "text" and "使い方" in guide["message"]["text"]


async def test_a_wrong_signature_gets_400_and_nothing_is_delivered(
    line: LineClient, deployment: Deployment
) -> None:
    refused, witness = webhooks.user_id(), webhooks.user_id()
    forged = await line.issue_reply_token(webhooks.follow(refused))
    response = await line.post_webhook(forged, secret="not-the-channel-secret")
    assert response.status_code == 400
    unsigned = await line.gateway.post("/callback", content=webhooks.encode(webhooks.webhook(forged)))
    assert unsigned.status_code == 400

    # A signed follow sent afterwards arrives; the refused one was never recorded, so never delivered.
    later = await line.issue_reply_token(webhooks.follow(witness))
    assert (await line.post_webhook(later)).status_code == 200
    await arrived(line, witness, 1)
    assert await gateway_intents(deployment, refused) == 0
    assert await line.messages(refused) == []


async def test_a_redelivered_event_leads_to_one_delivery(line: LineClient, deployment: Deployment) -> None:
    user = webhooks.user_id()
    follow = await line.issue_reply_token(webhooks.follow(user))
    assert (await line.post_webhook(follow)).status_code == 200
    for _ in range(2):  # LINE redelivers, e.g. after a timeout on its side
        assert (await line.post_webhook(webhooks.redelivered(follow))).status_code == 200

    # Something sent afterwards for the same resident (same partition, so processed later).
    [welcome] = await arrived(line, user, 1)
    tap = webhooks.postback(user, quick_reply_postback(welcome["message"], "使い方"))
    assert (await line.post_webhook(tap)).status_code == 200
    messages = await arrived(line, user, 2)
    assert len(messages) == 2
    assert ["友だち追加" in m["message"]["text"] for m in messages] == [True, False]
    assert await gateway_intents(deployment, user) == 2


async def test_notify_sigkilled_mid_burst_of_500_still_delivers_each_message_exactly_once(
    line: LineClient, deployment: Deployment
) -> None:
    burst = uuid.uuid4().hex[:8]
    residents = [webhooks.user_id() for _ in range(500)]
    requests = [
        outbound_message(
            to=user,
            messages=[TextMessage(text=f"お知らせです（{i + 1}/500）。")],
            source="/services/integration-test",
            idempotency_key=f"burst-{burst}-{i}",
        )
        for i, user in enumerate(residents)
    ]
    ours = set(residents)

    async def delivered() -> dict[str, list[dict[str, Any]]]:
        by_user: dict[str, list[dict[str, Any]]] = {}
        for message in await line.messages():
            if message["to"] in ours:
                by_user.setdefault(message["to"], []).append(message)
        return by_user

    bus = KafkaBus(deployment.kafka_bootstrap)
    await bus.start()
    try:
        await bus.publish([Record.of(OUTBOUND_TOPIC, env.key or "", env) for env in requests], timeout=60)
    finally:
        await bus.stop()

    async def some_delivered() -> bool:
        return len(await delivered()) >= 50

    await wait_for(
        some_delivered, timeout=120, interval=0.01, message="notify delivered nothing of the burst"
    )
    notify = deployment.services["notify"]
    notify.kill()
    at_kill = len(await delivered())
    assert at_kill < len(residents), "the SIGKILL came after the burst: it must land in the middle"

    notify.start()

    async def all_delivered() -> bool:
        return len(await delivered()) == len(residents)

    await wait_for(
        all_delivered, timeout=240, interval=0.5, message="not every message arrived after the restart"
    )

    # Every request settled (nothing queued, so nothing can still be sent twice), then count.
    async def settled() -> bool:
        conn = await asyncpg.connect(deployment.databases["notify"])
        try:
            queued: int = await conn.fetchval("SELECT count(*) FROM svc_notify.delivery_queue")
        finally:
            await conn.close()
        return queued == 0

    await wait_for(settled, timeout=120, interval=0.2, message="notify still has queued deliveries")

    final = await delivered()
    assert sorted(len(m) for m in final.values()) == [1] * len(residents), "each message exactly once"
    retry_keys = {m[0]["retryKey"] for m in final.values()}
    assert None not in retry_keys and len(retry_keys) == len(residents), "one retry key per request"
    stats = await line.stats()
    print(
        f"\n{at_kill} of 500 delivered at the SIGKILL; emulator push stats: {stats['endpoints'].get('push')}"
    )
