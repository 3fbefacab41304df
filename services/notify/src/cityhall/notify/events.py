"""notify's commands and events.

Friends (stream `friend-<userId>`): `Follow` / `Unfollow` decide `FriendFollowed` /
`FriendUnfollowed`. Deliveries (stream `delivery-<requestId>`, the id of the
`OutboundMessageRequested` they answer): one outcome event per LINE request, or one
`MessageSkipped` for the recipients who blocked the account. All of them travel on
`events.notify`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cityhall.events.envelope import Event, registry

SOURCE = "/services/notify"

DeliveryMethod = Literal["reply", "push", "multicast"]


# --- commands ------------------------------------------------------------------------------


class Follow(BaseModel):
    """The resident added the account as a friend (or unblocked it)."""

    model_config = ConfigDict(frozen=True)
    user_id: str
    at: datetime


class Unfollow(BaseModel):
    """The resident blocked the account."""

    model_config = ConfigDict(frozen=True)
    user_id: str
    at: datetime


FriendCommand = Follow | Unfollow


class SwitchDisasterMode(BaseModel):
    """An authorised role (`bousai`) switches disaster mode on or off (the event:
    `cityhall.line.contracts.DisasterModeSwitched`, which the gateway applies to the rich menu)."""

    model_config = ConfigDict(frozen=True)
    on: bool
    by: str
    reason: str
    at: datetime


# --- friends -------------------------------------------------------------------------------


@registry.register
class FriendFollowed(Event):
    TYPE = "cityhall.notify.friend_followed.v1"
    user_id: str
    at: datetime


@registry.register
class FriendUnfollowed(Event):
    TYPE = "cityhall.notify.friend_unfollowed.v1"
    user_id: str
    at: datetime


# --- delivery outcomes ---------------------------------------------------------------------


class _Outcome(Event):
    request_id: uuid.UUID
    """The id of the `OutboundMessageRequested` envelope."""
    idempotency_key: str
    requested_by: str


@registry.register
class MessageDelivered(_Outcome):
    """LINE accepted one request (a reply, a push, or one multicast chunk of up to 500)."""

    TYPE = "cityhall.notify.message_delivered.v1"
    method: DeliveryMethod
    recipients: int
    to: str | None = None
    """The resident, for a reply or a push."""
    chunk: int | None = None
    """The multicast chunk's index (recipients chunk*500 … chunk*500+499 of the plan)."""
    line_request_id: str | None = None
    already_accepted: bool = False
    """An earlier attempt had got through: LINE answered 409 for its retry key, or refused a
    reply token that attempt had used. Delivered once, counted here."""
    attempts: int = 1


@registry.register
class MessageDeliveryFailed(_Outcome):
    """LINE refused the request (a 4xx other than 409), or it could not be sent at all."""

    TYPE = "cityhall.notify.message_delivery_failed.v1"
    method: DeliveryMethod | None
    status: int
    """LINE's HTTP status; 0 when the request never got an answer or was invalid before sending."""
    error: str
    """LINE's error message (or why the request could not be sent)."""
    details: list[dict[str, Any]] = Field(default_factory=list)
    recipients: int
    to: str | None = None
    chunk: int | None = None
    line_request_id: str | None = None
    attempts: int = 1


@registry.register
class MessageSkipped(_Outcome):
    """Recipients not sent to because they blocked the account."""

    TYPE = "cityhall.notify.message_skipped.v1"
    recipients: list[str]
    reason: Literal["blocked"] = "blocked"


Outcome = MessageDelivered | MessageDeliveryFailed | MessageSkipped


# --- notices: campaigns and emergency alerts (stream `notice-<id>`) --------------------------

NoticeKind = Literal["campaign", "alert"]


class _Draft(BaseModel):
    """A notice as drafted: the command's fields, and the event's."""

    notice_id: uuid.UUID
    kind: NoticeKind
    title: str
    interest: str | None
    """A campaign's interest: residents who stopped it (配信停止) are skipped. None for alerts."""
    condition: dict[str, Any]
    """The segment (`segments.parse`)."""
    texts: dict[str, str]
    """Language key → text; "ja" always, the resident's language chooses."""
    author: str
    at: datetime
    template: str | None = None
    """A card from `composer.TEMPLATES`; None: a text."""
    fields: dict[str, dict[str, str]] = Field(default_factory=dict)
    """Language key → the template's fields in that language."""
    image: uuid.UUID | None = None
    """An image staff uploaded (`notice_images`)."""
    titles: dict[str, str] = Field(default_factory=dict)
    """Language key → the title in that language (Japanese `title` where there is none)."""


class DraftNotice(_Draft):
    """An author drafts a notice: who it goes to and what it says (a text per language)."""

    model_config = ConfigDict(frozen=True)


class ApproveNotice(BaseModel):
    model_config = ConfigDict(frozen=True)
    by: str
    at: datetime
    send_at: datetime | None = None
    """None: now."""
    weekly: bool = False
    """Again every week at the same time (a garbage-day reminder) until cancelled."""


class CancelNotice(BaseModel):
    model_config = ConfigDict(frozen=True)
    by: str
    at: datetime


class CompleteNotice(BaseModel):
    model_config = ConfigDict(frozen=True)
    delivered: int
    failed: int
    skipped: int
    at: datetime


NoticeCommand = DraftNotice | ApproveNotice | CancelNotice | CompleteNotice


def notice_stream(notice_id: uuid.UUID) -> str:
    return f"notice-{notice_id}"


@registry.register
class NoticeDrafted(Event, _Draft):
    TYPE = "cityhall.notify.notice_drafted.v1"


@registry.register
class NoticeApproved(Event):
    TYPE = "cityhall.notify.notice_approved.v1"
    notice_id: uuid.UUID
    by: str
    at: datetime
    send_at: datetime
    weekly: bool = False


@registry.register
class NoticeCancelled(Event):
    TYPE = "cityhall.notify.notice_cancelled.v1"
    notice_id: uuid.UUID
    by: str
    at: datetime


@registry.register
class NoticeCompleted(Event):
    """Every chunk was sent or cancelled: the notice's statistics."""

    TYPE = "cityhall.notify.notice_completed.v1"
    notice_id: uuid.UUID
    delivered: int
    failed: int
    skipped: int
    at: datetime
