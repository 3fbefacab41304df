"""POST /callback: signature, body checks, one intent per event, redelivery, the 2-second budget."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from cityhall.events.envelope import Envelope
from cityhall.events.store import NO_STREAM, START, EventStore, Position, load_checkpoint
from cityhall.events.testing import sample, wait_for
from cityhall.events.testing.samples import CounterIncremented
from cityhall.gateway import publication
from cityhall.gateway import testing as line
from cityhall.gateway.app import RELAY
from cityhall.gateway.intake import BUDGET, Intake, stream_of
from cityhall.gateway.publication import Acceptances
from cityhall.gateway.testing import WebhookSchemas
from cityhall.gateway.webhook import WebhookReader
from cityhall.line.contracts import ResidentIntent, intent_id

from .conftest import SECRET, Gateway

LINE_WAITS = 2.0
"""Seconds LINE waits for the webhook's answer."""


async def only_intent(gateway: Gateway) -> tuple[str, str, ResidentIntent, Any]:
    published = await gateway.published()
    assert len(published) == 1, published
    topic, key, envelope = published[0]
    intent = envelope.event()
    assert isinstance(intent, ResidentIntent)
    return topic, key, intent, envelope


async def nothing_recorded(gateway: Gateway) -> None:
    assert await gateway.stored_intents() == 0
    assert await gateway.published() == []


# --- refused bodies -----------------------------------------------------------------------------------


async def test_the_url_check_gets_200(gateway: Gateway) -> None:
    response = await gateway.post(line.webhook())
    assert response.status_code == 200
    await nothing_recorded(gateway)


async def test_the_webhook_only_takes_post_and_the_rest_of_the_app_still_answers(gateway: Gateway) -> None:
    response = await gateway.client.get("/callback")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert (await gateway.client.get("/healthz")).status_code == 200
    assert (await gateway.client.post("/callback/other")).status_code == 404
    await nothing_recorded(gateway)


async def test_a_missing_signature_gets_400_and_nothing_is_recorded(gateway: Gateway) -> None:
    body = line.encode(line.webhook(line.follow(line.user_id())))
    response = await gateway.client.post(
        "/callback", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json() == {"message": "invalid signature"}
    await nothing_recorded(gateway)


async def test_a_wrong_signature_gets_400_and_nothing_is_recorded(gateway: Gateway) -> None:
    response = await gateway.post(line.webhook(line.follow(line.user_id())), secret="someone-else")
    assert response.status_code == 400
    await nothing_recorded(gateway)


async def test_a_signature_over_a_different_body_gets_400(gateway: Gateway) -> None:
    body, headers = line.signed(line.webhook(line.follow(line.user_id())), SECRET)
    tampered = body.replace(b'"follow"', b'"unfollow"', 1)
    response = await gateway.client.post("/callback", content=tampered, headers=headers)
    assert response.status_code == 400
    await nothing_recorded(gateway)


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"", b"[]", b'{"events": 1}', b'{"events": [1]}', b'{"destination": "U0"}', b"\xff\xfe"],
    ids=["broken", "empty", "array", "events-not-a-list", "event-not-an-object", "no-events", "not-utf8"],
)
async def test_malformed_bodies_with_a_valid_signature_get_400(gateway: Gateway, body: bytes) -> None:
    response = await gateway.post(body)
    assert response.status_code == 400
    assert "Traceback" not in response.text
    await nothing_recorded(gateway)


async def test_a_body_over_1_mb_gets_413(gateway: Gateway) -> None:
    event = line.text_message(line.user_id(), "あ" * 400_000)  # 1.2 MB of UTF-8
    response = await gateway.post(line.webhook(event))
    assert response.status_code == 413
    await nothing_recorded(gateway)


async def test_a_streamed_body_over_1_mb_without_content_length_gets_413(gateway: Gateway) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b" " * 64 * 1024

    response = await gateway.client.post("/callback", content=chunks(), headers={"x-line-signature": "x"})
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    await nothing_recorded(gateway)


async def test_an_event_over_64_kb_gets_400_and_nothing_of_its_body_is_recorded(gateway: Gateway) -> None:
    resident = line.user_id()
    huge = line.text_message(resident, "あ" * 30_000)  # 90 KB of UTF-8; LINE's own texts stop at 5,000
    response = await gateway.post(line.webhook(line.follow(resident), huge))
    assert response.status_code == 400
    assert "larger than 65536 bytes" in response.json()["message"]
    await nothing_recorded(gateway)


