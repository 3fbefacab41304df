"""The webhook builder: bodies LINE could have sent, signed as LINE signs them."""

from __future__ import annotations

import json
import time

import pytest
from linebot.v3 import WebhookParser
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.webhooks import (
    FollowEvent,
    ImageMessageContent,
    LocationMessageContent,
    MessageEvent,
    PostbackEvent,
    StickerMessageContent,
    TextMessageContent,
    UnfollowEvent,
)

from cityhall.line.webhooks import ULID_PATTERN, sign, ulid, ulid_time_ms
from cityhall.simulator.testing import WebhookSchema
from cityhall.simulator.webhook import USER_ID_PATTERN, MessageIds, WebhookBuilder, new_user_id

SECRET = "0123456789abcdef0123456789abcdef"
BOT = "U" + "b" * 32
USER = "U" + "1" * 32


@pytest.fixture(scope="module")
def schema() -> WebhookSchema:
    return WebhookSchema()


@pytest.fixture
def builder() -> WebhookBuilder:
    return WebhookBuilder(BOT)


def every_event(builder: WebhookBuilder) -> dict[str, dict]:
    return {
        "text": builder.text(USER, "こんにちは 👋"),
        "image": builder.image(USER, "468789577898262530"),
        "location": builder.location(USER, 35.66, 139.535, "ポケット市役所", "ポケット市本町1-1-1"),
        "location-bare": builder.location(USER, 35.66, 139.535),
        "sticker": builder.sticker(USER, "446", "1988"),
        "postback": builder.postback(USER, "domain=guide&action=help"),
        "postback-date": builder.postback(USER, "d=1", {"date": "2025-05-01"}),
        "postback-time": builder.postback(USER, "d=1", {"time": "09:30"}),
        "postback-datetime": builder.postback(USER, "d=1", {"datetime": "2025-05-01T09:30"}),
        "follow": builder.follow(USER),
        "unblock": builder.follow(USER, is_unblocked=True),
        "unfollow": builder.unfollow(USER),
    }


def test_every_event_is_valid_against_webhook_yml(schema: WebhookSchema, builder: WebhookBuilder) -> None:
    for name, event in every_event(builder).items():
        body = json.loads(builder.body([event]))
        assert schema.problems(body) == [], name


def test_the_schema_check_can_fail(schema: WebhookSchema, builder: WebhookBuilder) -> None:
    event = builder.text(USER, "hi")
    del event["message"]["quoteToken"]  # LINE always sends one for text
    event["extra"] = 1
    problems = schema.problems({"destination": "bot", "events": [event]})
    assert any("destination" in p for p in problems)
    assert any("quoteToken" in p for p in problems)
    assert any("extra" in p for p in problems)
    follow = builder.follow(USER)
    del follow["follow"]
    assert schema.problems({"destination": BOT, "events": [follow]})


def test_common_fields_are_what_line_sends(builder: WebhookBuilder) -> None:
    before = int(time.time() * 1000)
    events = every_event(builder)
    after = int(time.time() * 1000)
    ids = set()
    for name, event in events.items():
        assert event["mode"] == "active", name
        assert event["source"] == {"type": "user", "userId": USER}
        assert event["deliveryContext"] == {"isRedelivery": False}
        assert before <= event["timestamp"] <= after
        assert ULID_PATTERN.match(event["webhookEventId"])
        assert abs(ulid_time_ms(event["webhookEventId"]) - event["timestamp"]) <= 1
        ids.add(event["webhookEventId"])
        if name == "unfollow":
            assert "replyToken" not in event
        else:
            assert len(event["replyToken"]) == 32
            int(event["replyToken"], 16)
        if "message" in event:
            assert event["message"]["id"].isdigit()
    assert len(ids) == len(events)
    body = json.loads(builder.body(list(events.values())))
    assert body["destination"] == BOT
    assert len({e["replyToken"] for e in body["events"] if "replyToken" in e}) == len(events) - 1


def test_ulid_encodes_time_and_randomness() -> None:
    values = [ulid(1_700_000_000_123) for _ in range(100)]
    assert len(set(values)) == 100
    assert {ulid_time_ms(v) for v in values} == {1_700_000_000_123}
    assert all(ULID_PATTERN.match(v) and len(v) == 26 for v in values)
    assert ulid(0).startswith("0000000000")
    assert ulid(2**48 - 1).startswith("7ZZZZZZZZZ")
    with pytest.raises(ValueError):
        ulid_time_ms("not-a-ulid")


def test_message_ids_are_increasing_numeric_strings() -> None:
    ids = MessageIds()
    values = [ids.next() for _ in range(2000)]
    assert all(v.isdigit() and len(v) >= 16 for v in values)
    assert [int(v) for v in values] == sorted({int(v) for v in values})


def test_user_ids_look_like_line_user_ids() -> None:
    ids = {new_user_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(USER_ID_PATTERN.match(i) for i in ids)
    with pytest.raises(ValueError):
        WebhookBuilder("bot")


def test_signature_verifies_with_the_sdk_and_events_parse(builder: WebhookBuilder) -> None:
    events = every_event(builder)
    body = builder.body(list(events.values()))
    parsed = WebhookParser(SECRET).parse(body.decode("utf-8"), sign(SECRET, body))
    kinds = [(type(e).__name__, type(getattr(e, "message", None)).__name__) for e in parsed]
    assert kinds == [
        (MessageEvent.__name__, TextMessageContent.__name__),
        (MessageEvent.__name__, ImageMessageContent.__name__),
        (MessageEvent.__name__, LocationMessageContent.__name__),
        (MessageEvent.__name__, LocationMessageContent.__name__),
        (MessageEvent.__name__, StickerMessageContent.__name__),
        *[(PostbackEvent.__name__, "NoneType")] * 4,
        (FollowEvent.__name__, "NoneType"),
        (FollowEvent.__name__, "NoneType"),
        (UnfollowEvent.__name__, "NoneType"),
    ]
    text = parsed[0]
    assert isinstance(text, MessageEvent) and isinstance(text.message, TextMessageContent)
    assert text.message.text == "こんにちは 👋"
    assert text.webhook_event_id == events["text"]["webhookEventId"]
    assert text.delivery_context.is_redelivery is False
    image = parsed[1]
    assert isinstance(image.message, ImageMessageContent)
    assert image.message.content_provider.type == "line"
    assert image.message.id == "468789577898262530"
    sticker = parsed[4]
    assert isinstance(sticker.message, StickerMessageContent)
    assert (sticker.message.package_id, sticker.message.sticker_id) == ("446", "1988")
    assert sticker.message.sticker_resource_type == "STATIC"
    date = parsed[6]
    assert isinstance(date, PostbackEvent) and date.postback.params == {"date": "2025-05-01"}
    assert parsed[10].follow.is_unblocked is True


def test_a_wrong_secret_or_a_changed_body_fails_the_signature(builder: WebhookBuilder) -> None:
    body = builder.body([builder.text(USER, "hi")])
    signature = sign(SECRET, body)
    with pytest.raises(InvalidSignatureError):
        WebhookParser("another-secret").parse(body.decode(), signature)
    with pytest.raises(InvalidSignatureError):
        WebhookParser(SECRET).parse(body.decode().replace("hi", "ho"), signature)
