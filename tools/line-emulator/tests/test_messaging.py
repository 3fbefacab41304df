"""Sending endpoints in-process (httpx over ASGI): LINE's shapes, rules and error bodies."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from cityhall.line.ratelimit import RateLimit
from cityhall.line_emulator import EmulatorSettings
from cityhall.line_emulator.rules import parse_rate_limits
from cityhall.line_emulator.spec import Spec

TEXT = {"type": "text", "text": "住民票の申請を受け付けました"}


def valid(spec: Spec, schema: str, body: Any) -> Any:
    """Responses are checked against the spec too, not only requests."""
    assert spec.validate(schema, body) == [], body
    return body


async def inbox(client: httpx.AsyncClient, to: str) -> list[dict[str, Any]]:
    response = await client.get("/_inspect/messages", params={"to": to})
    assert response.status_code == 200
    messages: list[dict[str, Any]] = response.json()["messages"]
    return messages


# --- push ----------------------------------------------------------------------------------


async def test_push_returns_sent_messages_and_delivers(client: httpx.AsyncClient, spec: Spec) -> None:
    response = await client.post("/v2/bot/message/push", json={"to": "Ualice", "messages": [TEXT, TEXT]})
    assert response.status_code == 200
    body = valid(spec, "PushMessageResponse", response.json())
    assert len(body["sentMessages"]) == 2
    assert all(m["id"].isdigit() and m["quoteToken"] for m in body["sentMessages"])
    request_id = response.headers["x-line-request-id"]

    [first, second] = await inbox(client, "Ualice")
    assert set(first) >= {"to", "endpoint", "message", "requestId", "retryKey", "receivedAt"}
    assert first["to"] == "Ualice" and first["endpoint"] == "push" and first["message"] == TEXT
    assert first["requestId"] == second["requestId"] == request_id
    assert first["retryKey"] is None and first["receivedAt"].endswith("Z")
    assert [first["id"], second["id"]] == [m["id"] for m in body["sentMessages"]]
    assert await inbox(client, "Ubob") == []


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"messages": [TEXT]}, {"message": "Must be specified", "property": "to"}),
        ({"to": "U1"}, {"message": "Must be specified", "property": "messages"}),
        ({"to": "U1", "messages": []}, {"message": "Size must be at least 1", "property": "messages"}),
        ({"to": "U1", "messages": [TEXT] * 6}, {"message": "Size must be at most 5", "property": "messages"}),
        ({"to": 7, "messages": [TEXT]}, {"message": "Must be of type string", "property": "to"}),
        (
            {"to": "U1", "messages": [{"type": "sticker", "packageId": "1"}]},
            {"message": "Must be specified", "property": "messages[0].stickerId"},
        ),
        (
            {"to": "U1", "messages": [{"type": "text", "text": ""}]},
            {"message": "May not be empty", "property": "messages[0].text"},
        ),
    ],
)
async def test_push_rejects_what_line_rejects(
    client: httpx.AsyncClient, spec: Spec, body: dict[str, Any], detail: dict[str, str]
) -> None:
    response = await client.post("/v2/bot/message/push", json=body)
    assert response.status_code == 400
    error = valid(spec, "ErrorResponse", response.json())
    assert error["message"] == f"The request body has {len(error['details'])} error(s)"
    assert detail in error["details"]
    assert response.headers["x-line-request-id"]
    assert await inbox(client, "U1") == []


async def test_text_is_limited_to_5000_utf16_code_units(client: httpx.AsyncClient) -> None:
    emoji = "🏯"  # outside the BMP: one character, two UTF-16 code units
    at_limit = {"type": "text", "text": emoji * 2500}
    over = {"type": "text", "text": emoji * 2500 + "a"}  # 2,501 characters, 5,001 units
    assert (
        await client.post("/v2/bot/message/push", json={"to": "U1", "messages": [at_limit]})
    ).status_code == 200
    response = await client.post("/v2/bot/message/push", json={"to": "U1", "messages": [over]})
    assert response.status_code == 400
    assert response.json()["details"] == [
        {"message": "Length must be between 0 and 5000", "property": "messages[0].text"}
    ]


async def test_malformed_json_is_a_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v2/bot/message/push", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["message"] == "The request body has 1 error(s)"


# --- multicast, broadcast, narrowcast -------------------------------------------------------


async def test_multicast_up_to_500_recipients(client: httpx.AsyncClient, spec: Spec) -> None:
    users = [f"U{i:032x}" for i in range(501)]
    response = await client.post("/v2/bot/message/multicast", json={"to": users[:500], "messages": [TEXT]})
    assert response.status_code == 200
    valid(spec, "MulticastResponse", response.json())
    assert len(await inbox(client, users[499])) == 1

    too_many = await client.post("/v2/bot/message/multicast", json={"to": users, "messages": [TEXT]})
    assert too_many.status_code == 400
    assert too_many.json()["details"] == [{"message": "Size must be at most 500", "property": "to"}]
    assert await inbox(client, users[500]) == []


async def test_broadcast_and_narrowcast_reach_friends_who_did_not_block(
    client: httpx.AsyncClient, spec: Spec
) -> None:
    for user in ("Ua", "Ub", "Uc"):
        await client.post("/_inspect/users", json={"userId": user, "displayName": user})
    await client.post("/_inspect/users/Uc/block")

    response = await client.post("/v2/bot/message/broadcast", json={"messages": [TEXT]})
    assert response.status_code == 200
    valid(spec, "BroadcastResponse", response.json())
    assert [len(await inbox(client, u)) for u in ("Ua", "Ub", "Uc")] == [1, 1, 0]

    response = await client.post("/v2/bot/message/narrowcast", json={"messages": [TEXT], "limit": {"max": 1}})
    assert response.status_code == 202
    request_id = response.headers["x-line-request-id"]
    progress = await client.get("/v2/bot/message/progress/narrowcast", params={"requestId": request_id})
    assert progress.status_code == 200
    body = valid(spec, "NarrowcastProgressResponse", progress.json())
    assert body["phase"] == "succeeded" and body["successCount"] == body["targetCount"] == 1
    assert len(await inbox(client, "Ua")) + len(await inbox(client, "Ub")) == 3

    unknown = await client.get("/v2/bot/message/progress/narrowcast", params={"requestId": "nope"})
    assert unknown.status_code == 404


async def test_blocked_users_are_silently_dropped(client: httpx.AsyncClient) -> None:
    await client.post("/_inspect/users/Ublocked/block")
    push = await client.post("/v2/bot/message/push", json={"to": "Ublocked", "messages": [TEXT]})
    assert push.status_code == 200 and push.json()["sentMessages"]
    multicast = await client.post(
        "/v2/bot/message/multicast", json={"to": ["Ublocked", "Uok"], "messages": [TEXT]}
    )
    assert multicast.status_code == 200
    assert await inbox(client, "Ublocked") == []
    assert len(await inbox(client, "Uok")) == 1

    await client.post("/_inspect/users/Ublocked/unblock")
    await client.post("/v2/bot/message/push", json={"to": "Ublocked", "messages": [TEXT]})
    assert len(await inbox(client, "Ublocked")) == 1
    stats = (await client.get("/_inspect/stats")).json()["endpoints"]
    assert stats["push"]["dropped"] == 1 and stats["multicast"]["dropped"] == 1


# --- reply tokens --------------------------------------------------------------------------


async def test_reply_tokens_are_single_use(client: httpx.AsyncClient, spec: Spec) -> None:
    registered = await client.post("/_inspect/reply-tokens", json={"replyToken": "rt-1", "userId": "Ualice"})
    assert registered.json() == {"replyToken": "rt-1", "userId": "Ualice", "expiresIn": 60.0}

    first = await client.post("/v2/bot/message/reply", json={"replyToken": "rt-1", "messages": [TEXT]})
    assert first.status_code == 200
    valid(spec, "ReplyMessageResponse", first.json())
    [delivered] = await inbox(client, "Ualice")
    assert delivered["endpoint"] == "reply"

    again = await client.post("/v2/bot/message/reply", json={"replyToken": "rt-1", "messages": [TEXT]})
    assert (again.status_code, again.json()) == (400, {"message": "Invalid reply token"})
    unknown = await client.post("/v2/bot/message/reply", json={"replyToken": "never", "messages": [TEXT]})
    assert (unknown.status_code, unknown.json()) == (400, {"message": "Invalid reply token"})
    assert len(await inbox(client, "Ualice")) == 1


async def test_a_rejected_reply_keeps_its_token(client: httpx.AsyncClient) -> None:
    minted = (await client.post("/_inspect/reply-tokens", json={"userId": "Ualice"})).json()["replyToken"]
    bad = await client.post(
        "/v2/bot/message/reply", json={"replyToken": minted, "messages": [{"type": "text"}]}
    )
    assert bad.status_code == 400
    good = await client.post("/v2/bot/message/reply", json={"replyToken": minted, "messages": [TEXT]})
    assert good.status_code == 200


async def test_reply_tokens_expire(client_with: Callable[..., httpx.AsyncClient]) -> None:
    client = client_with(reply_token_ttl=0.0)
    await client.post("/_inspect/reply-tokens", json={"replyToken": "rt", "userId": "U1"})
    response = await client.post("/v2/bot/message/reply", json={"replyToken": "rt", "messages": [TEXT]})
    assert (response.status_code, response.json()) == (400, {"message": "Invalid reply token"})


# --- retry keys ----------------------------------------------------------------------------


async def test_a_repeated_retry_key_is_a_409_naming_the_first_request(
    client: httpx.AsyncClient, spec: Spec
) -> None:
    key = str(uuid.uuid4())
    body = {"to": "Ualice", "messages": [TEXT]}
    first = await client.post("/v2/bot/message/push", json=body, headers={"X-Line-Retry-Key": key})
    assert first.status_code == 200
    again = await client.post("/v2/bot/message/push", json=body, headers={"X-Line-Retry-Key": key})
    assert again.status_code == 409
    assert again.headers["x-line-accepted-request-id"] == first.headers["x-line-request-id"]
    assert again.headers["x-line-request-id"] != first.headers["x-line-request-id"]
    error = valid(spec, "ErrorResponse", again.json())
    assert error == {
        "message": "The retry key is already accepted",
        "sentMessages": first.json()["sentMessages"],
    }
    [delivered] = await inbox(client, "Ualice")
    assert delivered["retryKey"] == key


async def test_only_accepted_requests_consume_a_retry_key(client: httpx.AsyncClient) -> None:
    key = str(uuid.uuid4())
    bad = await client.post(
        "/v2/bot/message/multicast", json={"to": ["U1"], "messages": []}, headers={"X-Line-Retry-Key": key}
    )
    assert bad.status_code == 400
    body = {"to": ["U1", "U2"], "messages": [TEXT]}
    first = await client.post("/v2/bot/message/multicast", json=body, headers={"X-Line-Retry-Key": key})
    assert first.status_code == 200
    again = await client.post("/v2/bot/message/multicast", json=body, headers={"X-Line-Retry-Key": key})
    assert (again.status_code, again.json()) == (409, {"message": "The retry key is already accepted"})
    assert again.headers["x-line-accepted-request-id"] == first.headers["x-line-request-id"]
    assert len(await inbox(client, "U2")) == 1


async def test_retry_keys_must_be_uuids_and_expire(client_with: Callable[..., httpx.AsyncClient]) -> None:
    client = client_with(retry_key_ttl=0.0)
    body = {"to": "U1", "messages": [TEXT]}
    bad = await client.post("/v2/bot/message/push", json=body, headers={"X-Line-Retry-Key": "not-a-uuid"})
    assert bad.status_code == 400
    assert bad.json()["details"][0]["property"] == "X-Line-Retry-Key"
    key = str(uuid.uuid4())
    for _ in range(2):  # remembered for 0 s: the second is a new request
        ok = await client.post("/v2/bot/message/push", json=body, headers={"X-Line-Retry-Key": key})
        assert ok.status_code == 200


# --- rate limits, auth, quota --------------------------------------------------------------


async def test_429_when_the_bucket_is_empty(client_with: Callable[..., httpx.AsyncClient]) -> None:
    client = client_with(rate_limits={"push": RateLimit(2, 3600.0)})
    body = {"to": "U1", "messages": [TEXT]}
    statuses = [(await client.post("/v2/bot/message/push", json=body)).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    limited = await client.post("/v2/bot/message/push", json=body)
    assert limited.json() == {"message": "The API rate limit has been exceeded. Try again later."}
    # Other endpoints have their own buckets.
    assert (
        await client.post("/v2/bot/message/multicast", json={"to": ["U1"], "messages": [TEXT]})
    ).status_code == 200
    stats = (await client.get("/_inspect/stats")).json()["endpoints"]["push"]
    assert (stats["accepted"], stats["rateLimited"]) == (2, 2)
    # Reset refills the buckets.
    await client.post("/_inspect/reset")
    assert (await client.post("/v2/bot/message/push", json=body)).status_code == 200


async def test_rate_limits_can_be_switched_off(client_with: Callable[..., httpx.AsyncClient]) -> None:
    assert parse_rate_limits("off") == {}
    assert parse_rate_limits("push=5/s,broadcast=1/h")["broadcast"] == RateLimit(1, 3600.0)
    assert parse_rate_limits("")["multicast"] == RateLimit(200, 1.0)
    client = client_with(rate_limits={})
    for _ in range(61):  # LINE allows 60 broadcasts an hour
        assert (await client.post("/v2/bot/message/broadcast", json={"messages": [TEXT]})).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "test-channel-token"},
        {"Authorization": "Bearer "},
    ],
)
async def test_401_without_a_valid_bearer_token(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    client.headers.pop("Authorization")
    response = await client.post(
        "/v2/bot/message/push", json={"to": "U1", "messages": [TEXT]}, headers=headers
    )
    assert response.status_code == 401
    assert response.json()["message"].startswith("Authentication failed")
    assert (await client.get("/v2/bot/message/quota", headers=headers)).status_code == 401
    assert await inbox(client, "U1") == []


async def test_any_token_when_none_are_configured(client_with: Callable[..., httpx.AsyncClient]) -> None:
    client = client_with(tokens=None)
    response = await client.get("/v2/bot/message/quota", headers={"Authorization": "Bearer whatever"})
    assert response.status_code == 200


async def test_quota_and_consumption(client_with: Callable[..., httpx.AsyncClient], spec: Spec) -> None:
    client = client_with(monthly_quota=3)
    quota = (await client.get("/v2/bot/message/quota")).json()
    assert valid(spec, "MessageQuotaResponse", quota) == {"type": "limited", "value": 3}
    await client.post("/v2/bot/message/multicast", json={"to": ["U1", "U2"], "messages": [TEXT, TEXT]})
    await client.post("/_inspect/reply-tokens", json={"replyToken": "r", "userId": "U1"})
    await client.post("/v2/bot/message/reply", json={"replyToken": "r", "messages": [TEXT]})  # free
    usage = (await client.get("/v2/bot/message/quota/consumption")).json()
    assert valid(spec, "QuotaConsumptionResponse", usage) == {"totalUsage": 2}  # per recipient
    over = await client.post("/v2/bot/message/multicast", json={"to": ["U3", "U4"], "messages": [TEXT]})
    assert (over.status_code, over.json()) == (429, {"message": "You have reached your monthly limit."})


async def test_unlimited_quota_by_default(client: httpx.AsyncClient, spec: Spec) -> None:
    assert valid(spec, "MessageQuotaResponse", (await client.get("/v2/bot/message/quota")).json()) == {
        "type": "none"
    }


# --- validate, profile, content, bot ------------------------------------------------------


@pytest.mark.parametrize("kind", ["reply", "push", "multicast", "narrowcast", "broadcast"])
async def test_validate_endpoints(client: httpx.AsyncClient, kind: str) -> None:
    ok = await client.post(f"/v2/bot/message/validate/{kind}", json={"messages": [TEXT]})
    assert ok.status_code == 200
    bad = await client.post(f"/v2/bot/message/validate/{kind}", json={"messages": [{"type": "text"}]})
    assert bad.status_code == 400
    assert bad.json()["details"] == [{"message": "Must be specified", "property": "messages[0].text"}]
    assert (await client.get("/_inspect/messages")).json()["messages"] == []


async def test_profiles(client: httpx.AsyncClient, spec: Spec) -> None:
    assert (await client.get("/v2/bot/profile/Ualice")).status_code == 404
    profile = {"userId": "Ualice", "displayName": "市役 太郎", "pictureUrl": "https://example.com/p.png"}
    assert (await client.post("/_inspect/users", json=profile)).status_code == 200
    response = await client.get("/v2/bot/profile/Ualice")
    assert valid(spec, "UserProfileResponse", response.json()) == profile
    await client.post("/_inspect/users/Ualice/block")
    assert (await client.get("/v2/bot/profile/Ualice")).status_code == 404
    bad = await client.post("/_inspect/users", json={"userId": "Ux"})
    assert bad.json()["details"] == [{"message": "Must be specified", "property": "displayName"}]


async def test_content_residents_sent(client: httpx.AsyncClient) -> None:
    photo = b"\xff\xd8\xff\xe0 pothole photo"
    raw = await client.post("/_inspect/content", content=photo, headers={"content-type": "image/jpeg"})
    message_id = raw.json()["messageId"]
    got = await client.get(f"/v2/bot/message/{message_id}/content")
    assert (got.status_code, got.content, got.headers["content-type"]) == (200, photo, "image/jpeg")
    assert (await client.get(f"/v2/bot/message/{message_id}/content/transcoding")).json() == {
        "status": "succeeded"
    }

    form = await client.post(
        "/_inspect/content",
        files={"file": ("voice.m4a", b"m4a bytes", "audio/x-m4a")},
        params={"messageId": "42"},
    )
    assert form.json() == {"messageId": "42"}
    got = await client.get("/v2/bot/message/42/content")
    assert (got.content, got.headers["content-type"]) == (b"m4a bytes", "audio/x-m4a")

    missing = await client.get("/v2/bot/message/999/content")
    assert (missing.status_code, missing.json()) == (404, {"message": "Not found"})


async def test_bot_info_and_loading_animation(client: httpx.AsyncClient, spec: Spec) -> None:
    valid(spec, "BotInfoResponse", (await client.get("/v2/bot/info")).json())
    assert (await client.post("/v2/bot/chat/loading/start", json={"chatId": "U1"})).status_code == 202
    assert (await client.post("/v2/bot/chat/loading/start", json={})).status_code == 400


# --- inspection ----------------------------------------------------------------------------


async def test_stored_messages_are_bounded_per_user(client_with: Callable[..., httpx.AsyncClient]) -> None:
    client = client_with(max_messages_per_user=3)
    for i in range(10):
        await client.post(
            "/v2/bot/message/push", json={"to": "U1", "messages": [{"type": "text", "text": str(i)}]}
        )
    assert [m["message"]["text"] for m in await inbox(client, "U1")] == ["7", "8", "9"]
    stats = (await client.get("/_inspect/stats")).json()["endpoints"]["push"]
    assert stats["delivered"] == 10


async def test_all_messages_in_order_stats_and_reset(client: httpx.AsyncClient) -> None:
    await client.post("/v2/bot/message/push", json={"to": "U2", "messages": [{"type": "text", "text": "a"}]})
    await client.post("/v2/bot/message/push", json={"to": "U1", "messages": [{"type": "text", "text": "b"}]})
    everything = (await client.get("/_inspect/messages")).json()["messages"]
    assert [(m["to"], m["message"]["text"]) for m in everything] == [("U2", "a"), ("U1", "b")]
    key = str(uuid.uuid4())
    await client.post(
        "/v2/bot/message/push", json={"to": "U1", "messages": [TEXT]}, headers={"X-Line-Retry-Key": key}
    )
    await client.post(
        "/v2/bot/message/push", json={"to": "U1", "messages": [TEXT]}, headers={"X-Line-Retry-Key": key}
    )
    stats = (await client.get("/_inspect/stats")).json()
    assert stats["endpoints"]["push"] | {"delivered": 0} == {
        "requests": 4,
        "accepted": 3,
        "rateLimited": 0,
        "conflicts": 1,
        "dropped": 0,
        "delivered": 0,
    }
    assert stats["quotaConsumption"] == 3

    await client.post("/_inspect/reset")
    assert (await client.get("/_inspect/messages")).json()["messages"] == []
    assert (await client.get("/_inspect/stats")).json() == {"endpoints": {}, "quotaConsumption": 0}
    # The retry key went with the reset.
    again = await client.post(
        "/v2/bot/message/push", json={"to": "U1", "messages": [TEXT]}, headers={"X-Line-Retry-Key": key}
    )
    assert again.status_code == 200


async def test_unknown_paths_are_line_style_404s(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/bot/nothing")
    assert (response.status_code, response.json()) == (404, {"message": "Not found"})


async def test_concurrent_requests_with_one_retry_key_deliver_once(client: httpx.AsyncClient) -> None:
    key = str(uuid.uuid4())
    body = {"to": ["Ualice", "Ubob"], "messages": [TEXT]}
    responses = await asyncio.gather(
        *(
            client.post("/v2/bot/message/multicast", json=body, headers={"X-Line-Retry-Key": key})
            for _ in range(10)
        )
    )
    assert sorted(r.status_code for r in responses) == [200] + [409] * 9
    [accepted] = [r for r in responses if r.status_code == 200]
    assert {r.headers["x-line-accepted-request-id"] for r in responses if r.status_code == 409} == {
        accepted.headers["x-line-request-id"]
    }
    assert len(await inbox(client, "Ubob")) == 1


def test_settings_from_env() -> None:
    settings = EmulatorSettings.from_env(
        {
            "LINE_EMULATOR_TOKENS": " a, b ,,",
            "LINE_EMULATOR_RATE_LIMITS": "push=3/min",
            "LINE_EMULATOR_REPLY_TOKEN_TTL": "5",
            "LINE_EMULATOR_MAX_MESSAGES_PER_USER": "0",
            "LINE_EMULATOR_MONTHLY_QUOTA": "1000",
        }
    )
    assert settings.tokens == {"a", "b"}
    assert settings.rate_limits["push"] == RateLimit(3, 60.0)
    assert settings.rate_limits["multicast"] == RateLimit(200, 1.0)
    assert (settings.reply_token_ttl, settings.max_messages_per_user, settings.monthly_quota) == (
        5.0,
        0,
        1000,
    )
    defaults = EmulatorSettings.from_env({})
    assert defaults.tokens is None and defaults.accepts("anything") and not defaults.accepts("")
    assert defaults.monthly_quota is None
    with pytest.raises(ValueError, match="bad rate limit"):
        EmulatorSettings.from_env({"LINE_EMULATOR_RATE_LIMITS": "push=3/fortnight"})