async def test_a_body_over_64_kb_of_small_events_is_accepted(gateway: Gateway) -> None:
    resident = line.user_id()
    events = [line.text_message(resident, "い" * 1_500) for _ in range(20)]  # ~95 KB in all
    response = await gateway.post(line.webhook(*events))
    assert response.status_code == 200
    assert response.json() == {"accepted": 20}


async def test_a_known_event_type_with_wrong_fields_gets_400_and_nothing_of_the_body_is_recorded(
    gateway: Gateway,
) -> None:
    good = line.follow(line.user_id())
    bad = line.text_message(line.user_id(), "x")
    bad["message"]["text"] = 42
    response = await gateway.post(line.webhook(good, bad))
    assert response.status_code == 400
    assert "events[1]" in response.json()["message"]
    await nothing_recorded(gateway)


async def test_an_event_type_the_sdk_does_not_know_is_acknowledged_and_skipped(gateway: Gateway) -> None:
    user = line.user_id()
    novel = line.follow(user) | {"type": "somethingNew", "somethingNew": {"x": 1}}
    response = await gateway.post(line.webhook(novel, line.follow(user)))
    assert response.status_code == 200
    assert response.json() == {"accepted": 1}
    topic, _key, intent, _env = await only_intent(gateway)
    assert (topic, intent.kind) == ("intents.notify", "follow")


async def test_events_from_group_chats_are_acknowledged_and_skipped(gateway: Gateway) -> None:
    event = line.text_message(line.user_id(), "hello")
    event["source"] = {"type": "group", "groupId": "C" + "1" * 32, "userId": line.user_id()}
    response = await gateway.post(line.webhook(event))
    assert response.status_code == 200
    await nothing_recorded(gateway)


# --- one intent per event -------------------------------------------------------------------------------


async def test_a_text_message_becomes_one_intent_with_the_event_as_line_sent_it(
    gateway: Gateway, schemas: WebhookSchemas
) -> None:
    user = line.user_id()
    event = line.text_message(user, "住民票を取りたいです")
    body = line.webhook(event)
    assert schemas.check_body(body) == []
    response = await gateway.post(body)
    assert response.status_code == 200
    assert response.json() == {"accepted": 1}
    topic, key, intent, envelope = await only_intent(gateway)
    assert (topic, key) == ("intents.guide", user)
    assert envelope.id == intent_id(event["webhookEventId"])
    assert envelope.subject == f"intent-{event['webhookEventId']}"
    assert envelope.source == "/services/gateway"
    assert intent.kind == "text"
    assert intent.text == "住民票を取りたいです"
    assert intent.message_id == event["message"]["id"]
    assert intent.reply_token == event["replyToken"]
    assert intent.webhook_event_id == event["webhookEventId"]
    assert int(intent.timestamp.timestamp() * 1000) == event["timestamp"]
    assert intent.raw == event


def _image(user: str) -> dict[str, Any]:
    return line.image_message(user)


def _location(user: str) -> dict[str, Any]:
    return line.location_message(user, 35.6812, 139.7671, title="東京駅", address="東京都千代田区丸の内")


def _picker(user: str) -> dict[str, Any]:
    return line.postback(user, "domain=reservations&action=pick-slot", {"datetime": "2026-12-01T10:30"})


def _follow(user: str) -> dict[str, Any]:
    return line.follow(user)


def _unfollow(user: str) -> dict[str, Any]:
    return line.unfollow(user)


def _sticker(user: str) -> dict[str, Any]:
    return line.sticker_message(user)


def _unsend(user: str) -> dict[str, Any]:
    return line.unsend(user, "325708")


