"""The LINE contract between the gateway, notify and the domain services.

- `ResidentIntent`: one webhook event, published by the gateway on `intents.<domain>`
  (key: the LINE user id). Its envelope id is derived from `webhookEventId`, so a
  redelivered webhook is the same message.
- `OutboundMessageRequested`: a service asks notify to send 1–5 LINE messages, on
  `line.outbound` (key: the recipient). Only notify talks to the Messaging API.
- `DialogClaimed` / `DialogReleased`: a service tells the gateway that a resident's
  free text, photos and locations belong to it now (topic `line.dialogs`).
- `DialogLeft`: the gateway tells a domain, on its `intents.<domain>`, that a postback took
  the resident out of its dialog (to another domain's); the domain may say what became of
  anything the resident left unfinished (key: the LINE user id). Consumers that do not know it
  skip it, as any other type they do not handle.
- `DisasterModeSwitched`: an authorised role switched disaster mode on or off; notify records
  it in its stream `disasterMode-town` and its relay publishes it on `line.richmenu`, where the
  gateway, which owns the rich menu, switches every resident's menu (key: `disaster-mode`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from linebot.v3.messaging import Message
from pydantic import Field

from cityhall.events.envelope import Envelope, Event, registry
from cityhall.line.webhooks import ulid_uuid

INTENTS_TOPIC = "intents.{domain}"
OUTBOUND_TOPIC = "line.outbound"
DIALOGS_TOPIC = "line.dialogs"
RICH_MENU_TOPIC = "line.richmenu"

DEFAULT_DOMAIN = "guide"

IntentKind = Literal[
    "text", "image", "location", "sticker", "other_message", "postback", "follow", "unfollow", "other"
]


def intents_topic(domain: str) -> str:
    return INTENTS_TOPIC.format(domain=domain)


def intent_id(webhook_event_id: str) -> uuid.UUID:
    """The intent's id: the ULID `webhookEventId` read as the 128-bit UUID it encodes."""
    return ulid_uuid(webhook_event_id) or uuid.uuid5(
        uuid.NAMESPACE_URL, f"line-webhook-event:{webhook_event_id}"
    )


class Location(Event):
    title: str | None = None
    address: str | None = None
    latitude: float
    longitude: float


@registry.register
class ResidentIntent(Event):
    TYPE = "cityhall.gateway.resident_intent.v1"

    webhook_event_id: str
    user_id: str
    domain: str
    kind: IntentKind
    timestamp: datetime
    """When LINE says the resident acted."""
    reply_token: str | None = None
    is_redelivery: bool = False
    text: str | None = None
    message_id: str | None = None
    """For images: download the content with the SDK's blob API."""
    location: Location | None = None
    postback_data: str | None = None
    postback_params: dict[str, str] | None = None
    raw: dict[str, Any] = Field(default_factory=dict)
    """The webhook event exactly as LINE sent it."""


@registry.register
class DialogLeft(Event):
    TYPE = "cityhall.gateway.dialog_left.v1"

    user_id: str
    domain: str
    """The domain whose dialog the resident left."""
    to_domain: str
    webhook_event_id: str
    """The postback that took the resident elsewhere."""
    timestamp: datetime


@registry.register
class OutboundMessageRequested(Event):
    TYPE = "cityhall.notify.outbound_message_requested.v1"

    to: list[str] = Field(min_length=1)
    messages: list[dict[str, Any]] = Field(min_length=1, max_length=5)
    """LINE message objects as JSON (built with the SDK's models)."""
    idempotency_key: str
    requested_by: str
    reply_token: str | None = None
    reply_token_issued_at: datetime | None = None
    """When the webhook that carried the reply token happened; notify pushes once it is stale."""
    notification_disabled: bool = False


@registry.register
class DialogClaimed(Event):
    TYPE = "cityhall.gateway.dialog_claimed.v1"
    user_id: str
    domain: str


@registry.register
class DialogReleased(Event):
    TYPE = "cityhall.gateway.dialog_released.v1"
    user_id: str
    domain: str


def outbound_message(
    *,
    to: str | Sequence[str],
    messages: Sequence[Message],
    source: str,
    idempotency_key: str,
    reply_to: ResidentIntent | None = None,
    caused_by: Envelope | None = None,
) -> Envelope:
    """An envelope asking notify to send `messages`; append it to the service's store (the outbox).

    With `reply_to`, notify replies with that intent's reply token while it is fresh.
    """
    recipients = [to] if isinstance(to, str) else list(to)
    event = OutboundMessageRequested(
        to=recipients,
        messages=[m.to_dict() for m in messages],
        idempotency_key=idempotency_key,
        requested_by=source.rsplit("/", 1)[-1],
        reply_token=reply_to.reply_token if reply_to else None,
        reply_token_issued_at=reply_to.timestamp if reply_to else None,
    )
    return Envelope.wrap(
        event,
        source=source,
        subject=f"lineOutbound-{idempotency_key}",
        id=uuid.uuid5(uuid.NAMESPACE_URL, f"outbound:{idempotency_key}"),
        caused_by=caused_by,
        topic=OUTBOUND_TOPIC,
        key=recipients[0] if len(recipients) == 1 else idempotency_key,
    )


def dialog_event(
    event: DialogClaimed | DialogReleased, *, source: str, caused_by: Envelope | None
) -> Envelope:
    return Envelope.wrap(
        event,
        source=source,
        subject=f"lineDialog-{event.user_id}",
        caused_by=caused_by,
        topic=DIALOGS_TOPIC,
        key=event.user_id,
    )


@registry.register
class DisasterModeSwitched(Event):
    """Disaster mode on or off: every resident's rich menu becomes the disaster menu, or the main
    one again. Recorded by notify (who switched it, when, why), applied by the gateway."""

    TYPE = "cityhall.notify.disaster_mode_switched.v1"
    on: bool
    by: str
    reason: str
    at: datetime


DISASTER_MODE_STREAM = "disasterMode-town"
DISASTER_MODE_KEY = "disaster-mode"
