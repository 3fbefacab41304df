"""Test support: webhook bodies shaped as `webhook.yml` specifies them, signed as LINE signs them.

Used by the gateway's tests, the integration tests, the fuzz tests and the benchmarks. Bodies
are signed and event ids made by `cityhall.line.webhooks`, as LINE does; the gateway verifies
signatures with the SDK's `WebhookParser`.

`WebhookSchemas` checks a body against LINE's own schemas (`webhook.yml`, from cityhall.line.openapi),
so a test vector that drifts from the spec fails its test. It needs the dev dependencies
pyyaml and jsonschema-rs.
"""

from __future__ import annotations

import copy
import json
import secrets
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from cityhall.line import openapi
from cityhall.line.contracts import IntentKind
from cityhall.line.webhooks import SIGNATURE_HEADER, sign, ulid

if TYPE_CHECKING:
    import httpx

DESTINATION = "U" + "0" * 32


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def user_id() -> str:
    """A LINE user id: `U` and 32 hex digits."""
    return "U" + secrets.token_hex(16)


def _event(kind: str, user: str, *, reply: bool = True, **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": kind,
        "mode": "active",
        "timestamp": int(time.time() * 1000),
        "source": {"type": "user", "userId": user},
        "webhookEventId": ulid(),
        "deliveryContext": {"isRedelivery": False},
    }
    if reply:
        event["replyToken"] = secrets.token_hex(16)
    event.update(fields)
    return event


def _message_id() -> str:
    return str(secrets.randbelow(10**18))


def text_message(user: str, text: str) -> dict[str, Any]:
    message = {"id": _message_id(), "type": "text", "text": text, "quoteToken": secrets.token_urlsafe(16)}
    return _event("message", user, message=message)


def image_message(user: str) -> dict[str, Any]:
    message = {
        "id": _message_id(),
        "type": "image",
        "contentProvider": {"type": "line"},
        "quoteToken": secrets.token_urlsafe(16),
    }
    return _event("message", user, message=message)


def location_message(
    user: str, latitude: float, longitude: float, *, title: str | None = None, address: str | None = None
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "id": _message_id(),
        "type": "location",
        "latitude": latitude,
        "longitude": longitude,
    }
    if title is not None:
        message["title"] = title
    if address is not None:
        message["address"] = address
    return _event("message", user, message=message)


def sticker_message(user: str) -> dict[str, Any]:
    message = {
        "id": _message_id(),
        "type": "sticker",
        "packageId": "446",
        "stickerId": "1988",
        "stickerResourceType": "STATIC",
        "quoteToken": secrets.token_urlsafe(16),
    }
    return _event("message", user, message=message)


def postback(user: str, data: str, params: dict[str, str] | None = None) -> dict[str, Any]:
    content: dict[str, Any] = {"data": data}
    if params is not None:
        content["params"] = params
    return _event("postback", user, postback=content)


def follow(user: str, *, is_unblocked: bool = False) -> dict[str, Any]:
    return _event("follow", user, follow={"isUnblocked": is_unblocked})


def unfollow(user: str) -> dict[str, Any]:
    return _event("unfollow", user, reply=False)


def unsend(user: str, message_id: str) -> dict[str, Any]:
    return _event("unsend", user, reply=False, unsend={"messageId": message_id})


def redelivered(event: dict[str, Any]) -> dict[str, Any]:
    """The same event as LINE redelivers it: same webhookEventId, `isRedelivery: true`."""
    again = copy.deepcopy(event)
    again["deliveryContext"] = {"isRedelivery": True}
    return again


def webhook(*events: dict[str, Any], destination: str = DESTINATION) -> dict[str, Any]:
    return {"destination": destination, "events": list(events)}


def signed(payload: dict[str, Any] | bytes, channel_secret: str) -> tuple[bytes, dict[str, str]]:
    """(body, headers) of a webhook request as LINE sends it."""
    body = payload if isinstance(payload, bytes) else encode(payload)
    return body, {"content-type": "application/json", SIGNATURE_HEADER: sign(channel_secret, body)}