@pytest.mark.parametrize(
    ("make", "topic", "expected"),
    [
        (_image, "intents.guide", {"kind": "image"}),
        (
            _location,
            "intents.guide",
            {"kind": "location", "location": {"title": "東京駅", "address": "東京都千代田区丸の内",
                                              "latitude": 35.6812, "longitude": 139.7671}},
        ),
        (
            _picker,
            "intents.reservations",
            {"kind": "postback", "postback_data": "domain=reservations&action=pick-slot",
             "postback_params": {"datetime": "2026-12-01T10:30"}},
        ),
        (_follow, "intents.notify", {"kind": "follow"}),
        (_unfollow, "intents.notify", {"kind": "unfollow", "reply_token": None}),
        (_sticker, "intents.guide", {"kind": "sticker"}),
        (_unsend, "intents.guide", {"kind": "other", "reply_token": None}),
    ],
    ids=["image", "location", "postback-datetime-picker", "follow", "unfollow", "sticker", "unsend"],
)  # fmt: skip
async def test_each_kind_of_event_becomes_its_intent(
    gateway: Gateway, schemas: WebhookSchemas, make: Any, topic: str, expected: dict[str, Any]
) -> None:
    user = line.user_id()
    event = make(user)
    body = line.webhook(event)
    assert schemas.check_body(body) == []
    assert (await gateway.post(body)).status_code == 200
    got_topic, key, intent, _env = await only_intent(gateway)
    assert (got_topic, key, intent.user_id) == (topic, user, user)
    data = intent.model_dump(mode="json")
    for field, value in expected.items():
        assert data[field] == value, field
    if event["type"] == "message":
        assert intent.message_id == event["message"]["id"]
    assert intent.raw == event


async def test_several_events_in_one_body_each_become_an_intent_in_order(gateway: Gateway) -> None:
    a, b = line.user_id(), line.user_id()
    events = [line.follow(a), line.text_message(a, "こんにちは"), line.follow(b)]
    response = await gateway.post(line.webhook(*events))
    assert response.json() == {"accepted": 3}
    published = await gateway.published()
    assert [(t, k, e.event().kind) for t, k, e in published] == [  # type: ignore[attr-defined]
        ("intents.notify", a, "follow"),
        ("intents.guide", a, "text"),
        ("intents.notify", b, "follow"),
    ]


async def test_a_redelivered_event_publishes_nothing_new(gateway: Gateway) -> None:
    event = line.follow(line.user_id())
    assert (await gateway.post(line.webhook(event))).status_code == 200
    again = await gateway.post(line.webhook(line.redelivered(event)))
    assert again.status_code == 200
    assert again.json() == {"accepted": 1}
    assert await gateway.stored_intents() == 1
    _topic, _key, intent, _env = await only_intent(gateway)
    assert intent.is_redelivery is False  # the first delivery is the one recorded


async def test_the_same_event_twice_in_one_body_is_one_intent(gateway: Gateway) -> None:
    event = line.follow(line.user_id())
    assert (await gateway.post(line.webhook(event, line.redelivered(event)))).status_code == 200
    await only_intent(gateway)


# --- group commit: concurrent requests share a transaction -------------------------------------------


async def test_concurrent_requests_share_transactions_and_each_event_becomes_one_intent(
    gateway: Gateway,
) -> None:
    events = [line.text_message(line.user_id(), f"こんにちは {i}") for i in range(40)]
    responses = await asyncio.gather(*(gateway.post(line.webhook(e)) for e in events))
    assert [r.status_code for r in responses] == [200] * 40
    assert await gateway.stored_intents() == 40
    transactions = await gateway.pool.fetchval(
        "SELECT count(DISTINCT tx) FROM events WHERE category = 'intent'"
    )
    assert transactions < 40, "requests that arrive together are recorded together"
    published = await gateway.published()
    assert sorted(e.id for _t, _k, e in published) == sorted(intent_id(e["webhookEventId"]) for e in events)


async def test_a_request_that_cannot_be_recorded_fails_alone(gateway: Gateway) -> None:
    """A failed group commit is written again one request at a time: only the bad request gets 500."""
    poisoned = line.text_message(line.user_id(), "壊れた記録")
    # Its stream already holds another event (a state the gateway never makes): its append must fail.
    squatter = Envelope.wrap(
        CounterIncremented(by=1), source="/tests", subject=stream_of(poisoned["webhookEventId"])
    )
    store = gateway.system.services[0].context.require_store()
    await store.append(squatter.subject, NO_STREAM, [squatter])
    others = [line.text_message(line.user_id(), f"ふつう {i}") for i in range(10)]
    responses = await asyncio.gather(
        *(gateway.post(line.webhook(e)) for e in [*others[:5], poisoned, *others[5:]])
    )
    statuses = [r.status_code for r in responses]
    assert statuses == [200] * 5 + [500] + [200] * 5
    assert "Traceback" not in responses[5].text
    assert await gateway.stored_intents() == 11  # the ten, and the squatter
    published = await gateway.published()
    assert sorted(e.id for _t, _k, e in published) == sorted(intent_id(e["webhookEventId"]) for e in others)


