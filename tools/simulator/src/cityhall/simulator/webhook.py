"""Webhook events shaped exactly as LINE sends them.

The simulator plays the LINE platform: it signs bodies and makes `webhookEventId`s with
`cityhall.line.webhooks`, as LINE does; the receiving side checks signatures with the SDK.
Everything here is pure apart from the clock and the random source.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from cityhall.line.webhooks import ulid

JSONObject = dict[str, Any]

USER_ID_PATTERN = re.compile(r"^U[0-9a-f]{32}$")


def new_user_id() -> str:
    """A LINE-style user id: `U` and 32 lowercase hex digits."""
    return "U" + secrets.token_hex(16)


def new_reply_token() -> str:
    return secrets.token_hex(16)


def new_quote_token() -> str:
    return secrets.token_urlsafe(48)


class MessageIds:
    """Numeric-string message ids like LINE's, growing with time (ms × 1000 + a counter)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0
        self._counter = itertools.count()

    def next(self) -> str:
        with self._lock:
            candidate = int(time.time() * 1000) * 1000 + next(self._counter) % 1000
            self._last = max(self._last + 1, candidate)
            return str(self._last)


class WebhookBuilder:
    """Builds one webhook event per resident action, for one bot (the `destination`)."""

    def __init__(self, bot_user_id: str, message_ids: MessageIds | None = None) -> None:
        if not USER_ID_PATTERN.match(bot_user_id):
            raise ValueError(f"bot user id must match U[0-9a-f]{{32}}: {bot_user_id!r}")
        self.bot_user_id = bot_user_id
        self.message_ids = message_ids or MessageIds()

    def _base(self, event_type: str, user_id: str, reply_token: str | None) -> JSONObject:
        event: JSONObject = {"type": event_type}
        if reply_token is not None:
            event["replyToken"] = reply_token
        now_ms = int(time.time() * 1000)
        event.update(
            {
                "source": {"type": "user", "userId": user_id},
                "timestamp": now_ms,
                "mode": "active",
                "webhookEventId": ulid(now_ms),
                "deliveryContext": {"isRedelivery": False},
            }
        )
        return event

    def _message(self, user_id: str, message: JSONObject) -> JSONObject:
        event = self._base("message", user_id, new_reply_token())
        event["message"] = message
        return event

    def text(self, user_id: str, text: str) -> JSONObject:
        return self._message(
            user_id,
            {"type": "text", "id": self.message_ids.next(), "quoteToken": new_quote_token(), "text": text},
        )

    def image(self, user_id: str, message_id: str) -> JSONObject:
        """A photo whose content LINE holds (`contentProvider.type` "line"): fetch it by `message_id`."""
        return self._message(
            user_id,
            {
                "type": "image",
                "id": message_id,
                "quoteToken": new_quote_token(),
                "contentProvider": {"type": "line"},
            },
        )

    def sticker(
        self, user_id: str, package_id: str, sticker_id: str, resource_type: str = "STATIC"
    ) -> JSONObject:
        return self._message(
            user_id,
            {
                "type": "sticker",
                "id": self.message_ids.next(),
                "quoteToken": new_quote_token(),
                "packageId": package_id,
                "stickerId": sticker_id,
                "stickerResourceType": resource_type,
            },
        )

    def location(
        self,
        user_id: str,
        latitude: float,
        longitude: float,
        title: str | None = None,
        address: str | None = None,
    ) -> JSONObject:
        message: JSONObject = {"type": "location", "id": self.message_ids.next()}
        if title:
            message["title"] = title
        if address:
            message["address"] = address
        message["latitude"] = latitude
        message["longitude"] = longitude
        return self._message(user_id, message)

    def postback(self, user_id: str, data: str, params: Mapping[str, str] | None = None) -> JSONObject:
        event = self._base("postback", user_id, new_reply_token())
        postback: JSONObject = {"data": data}
        if params:
            postback["params"] = dict(params)
        event["postback"] = postback
        return event

    def follow(self, user_id: str, is_unblocked: bool = False) -> JSONObject:
        event = self._base("follow", user_id, new_reply_token())
        event["follow"] = {"isUnblocked": is_unblocked}
        return event

    def unfollow(self, user_id: str) -> JSONObject:
        """LINE gives no reply token for an unfollow: nobody is there to read a reply."""
        return self._base("unfollow", user_id, None)

    def body(self, events: Sequence[JSONObject]) -> bytes:
        """The request body LINE posts: `{"destination", "events"}` as compact UTF-8 JSON."""
        payload = {"destination": self.bot_user_id, "events": list(events)}
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
