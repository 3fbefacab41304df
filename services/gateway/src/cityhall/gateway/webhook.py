"""From a webhook request body to what the resident did: signature, parsing, validation.

The signature is checked by line-bot-sdk's `WebhookParser` (never by our own HMAC), which
also parses the events into the SDK's models. We read the body a second time as plain
JSON, strictly, to keep each event exactly as LINE sent it (`ResidentIntent.raw`) and to
refuse what Postgres or Kafka could not carry (NUL characters, lone surrogates, NaN,
nesting deeper than any LINE event).

What becomes a `Received` event, and what does not:

- message (text, image, location, sticker, other message types), postback, follow and
  unfollow from a one-to-one chat with a resident: one `Received` each;
- other event types the SDK models (unsend, account link, beacon, video viewed, …) from a
  resident: kind "other", for the guide;
- an event type the SDK does not know (LINE adds new ones), and events from group chats,
  multi-person chats or without a user (module channel events): skipped. LINE gets 200
  for them, so it does not redeliver what no service could act on; a log line names them.
  Group and room events are skipped on purpose: the city hall answers residents one to
  one, and a reply in a group would show a resident's affairs to everyone in it.
- an event of a type the SDK knows whose fields do not match LINE's schema: the whole
  request is refused (`BadWebhook`, a 400) and nothing is recorded.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.models.events import UnknownEvent
from linebot.v3.webhook import WebhookParser
from linebot.v3.webhooks import (
    Event,
    FollowEvent,
    ImageMessageContent,
    LocationMessageContent,
    MessageEvent,
    PostbackEvent,
    StickerMessageContent,
    TextMessageContent,
    UnfollowEvent,
    UserSource,
)
from linebot.v3.webhooks.models.message_content import MessageContent

from cityhall.line.contracts import IntentKind, Location

log = logging.getLogger(__name__)

MAX_DEPTH = 32
"""JSON nesting allowed in a body; LINE's deepest events nest fewer than ten levels."""
MAX_EVENT_BYTES = 64 * 1024
"""One event's JSON; LINE's largest (a 5,000-character text) is far below. Keeps every
intent well inside Kafka's default 1 MB record limit, so no record can wedge the relay."""
_ID = re.compile(r"^[\x21-\x7e]{1,64}$")
"""webhookEventId and user ids: printable ASCII, short (LINE's are 26 and 33 characters)."""
_DESTINATION = re.compile(r"^U[0-9a-f]{32}$")
_MIN_TIMESTAMP_MS = 0
_MAX_TIMESTAMP_MS = 32503680000000  # year 3000


class InvalidSignature(Exception):
    """Missing or wrong `x-line-signature`."""


class BadWebhook(Exception):
    """The body is not a webhook LINE could have sent; the message says why (it reaches the client)."""


@dataclass(frozen=True)
class Received:
    """One webhook event, understood; the router adds its domain to make it a `ResidentIntent`."""

    webhook_event_id: str
    user_id: str
    kind: IntentKind
    timestamp: datetime
    is_redelivery: bool
    raw: dict[str, Any]
    reply_token: str | None = None
    text: str | None = None
    message_id: str | None = None
    location: Location | None = None
    postback_data: str | None = None
    postback_params: dict[str, str] | None = None

    @property
    def routing(self) -> Literal["dialog", "postback", "notify", "guide"]:
        """How the router picks the domain."""
        if self.kind == "postback":
            return "postback"
        if self.kind in ("follow", "unfollow"):
            return "notify"
        if self.kind == "other":
            return "guide"
        return "dialog"


# The SDK's own list of event types (its discriminator map), to tell an event type it does
# not know from a known one whose fields are wrong: the SDK turns both into UnknownEvent.
_SDK_EVENT_TYPES: frozenset[str] = frozenset(Event._Event__discriminator_value_class_map)
_SDK_MESSAGE_TYPES: frozenset[str] = frozenset(MessageContent._MessageContent__discriminator_value_class_map)


class WebhookReader:
    def __init__(self, channel_secret: str) -> None:
        if not channel_secret:
            raise ValueError("a LINE channel secret is required")
        self._parser = WebhookParser(channel_secret)

    def read(self, body: bytes, signature: str | None) -> list[Received]:
        """The events of a signed body that should become intents, in order.

        Raises `InvalidSignature` (checked first, before anything is parsed) or `BadWebhook`.
        """
        if not signature:
            raise InvalidSignature("missing x-line-signature")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            # LINE signs UTF-8 text; a body that is not UTF-8 cannot carry a valid signature.
            raise InvalidSignature("body is not UTF-8") from None
        try:
            payload = self._parser.parse(text, signature, as_payload=True)
        except InvalidSignatureError:
            raise InvalidSignature("signature does not match") from None
        except Exception as exc:  # the SDK raises ValueError, KeyError, TypeError, RecursionError…
            raise BadWebhook(f"malformed webhook body: {type(exc).__name__}") from None
        raw = _strict_json(body)
        raw_events = raw.get("events") if isinstance(raw, dict) else None
        if not isinstance(raw_events, list) or len(raw_events) != len(payload.events):
            raise BadWebhook("the body must be an object with an events array")
        # The SDK does not look at `destination`; LINE's schema requires it.
        if not isinstance(raw.get("destination"), str) or not _DESTINATION.match(raw["destination"]):
            raise BadWebhook("destination must be the bot's user id (U and 32 hex digits)")
        received = []
        # Measuring an event re-encodes it: skipped when the whole body is within the limit (its
        # events may then re-encode a little larger, e.g. 1e9 as 1000000000.0: far below 1 MB).
        may_be_too_large = len(body) > MAX_EVENT_BYTES
        for index, (event, raw_event) in enumerate(zip(payload.events, raw_events, strict=True)):
            item = _understand(index, event, raw_event, may_be_too_large)
            if item is not None:
                received.append(item)
        return received