class HookedPool:
    """A pool whose first release of a connection runs `on_release` before letting it go."""

    def __init__(self, pool: Any, on_release: Callable[[], Awaitable[None]]) -> None:
        self.pool, self.on_release, self.hooked = pool, on_release, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pool, name)

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        async with self.pool.acquire() as conn:
            yield conn
            if not self.hooked:
                self.hooked = True
                await self.on_release()


async def test_a_request_queued_while_the_writer_lets_go_of_its_connection_is_still_written(
    gateway: Gateway,
) -> None:
    store = gateway.system.services[0].context.require_store()
    second: list[asyncio.Task[int]] = []

    async def another_request_arrives() -> None:
        body, headers = line.signed(line.webhook(line.follow(line.user_id())), SECRET)
        second.append(asyncio.create_task(intake.receive(body, headers["x-line-signature"])))
        await asyncio.sleep(0)  # it queues its intent while the writer is still finishing

    intake = Intake(
        WebhookReader(SECRET),
        EventStore(HookedPool(store.pool, another_request_arrives)),
        Acceptances(store.pool, RELAY),
    )
    body, headers = line.signed(line.webhook(line.follow(line.user_id())), SECRET)
    assert await intake.receive(body, headers["x-line-signature"]) == 1
    assert await second[0] == 1, "the request queued at the end of a session must be written too"
    assert len(await gateway.published()) == 2


# --- the budget --------------------------------------------------------------------------------------------