@dataclass
class Webhooks:
    """A resident's acts as LINE delivers them: signed webhooks to the gateway's `/callback`
    (an `Act` for `cityhall.line.testing.Resident`)."""

    gateway: httpx.AsyncClient
    """A client whose base URL is the gateway."""
    channel_secret: str

    async def __call__(self, user_id: str, kind: IntentKind, reply_token: str, **fields: Any) -> None:
        if kind == "postback":
            event = postback(user_id, fields["postback_data"], fields.get("postback_params"))
        elif kind == "text":
            event = text_message(user_id, fields["text"])
        elif kind == "image":
            event = image_message(user_id)
            event["message"]["id"] = fields["message_id"]
        elif kind == "location":
            event = location_message(user_id, **fields["location"])
        elif kind == "follow":
            event = follow(user_id)
        else:
            raise ValueError(f"no webhook for a {kind!r} act")
        event["replyToken"] = reply_token
        body, headers = signed(webhook(event), self.channel_secret)
        response = await self.gateway.post("/callback", content=body, headers=headers)
        for _ in range(3):  # as LINE redelivers when the gateway could not record it within its budget
            if response.status_code != 500:
                break
            event["deliveryContext"] = {"isRedelivery": True}
            body, headers = signed(webhook(event), self.channel_secret)
            response = await self.gateway.post("/callback", content=body, headers=headers)
        response.raise_for_status()


# --- LINE's schemas ------------------------------------------------------------------------------------

EVENT_SCHEMAS = {
    "message": "MessageEvent",
    "postback": "PostbackEvent",
    "follow": "FollowEvent",
    "unfollow": "UnfollowEvent",
    "unsend": "UnsendEvent",
}
MESSAGE_SCHEMAS = {
    "text": "TextMessageContent",
    "image": "ImageMessageContent",
    "location": "LocationMessageContent",
    "sticker": "StickerMessageContent",
}


class WebhookSchemas:
    """LINE's webhook schemas (OpenAPI 3.0 components) checked as JSON Schema.

    JSON Schema ignores OpenAPI's `discriminator`, so an event is checked against the schema
    of its own type (and a message against the schema of its message type).
    """

    def __init__(self) -> None:
        import yaml

        self.components: dict[str, Any] = yaml.safe_load(openapi.read_document(openapi.WEBHOOK))[
            "components"
        ]["schemas"]

    @cached_property
    def _validators(self) -> dict[str, Any]:
        import jsonschema_rs

        return {
            name: jsonschema_rs.Draft202012Validator(
                {"$ref": f"#/components/schemas/{name}", "components": {"schemas": self.components}}
            )
            for name in self.components
        }

    def errors(self, instance: Any, schema: str) -> list[str]:
        return [str(e) for e in self._validators[schema].iter_errors(instance)]

    def check_body(self, body: Any) -> list[str]:
        """Why `body` is not a webhook LINE could send (empty when it conforms)."""
        problems = self.errors(body, "CallbackRequest")
        events = body.get("events") if isinstance(body, dict) else None
        for i, event in enumerate(events if isinstance(events, list) else []):
            if not isinstance(event, dict):
                continue  # reported against CallbackRequest already
            problems += [f"events[{i}]: {e}" for e in self.errors(event, self.event_schema(event))]
            message = event.get("message")
            if event.get("type") == "message" and isinstance(message, dict):
                name = MESSAGE_SCHEMAS.get(str(message.get("type", "")), "MessageContent")
                problems += [f"events[{i}].message: {e}" for e in self.errors(message, name)]
        return problems

    @staticmethod
    def event_schema(event: dict[str, Any]) -> str:
        return EVENT_SCHEMAS.get(str(event.get("type")), "Event")

    def properties(self, schema: str) -> dict[str, dict[str, Any]]:
        """A schema's properties, including those of the schemas it extends (allOf, $ref)."""
        return dict(self._properties(self.components[schema]))

    def _properties(self, schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        if "$ref" in schema:
            yield from self._properties(self.components[schema["$ref"].rsplit("/", 1)[-1]])
        for part in schema.get("allOf", []):
            yield from self._properties(part)
        for name, prop in schema.get("properties", {}).items():
            yield name, self.resolve(prop)

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.components[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    def json_type(self, schema: dict[str, Any]) -> str:
        """The JSON type a (resolved) property schema wants: object for allOf/ref composites."""
        schema = self.resolve(schema)
        if "type" in schema:
            return str(schema["type"])
        return "object" if "allOf" in schema or "properties" in schema else "string"


def leaf_paths(value: Any, prefix: tuple[str | int, ...] = ()) -> Iterable[tuple[str | int, ...]]:
    """Every path into a JSON value (objects and arrays included), for mutating one field."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from leaf_paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from leaf_paths(child, (*prefix, index))