def _strict_json(body: bytes) -> Any:
    """The body as JSON, strictly: orjson refuses NaN, Infinity, numbers too large for a double
    and lone surrogates, all of which the standard library would let through."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadWebhook("malformed JSON") from None
    _check_storable(value)
    return value


def _check_storable(value: Any) -> None:
    """Depth ≤ MAX_DEPTH, no nulls, and only strings Postgres's jsonb and UTF-8 can hold (iterative walk).

    LINE leaves out a field that has no value; it never sends null. The SDK's models would
    take a null for an optional string, so nulls are refused here.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise BadWebhook(f"JSON nested deeper than {MAX_DEPTH} levels")
        if item is None:
            raise BadWebhook("null is not a value LINE sends")
        if isinstance(item, str):
            _check_string(item)
        elif isinstance(item, dict):
            for key, child in item.items():
                _check_string(key)
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


def _check_string(text: str) -> None:
    if "\x00" in text:
        raise BadWebhook("strings must not contain NUL")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadWebhook("strings must be valid Unicode (no lone surrogates)") from None


def _understand(index: int, event: Event, raw: Any, may_be_too_large: bool) -> Received | None:
    where = f"events[{index}]"
    if not isinstance(raw, dict):
        raise BadWebhook(f"{where} must be an object")
    if isinstance(event, UnknownEvent):
        if event.type in _SDK_EVENT_TYPES and not _is_new_message_type(raw):
            raise BadWebhook(f"{where} does not match the schema of a {event.type!r} event")
        if event.type not in _SDK_EVENT_TYPES:
            log.info("skipping webhook event of a type this SDK does not know: %.40r", event.type)
            return None
    weid = event.webhook_event_id
    if not _ID.match(weid):
        raise BadWebhook(f"{where}.webhookEventId must be 1-64 printable ASCII characters")
    if not _MIN_TIMESTAMP_MS <= event.timestamp <= _MAX_TIMESTAMP_MS:
        raise BadWebhook(f"{where}.timestamp is out of range")
    if may_be_too_large and len(orjson.dumps(raw)) > MAX_EVENT_BYTES:
        raise BadWebhook(f"{where} is larger than {MAX_EVENT_BYTES} bytes")
    user_id = _user_of(event, raw)
    if user_id is None:
        log.info("skipping %s event %s: not from a one-to-one chat with a user", event.type, weid)
        return None
    if not _ID.match(user_id):
        raise BadWebhook(f"{where}.source.userId must be 1-64 printable ASCII characters")
    common: dict[str, Any] = {
        "webhook_event_id": weid,
        "user_id": user_id,
        "timestamp": datetime.fromtimestamp(event.timestamp / 1000, UTC),
        "is_redelivery": event.delivery_context.is_redelivery,
        "raw": raw,
        "reply_token": getattr(event, "reply_token", None),
    }
    if isinstance(event, UnknownEvent):  # a message of a type newer than this SDK
        return Received(kind="other_message", message_id=raw["message"]["id"], **common)
    if isinstance(event, MessageEvent):
        message = event.message
        if isinstance(message, TextMessageContent):
            return Received(kind="text", text=message.text, message_id=message.id, **common)
        if isinstance(message, ImageMessageContent):
            return Received(kind="image", message_id=message.id, **common)
        if isinstance(message, LocationMessageContent):
            location = Location(
                title=message.title,
                address=message.address,
                latitude=float(message.latitude),
                longitude=float(message.longitude),
            )
            return Received(kind="location", location=location, message_id=message.id, **common)
        if isinstance(message, StickerMessageContent):
            return Received(kind="sticker", message_id=message.id, **common)
        return Received(kind="other_message", message_id=message.id, **common)
    if isinstance(event, PostbackEvent):
        if not isinstance(raw["postback"].get("params", {}), dict):  # the SDK's dict also takes pairs
            raise BadWebhook(f"{where}.postback.params must be an object")
        return Received(
            kind="postback",
            postback_data=event.postback.data,
            postback_params=dict(event.postback.params) if event.postback.params else None,
            **common,
        )
    if isinstance(event, FollowEvent):
        return Received(kind="follow", **common)
    if isinstance(event, UnfollowEvent):
        return Received(kind="unfollow", **common)
    return Received(kind="other", **common)


def _user_of(event: Event, raw: dict[str, Any]) -> str | None:
    """The resident's user id when the event comes from a one-to-one chat."""
    if isinstance(event, UnknownEvent):  # the SDK did not model the source: read it from the JSON
        source = raw.get("source")
        if (
            isinstance(source, dict)
            and source.get("type") == "user"
            and isinstance(source.get("userId"), str)
        ):
            return str(source["userId"])
        return None
    if isinstance(event.source, UserSource):
        user_id: str | None = event.source.user_id
        return user_id
    return None


def _is_new_message_type(raw: dict[str, Any]) -> bool:
    """A message event the SDK could not model only because its message type is newer than the SDK."""
    message = raw.get("message")
    return (
        raw.get("type") == "message"
        and isinstance(message, dict)
        and isinstance(message.get("type"), str)
        and message["type"] not in _SDK_MESSAGE_TYPES
        and isinstance(message.get("id"), str)
        and 0 < len(message["id"]) <= 64
        and (raw.get("replyToken") is None or isinstance(raw.get("replyToken"), str))
    )