async def test_when_the_bus_does_not_accept_in_time_the_answer_is_500_and_a_redelivery_succeeds_later(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    gateway.bus.gate.clear()  # the broker stops acknowledging
    event = line.text_message(line.user_id(), "届いていますか")
    response = await gateway.post(line.webhook(event))
    assert response.status_code == 500
    assert "Traceback" not in response.text
    # The answer came while the broker was still stalled: the intake stopped waiting when its
    # budget ran out (not on some other error), and that budget fits in the time LINE waits.
    assert not gateway.bus.gate.is_set()
    refusals = [r.getMessage() for r in caplog.records if "webhook not acknowledged" in r.getMessage()]
    assert refusals == [
        f"webhook not acknowledged, LINE will redeliver: the bus did not accept 1 intent(s) within {BUDGET} s"
    ]
    assert BUDGET < LINE_WAITS, "LINE waits 2 s for the answer"
    assert await gateway.published() == []

    gateway.bus.gate.set()  # the broker is back: the relay publishes what was recorded
    await wait_for(gateway.published, timeout=15, message="the recorded intent was never published")
    response = await gateway.post(line.webhook(line.redelivered(event)))
    assert response.status_code == 200
    await only_intent(gateway)


async def test_a_redelivery_of_an_event_published_long_ago_gets_200(gateway: Gateway) -> None:
    event = line.follow(line.user_id())
    assert (await gateway.post(line.webhook(event))).status_code == 200
    gateway.bus.gate.clear()  # even with the broker down: nothing new needs publishing
    response = await gateway.post(line.webhook(line.redelivered(event)))
    assert response.status_code == 200
    await only_intent(gateway)


async def test_the_intent_carries_the_webhook_requests_trace(gateway: Gateway) -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind

    from cityhall.events import telemetry

    exporter = InMemorySpanExporter()
    telemetry.configure("gateway-test", exporter=exporter)
    # The app is instrumented when it is built with tracing on.
    transport = httpx.ASGITransport(app=gateway.system.asgi())
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as traced:
        body, headers = line.signed(line.webhook(line.follow(line.user_id())), SECRET)
        assert (await traced.post("/callback", content=body, headers=headers)).status_code == 200
    _t, _k, _intent, envelope = await only_intent(gateway)
    assert envelope.traceparent is not None
    _version, trace_id, span_id, _flags = envelope.traceparent.split("-")
    servers = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert any(
        f"{s.context.trace_id:032x}" == trace_id and f"{s.context.span_id:016x}" == span_id for s in servers
    ), "the intent's traceparent must name the webhook request's span"


async def test_a_replica_whose_relay_stands_by_hears_the_active_relays_announcements(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two replicas share a database and one relay: the other replica learns from the relay's
    NOTIFY that the bus accepted its intents."""
    monkeypatch.setattr(publication, "CHECK_EVERY", 60.0)  # no fallback: only the announcement can answer
    store = gateway.system.services[0].context.require_store()
    acceptances = Acceptances(store.pool, RELAY)
    listening = asyncio.create_task(acceptances.listen())
    try:
        replica = Intake(WebhookReader(SECRET), store, acceptances)
        body, headers = line.signed(line.webhook(line.follow(line.user_id())), SECRET)
        assert await replica.receive(body, headers["x-line-signature"]) == 1
    finally:
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening
    await only_intent(gateway)


async def test_a_replica_that_missed_the_announcements_answers_from_the_relays_checkpoint(
    gateway: Gateway,
) -> None:
    store = gateway.system.services[0].context.require_store()
    replica = Intake(WebhookReader(SECRET), store, Acceptances(store.pool, RELAY))  # not listening
    body, headers = line.signed(line.webhook(line.follow(line.user_id())), SECRET)
    assert await replica.receive(body, headers["x-line-signature"]) == 1
    await only_intent(gateway)


async def test_waits_given_up_are_forgotten_and_a_late_acknowledgement_still_answers_the_others(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One timer looks after all waiting requests: a request that ran out of time is dropped at
    the next look, and the relay's checkpoint answers a wait that no announcement reached."""
    monkeypatch.setattr(publication, "CHECK_EVERY", 0.2)
    store = gateway.system.services[0].context.require_store()
    acceptances = Acceptances(store.pool, RELAY)  # not listening: hears of no relay by itself
    far = Position(2**62, 0)  # a position the relay will never reach
    for _ in range(3):
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0):
                await acceptances.wait(far)
    assert acceptances.held_waits == 3
    await wait_for(lambda: acceptances.held_waits == 0, timeout=5, message="given-up waits are dropped")

    body, headers = line.signed(line.webhook(line.follow(line.user_id())), SECRET)
    assert (await gateway.client.post("/callback", content=body, headers=headers)).status_code == 200
    await only_intent(gateway)
    await wait_for(lambda: stored_checkpoint(store), timeout=10, message="the relay saves its checkpoint")
    reached = await load_checkpoint(store.pool, RELAY)
    async with asyncio.timeout(5):  # answered from the checkpoint row by the watcher
        await acceptances.wait(reached)
    assert acceptances.acknowledged >= reached


async def stored_checkpoint(store: EventStore) -> bool:
    return await load_checkpoint(store.pool, RELAY) > START


# --- /metrics ------------------------------------------------------------------------------------------


async def test_metrics_count_intents_by_domain_and_webhooks_by_answer(gateway: Gateway) -> None:
    """Counters are per process (and the embedded run's one registry): compare before and after."""
    before = (await gateway.client.get("/metrics")).text
    user = line.user_id()
    events = [line.follow(user), line.text_message(user, "こんにちは"), line.text_message(user, "ごみの日")]
    assert (await gateway.post(line.webhook(*events))).status_code == 200
    assert (await gateway.post(line.webhook(line.follow(user)), secret="someone-else")).status_code == 400
    assert (await gateway.post(b"{not json")).status_code == 400
    assert (await gateway.client.get("/callback")).status_code == 405
    after = (await gateway.client.get("/metrics")).text

    def moved(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert moved("cityhall_gateway_intents_total", domain="notify") == 1
    assert moved("cityhall_gateway_intents_total", domain="guide") == 2
    assert moved("cityhall_gateway_webhooks_total", code="200", outcome="accepted") == 1
    assert moved("cityhall_gateway_webhooks_total", code="400", outcome="invalid_signature") == 1
    assert moved("cityhall_gateway_webhooks_total", code="400", outcome="bad_request") == 1
    assert moved("cityhall_gateway_webhooks_total", code="405", outcome="wrong_method") == 1
