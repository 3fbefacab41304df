"""notify end to end: requests and intents on the EmbeddedBus, deliveries at the real LINE emulator."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
from linebot.v3.messaging import (
    AsyncApiClient,
    AsyncMessagingApi,
    Configuration,
    MulticastRequest,
    PushMessageRequest,
    ReplyMessageRequest,
    TextMessage,
)

from cityhall.events.testing import sample, wait_for
from cityhall.line.contracts import DialogReleased, OutboundMessageRequested, ResidentIntent
from cityhall.line.ratelimit import RateLimit
from cityhall.line_emulator.settings import EmulatorSettings
from cityhall.notify.events import (
    FriendFollowed,
    FriendUnfollowed,
    MessageDelivered,
    MessageDeliveryFailed,
    MessageSkipped,
)
from cityhall.notify.line_api import retry_key
from cityhall.runtime.service import Settings
from cityhall.runtime.system import System, UnusedBus
from cityhall.web import SESSION_COOKIE, StaffAuth, StaffUser

from .conftest import HOWTO_SECTIONS, TOKEN, WEB, Harness, HarnessFactory, intent, outbound, user


async def wait_messages(
    harness: Harness, to: str, count: int, timeout: float = 20
) -> list[dict[str, object]]:
    async def arrived() -> bool:
        return len(await harness.messages(to)) >= count

    await wait_for(arrived, timeout=timeout, message=f"{count} message(s) for {to}")
    return await harness.messages(to)


def request_of(envelope: object) -> OutboundMessageRequested:
    event = envelope.event()  # type: ignore[attr-defined]
    assert isinstance(event, OutboundMessageRequested)
    return event


# --- the welcome and the guide -------------------------------------------------------------


async def test_follow_is_answered_with_the_welcome_as_a_reply(harness: Harness) -> None:
    resident = user()
    token = await harness.reply_token(resident)
    await harness.publish(intent("follow", resident, reply_token=token))

    [welcome] = await wait_messages(harness, resident, 1)
    assert welcome["endpoint"] == "reply"
    message = welcome["message"]
    assert isinstance(message, dict)
    assert message["text"].startswith("友だち追加ありがとうございます")
    assert [i["action"]["label"] for i in message["quickReply"]["items"]] == [
        "使い方",
        "よくある質問",
        "配信設定",
    ]
    [followed] = await harness.events(FriendFollowed, stream=f"friend-{resident}")
    assert followed == FriendFollowed(user_id=resident, at=followed.at)

    async def delivered() -> list[MessageDelivered]:
        return [e for e in await harness.events(MessageDelivered) if e.to == resident]  # type: ignore[attr-defined]

    await wait_for(delivered, message="MessageDelivered recorded")
    [outcome] = await delivered()
    assert outcome.method == "reply" and outcome.requested_by == "notify" and not outcome.already_accepted


async def test_howto_postback_is_answered_with_the_guide(harness: Harness) -> None:
    resident = user()
    token = await harness.reply_token(resident)
    await harness.publish(
        intent("postback", resident, reply_token=token, postback_data="domain=notify&action=howto")
    )
    [guide] = await wait_messages(harness, resident, 1)
    assert guide["endpoint"] == "reply"
    text = guide["message"]["text"]  # type: ignore[index]
    assert text.startswith("使い方のご案内です")
    for item in HOWTO_SECTIONS:
        assert item in text
    # The resident's next free text goes back to the guide.
    await wait_for(lambda: harness.events(DialogReleased), message="DialogReleased stored")


# --- reply or push -------------------------------------------------------------------------


async def test_a_stale_reply_token_is_not_used_push_is(harness: Harness) -> None:
    resident = user()
    token = await harness.reply_token(resident)
    envelope = outbound(resident)
    stale = request_of(envelope).model_copy(
        update={"reply_token": token, "reply_token_issued_at": datetime.now(UTC) - timedelta(seconds=55)}
    )
    envelope = replace(envelope, data=stale.model_dump(mode="json"))
    await harness.publish(envelope)

    [outcome] = await harness.settled(envelope)
    assert isinstance(outcome, MessageDelivered) and outcome.method == "push"
    [pushed] = await harness.messages(resident)
    assert pushed["endpoint"] == "push"
    assert pushed["retryKey"] == retry_key(stale.idempotency_key)


async def test_a_refused_reply_token_falls_back_to_push(harness: Harness) -> None:
    resident = user()
    follow = intent("text", resident, reply_token="never-issued-by-line", text="こんにちは")
    reply_to = follow.event()
    assert isinstance(reply_to, ResidentIntent)
    envelope = outbound(resident, reply_to=reply_to)
    await harness.publish(envelope)

    [outcome] = await harness.settled(envelope)
    assert isinstance(outcome, MessageDelivered) and outcome.method == "push"
    assert [m["endpoint"] for m in await harness.messages(resident)] == ["push"]
    assert (await harness.stats("reply")).get("status400") == 1


async def test_the_messages_go_to_line_as_they_were_queued(harness: Harness) -> None:
    """The JSON the service queued, not rebuilt through the SDK's models (which would put "sender"
    before "text") nor read back from jsonb (which puts "text" first)."""
    resident = user()
    envelope = outbound(resident)
    queued = {"type": "text", "text": "順番どおり", "sender": {"name": "市役所"}}
    envelope = replace(envelope, data={**envelope.data, "messages": [queued]})
    await harness.publish(envelope)

    [outcome] = await harness.settled(envelope)
    assert isinstance(outcome, MessageDelivered)
    [pushed] = await harness.messages(resident)
    assert list(pushed["message"]) == ["type", "text", "sender"]
    assert pushed["message"] == queued


# --- LINE's answers ------------------------------------------------------------------------


async def test_409_means_an_earlier_attempt_got_through_and_counts_as_delivered(harness: Harness) -> None:
    resident = user()
    envelope = outbound(resident)
    request = request_of(envelope)
    # A previous notify sent it and was killed before recording the outcome.
    async with AsyncApiClient(Configuration(host=harness.emulator.url, access_token=TOKEN)) as client:
        await AsyncMessagingApi(client).push_message(
            PushMessageRequest(to=resident, messages=[TextMessage(text="お知らせです。")]),
            x_line_retry_key=retry_key(request.idempotency_key),
        )
    await harness.publish(envelope)

    [outcome] = await harness.settled(envelope)
    assert isinstance(outcome, MessageDelivered)
    assert outcome.already_accepted and outcome.line_request_id
    assert len(await harness.messages(resident)) == 1
    assert (await harness.stats("push")).get("conflicts") == 1


async def test_429_is_retried_with_the_same_retry_key_until_delivered(make_harness: HarnessFactory) -> None:
    harness = await make_harness(EmulatorSettings(rate_limits={"push": RateLimit(2, 1.0)}))
    residents = [user() for _ in range(6)]
    envelopes = [outbound(r) for r in residents]
    await harness.publish(*envelopes)

    for resident, envelope in zip(residents, envelopes, strict=True):
        [outcome] = await harness.settled(envelope)
        assert isinstance(outcome, MessageDelivered) and outcome.method == "push"
        [message] = await harness.messages(resident)
        assert message["retryKey"] == retry_key(request_of(envelope).idempotency_key)
    stats = await harness.stats("push")
    assert stats["rateLimited"] >= 1, stats
    assert stats["accepted"] == 6
    outcomes = [e for env in envelopes for e in await harness.outcomes(env.id)]
    assert any(isinstance(o, MessageDelivered) and o.attempts > 1 for o in outcomes)


async def test_a_400_is_recorded_as_failed_with_lines_message_and_not_retried(harness: Harness) -> None:
    resident = user()
    envelope = outbound(resident, TextMessage(text="あ" * 5001))
    await harness.publish(envelope)

    [outcome] = await harness.settled(envelope)
    assert isinstance(outcome, MessageDeliveryFailed)
    assert outcome.status == 400 and outcome.method == "push" and outcome.attempts == 1
    assert outcome.error == "The request body has 1 error(s)"
    assert outcome.details and "5000" in str(outcome.details[0]["message"])
    assert await harness.messages(resident) == []
    assert (await harness.stats("push")).get("requests") == 1


async def test_an_invalid_request_is_recorded_as_failed_without_calling_line(harness: Harness) -> None:
    resident = user()
    envelope = outbound(resident)
    broken = replace(envelope, data={**envelope.data, "messages": [{"type": "nope"}]})
    await harness.publish(broken)

    [outcome] = await harness.settled(broken)
    assert isinstance(outcome, MessageDeliveryFailed) and outcome.status == 0
    assert "invalid request" in outcome.error
    assert await harness.stats("push") == {}


# --- multicast -----------------------------------------------------------------------------


async def test_1200_recipients_go_out_as_three_multicasts(harness: Harness) -> None:
    residents = [user() for _ in range(1200)]
    envelope = outbound(residents)
    await harness.publish(envelope)

    outcomes = await harness.settled(envelope, count=3)
    delivered = sorted((o for o in outcomes if isinstance(o, MessageDelivered)), key=lambda o: o.chunk or 0)
    assert [(o.method, o.chunk, o.recipients) for o in delivered] == [
        ("multicast", 0, 500),
        ("multicast", 1, 500),
        ("multicast", 2, 200),
    ]
    stats = await harness.stats("multicast")
    assert stats["accepted"] == 3 and stats["requests"] == 3
    key = request_of(envelope).idempotency_key
    for i, resident in ((0, residents[0]), (1, residents[500]), (2, residents[-1])):
        [message] = await harness.messages(resident)
        assert message["endpoint"] == "multicast" and message["retryKey"] == retry_key(key, i)


async def test_a_resent_multicast_sends_no_chunk_twice(make_harness: HarnessFactory) -> None:
    harness = await make_harness(run=False)
    residents = [user() for _ in range(1000)]
    envelope = outbound(residents)
    key = request_of(envelope).idempotency_key
    # A previous notify got chunk 0 through, then died.
    async with AsyncApiClient(Configuration(host=harness.emulator.url, access_token=TOKEN)) as client:
        await AsyncMessagingApi(client).multicast(
            MulticastRequest(to=residents[:500], messages=[TextMessage(text="お知らせです。")]),
            x_line_retry_key=retry_key(key, 0),
        )
    await harness.publish(envelope)
    harness.run()

    outcomes = await harness.settled(envelope, count=2)
    by_chunk = {o.chunk: o for o in outcomes if isinstance(o, MessageDelivered)}
    assert by_chunk[0].already_accepted and not by_chunk[1].already_accepted
    for resident in (residents[0], residents[499], residents[500], residents[999]):
        assert len(await harness.messages(resident)) == 1


# --- the friend registry -------------------------------------------------------------------


async def test_a_resident_who_blocked_the_account_is_skipped_until_they_follow_again(
    harness: Harness,
) -> None:
    blocked, friend = user(), user()
    await harness.publish(intent("unfollow", blocked))
    await wait_for(lambda: harness.events(FriendUnfollowed, stream=f"friend-{blocked}"), message="unfollowed")

    push = outbound(blocked)
    multicast = outbound([friend, blocked])
    await harness.publish(push, multicast)
    [skipped] = await harness.settled(push)
    assert isinstance(skipped, MessageSkipped) and skipped.recipients == [blocked]
    outcomes = await harness.settled(multicast, count=2)
    assert [o.recipients for o in outcomes if isinstance(o, MessageSkipped)] == [[blocked]]
    assert [o.recipients for o in outcomes if isinstance(o, MessageDelivered)] == [1]
    assert await harness.messages(blocked) == []
    assert len(await harness.messages(friend)) == 1

    token = await harness.reply_token(blocked)
    await harness.publish(intent("follow", blocked, reply_token=token, raw={"follow": {"isUnblocked": True}}))
    [welcome] = await wait_messages(harness, blocked, 1)
    assert welcome["message"]["text"].startswith("おかえりなさい")  # type: ignore[index]
    again = outbound(blocked)
    await harness.publish(again)
    [outcome] = await harness.settled(again)
    assert isinstance(outcome, MessageDelivered) and outcome.method == "push"

    async def projected() -> bool:
        rows = await harness.pool.fetch("SELECT outcome FROM deliveries WHERE user_id = $1", blocked)
        return sorted(r["outcome"] for r in rows) == ["delivered", "delivered", "skipped", "skipped"]

    await wait_for(projected, message="deliveries projection")


# --- exactly once --------------------------------------------------------------------------


async def test_a_redelivered_request_is_sent_once(harness: Harness) -> None:
    resident = user()
    envelope = outbound(resident)
    await harness.publish(envelope)
    await harness.settled(envelope)
    await harness.publish(envelope)  # the bus delivers it again (a producer's relay retried, say)
    marker = outbound(resident)
    await harness.publish(marker)
    await harness.settled(marker)
    assert len(await harness.messages(resident)) == 2  # the request once, and the marker
    assert len(await harness.outcomes(envelope.id)) == 1


async def test_a_reply_that_reached_line_before_a_crash_is_not_sent_again(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(run=False)
    resident = user()
    envelope = await harness.reply_to_text(resident)
    token = request_of(envelope).reply_token
    # Consume and queue it, then play the notify that died: reply attempted, LINE delivered it.
    await harness.publish(envelope)
    queue = harness.notify.queue
    harness.run(harness.outbound.run)
    await wait_for(queue.depth, message="queued")
    await harness.stop()
    [job], _ = await queue.load((0, 0), 10)
    await queue.mark_reply_attempted(job)
    async with AsyncApiClient(Configuration(host=harness.emulator.url, access_token=TOKEN)) as client:
        await AsyncMessagingApi(client).reply_message(
            ReplyMessageRequest(reply_token=token, messages=[TextMessage(text="お知らせです。")])
        )

    harness.run()
    [outcome] = await harness.settled(envelope)
    assert isinstance(outcome, MessageDelivered) and outcome.method == "reply" and outcome.already_accepted
    assert len(await harness.messages(resident)) == 1
    assert (await harness.stats("push")) == {}


async def test_an_alert_to_many_reads_the_registry_once_and_still_skips_the_blocked(harness: Harness) -> None:
    residents = [user() for _ in range(5200)]  # above the per-resident probe limit
    await harness.publish(intent("unfollow", residents[4321]))
    await wait_for(lambda: harness.events(FriendUnfollowed), message="unfollowed")
    envelope = outbound(residents)
    await harness.publish(envelope)

    outcomes = await harness.settled(envelope, count=12)
    assert [o.recipients for o in outcomes if isinstance(o, MessageSkipped)] == [[residents[4321]]]
    delivered = [o for o in outcomes if isinstance(o, MessageDelivered)]
    assert len(delivered) == 11 and sum(o.recipients for o in delivered) == 5199
    assert await harness.messages(residents[4321]) == []
    assert len(await harness.messages(residents[4322])) == 1


# --- the staff API -------------------------------------------------------------------------


async def test_the_staff_api_shows_delivery_records_to_the_notify_department_only(harness: Harness) -> None:
    resident = user()
    envelope = outbound(resident)
    await harness.publish(envelope)
    await harness.settled(envelope)
    auth = StaffAuth(WEB)
    clerk, _ = auth.signed_in(StaffUser("notify-clerk", "広報係", frozenset({"notify"})))
    roads, _ = auth.signed_in(StaffUser("roads-clerk", "道路管理課", frozenset({"roads"})))
    transport = httpx.ASGITransport(app=harness.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://notify") as api:
        json_only = {"accept": "application/json"}
        assert (await api.get("/api/deliveries", headers=json_only)).status_code == 401
        forbidden = await api.get(
            "/api/deliveries", headers={**json_only, "cookie": f"{SESSION_COOKIE}={roads}"}
        )
        assert forbidden.status_code == 403
        signed_in = {**json_only, "cookie": f"{SESSION_COOKIE}={clerk}"}
        assert (await api.get("/api/deliveries?limit=0", headers=signed_in)).status_code == 422

        async def listed() -> list[dict[str, object]]:
            response = await api.get("/api/deliveries", params={"user_id": resident}, headers=signed_in)
            assert response.status_code == 200
            rows: list[dict[str, object]] = response.json()["deliveries"]
            return rows

        await wait_for(listed, message="the delivery in the projection")
        [row] = await listed()
        assert row["outcome"] == "delivered" and row["method"] == "push"
        assert row["request_id"] == str(envelope.id)
        status = (await api.get("/api/status", headers=signed_in)).json()
        assert status["queued"] == 0 and status["outcomes"]["delivered"] >= 1


async def test_the_dispatcher_loads_a_bounded_number_of_recipients(make_harness: HarnessFactory) -> None:
    harness = await make_harness(run=False)
    big, small = outbound([user() for _ in range(700)]), outbound(user())
    await harness.publish(big, small)
    harness.run(harness.outbound.run)
    await wait_for(lambda: harness.pool.fetchval("SELECT count(*) = 2 FROM delivery_queue"), message="queued")
    jobs, position = await harness.notify.queue.load((0, 0), 10, recipients=100)
    assert [j.request_id for j in jobs] == [big.id]  # always at least one request
    jobs, _ = await harness.notify.queue.load(position, 10, recipients=100)
    assert [j.request_id for j in jobs] == [small.id]


async def test_an_unreadable_queued_request_is_recorded_as_failed_and_dropped(harness: Harness) -> None:
    broken = outbound(user())
    await harness.pool.execute(
        "INSERT INTO delivery_queue (request_id, key, request) VALUES ($1, 'k', $2)",
        broken.id,
        {**broken.data, "to": []},
    )
    await harness.pool.execute("SELECT pg_notify($1, '')", await harness.notify.queue.channel())
    [outcome] = await harness.settled(broken)
    assert isinstance(outcome, MessageDeliveryFailed) and outcome.status == 0
    assert "unreadable queued request" in outcome.error


async def test_on_kafka_a_follow_is_welcomed_and_a_multicast_is_chunked(
    make_harness: HarnessFactory, kafka_bootstrap: str
) -> None:
    harness = await make_harness(kafka=kafka_bootstrap)
    resident = user()
    token = await harness.reply_token(resident)
    await harness.publish(intent("follow", resident, reply_token=token))
    [welcome] = await wait_messages(harness, resident, 1, timeout=60)
    assert welcome["endpoint"] == "reply"
    envelope = outbound([user() for _ in range(600)])
    await harness.publish(envelope)
    outcomes = await harness.settled(envelope, count=2, timeout=60)
    assert sorted(o.recipients for o in outcomes if isinstance(o, MessageDelivered)) == [100, 500]


# --- /metrics ------------------------------------------------------------------------------


async def test_metrics_count_deliveries_by_method_and_outcome(harness: Harness) -> None:
    # The runtime's own /metrics (the one registry of the process), served as `cityhall run` does.
    system = System(Settings(), "embedded", UnusedBus(), None)
    transport = httpx.ASGITransport(app=system.asgi())
    async with httpx.AsyncClient(transport=transport, base_url="http://cityhall.test") as scraper:
        before = (await scraper.get("/metrics")).text
        welcomed, blocked = user(), user()
        await harness.publish(intent("follow", welcomed, reply_token=await harness.reply_token(welcomed)))
        await harness.publish(intent("unfollow", blocked))
        await wait_for(lambda: harness.events(FriendUnfollowed, stream=f"friend-{blocked}"))
        requests = [outbound(welcomed), outbound(welcomed, TextMessage(text="あ" * 5001)), outbound(blocked)]
        await harness.publish(*requests)
        for request in requests:
            await harness.settled(request)

        expected = {
            ("reply", "delivered"): 1,
            ("push", "delivered"): 1,
            ("push", "failed"): 1,
            ("none", "skipped"): 1,
        }

        moved: dict[tuple[str, str], float] = {}

        async def as_expected() -> bool:
            after = (await scraper.get("/metrics")).text
            name = "cityhall_notify_deliveries_total"
            for method, outcome in expected:
                labels = {"method": method, "outcome": outcome}
                moved[(method, outcome)] = sample(after, name, **labels) - sample(before, name, **labels)
            return moved == expected

        # Counted right after each outcome's commit, which the harness may see first.
        with contextlib.suppress(AssertionError):
            await wait_for(as_expected)
        assert moved == expected
