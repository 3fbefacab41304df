"""Test support: a resident who taps and types, and reads what the LINE emulator delivered.

    resident = Resident(new_user(), emulator_client, Intents(composed.publish, "certificates"))
    menu = await resident.tap("domain=certificates&action=menu", expect="証明書")
    await resident.say("はい", expect="ありがとうございます")

How a resident's act reaches the city hall is an `Act`: `Intents` publishes the `ResidentIntent`
the gateway would (a domain service tested without the gateway); `cityhall.gateway.testing.
Webhooks` posts the signed webhook LINE would send to the gateway's /callback. Either way the
resident is given a reply token the emulator knows, and reads its replies from the emulator's
`/_inspect/messages`.

Only tests import this module (httpx, a dev dependency of every test suite, is imported for
type checking only).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from cityhall.events.envelope import Envelope
from cityhall.events.testing import wait_for
from cityhall.line.build import postback_buttons
from cityhall.line.contracts import IntentKind, ResidentIntent, intent_id, intents_topic
from cityhall.line.dialog import Turn, intent_of
from cityhall.line.webhooks import ulid

if TYPE_CHECKING:
    import httpx

S = TypeVar("S")


def new_user() -> str:
    """A LINE user id: `U` and 32 hex digits."""
    return "U" + uuid.uuid4().hex


def content(message: dict[str, Any]) -> str:
    """A message as JSON text, for `fragment in content(message)`."""
    return json.dumps(message, ensure_ascii=False)


def _actions(node: Any) -> list[dict[str, Any]]:
    """Every action object anywhere in a message (buttons, quick replies, bubbles)."""
    found: list[dict[str, Any]] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            action = item.get("action")
            if isinstance(action, dict):
                found.append(action)
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return found


def _action(message: dict[str, Any], kind: str, label: str) -> dict[str, Any]:
    for action in _actions(message):
        if action.get("type") == kind and action.get("label") == label:
            return action
    raise AssertionError(f"no {kind} action labelled {label!r} in {content(message)[:600]}")


def find_postback(message: dict[str, Any], label: str) -> str:
    """The postback data of the button or quick reply labelled `label` anywhere in a message."""
    return str(_action(message, "postback", label)["data"])


def find_uri(message: dict[str, Any], label: str) -> str:
    """The URI of the link button labelled `label` anywhere in a message."""
    return str(_action(message, "uri", label)["uri"])


def intent(
    domain: str,
    kind: IntentKind,
    user_id: str,
    *,
    reply_token: str | None = None,
    timestamp: datetime | None = None,
    **fields: Any,
) -> Envelope:
    """The `ResidentIntent` the gateway publishes on `intents.<domain>` for one webhook event."""
    event_id = ulid()
    event = ResidentIntent(
        webhook_event_id=event_id,
        user_id=user_id,
        domain=domain,
        kind=kind,
        timestamp=timestamp or datetime.now(UTC),
        reply_token=reply_token,
        **fields,
    )
    return Envelope.wrap(
        event,
        source="/services/gateway",
        subject=f"intent-{event_id}",
        id=intent_id(event_id),
        topic=intents_topic(domain),
        key=user_id,
    )


def dialog_turn(
    domain: str, kind: IntentKind, session: S | None, user_id: str, **fields: Any
) -> Turn[S, Any]:
    """A dialog's turn on the intent the gateway would publish: a dialog tested as a pure function."""
    envelope = intent(domain, kind, user_id, **fields)
    resolved = intent_of(envelope)
    assert resolved is not None
    return Turn(resolved, envelope, session)


def said(turn: Turn[Any, Any]) -> str:
    """A turn's replies as JSON text, for `fragment in said(turn)`."""
    return json.dumps([m.to_dict() for m in turn.replies], ensure_ascii=False)


def tap(turn: Turn[Any, Any], label: str) -> str:
    """The postback data of the button labelled `label` in a turn's replies."""
    return next(b.data for b in postback_buttons(turn.replies) if b.label == label)


class Act(Protocol):
    """Makes the city hall see one resident act (a tap, a text, a photo) with its reply token."""

    async def __call__(self, user_id: str, kind: IntentKind, reply_token: str, **fields: Any) -> None: ...


@dataclass
class Intents:
    """Acts as the gateway does: a `ResidentIntent` on `intents.<domain>`."""

    publish: Callable[[Envelope], Awaitable[None]]
    domain: str

    async def __call__(self, user_id: str, kind: IntentKind, reply_token: str, **fields: Any) -> None:
        await self.publish(intent(self.domain, kind, user_id, reply_token=reply_token, **fields))


@dataclass
class Resident:
    """One LINE user: acts through `act`, reads its messages at the LINE emulator."""

    user_id: str
    emulator: httpx.AsyncClient
    """A client whose base URL is the LINE emulator."""
    act: Act
    timeout: float = 20.0

    async def messages(self) -> list[dict[str, Any]]:
        response = await self.emulator.get("/_inspect/messages", params={"to": self.user_id})
        response.raise_for_status()
        return [m["message"] for m in response.json()["messages"]]

    async def count(self, fragment: str = "") -> int:
        """How many messages arrived (that contain `fragment`)."""
        return sum(fragment in content(m) for m in await self.messages())

    async def send(self, kind: IntentKind, **fields: Any) -> int:
        """Act with a fresh reply token the emulator knows, without waiting for an answer; the
        number of messages before, for `expect(since=...)`."""
        mark = len(await self.messages())
        token = uuid.uuid4().hex
        response = await self.emulator.post(
            "/_inspect/reply-tokens", json={"replyToken": token, "userId": self.user_id}
        )
        response.raise_for_status()
        await self.act(self.user_id, kind, token, **fields)
        return mark

    async def expect(self, fragment: str, since: int = 0, timeout: float | None = None) -> dict[str, Any]:
        """The first message from index `since` that contains `fragment` (waits for it)."""
        found: list[dict[str, Any]] = []

        async def arrived() -> bool:
            found[:] = [m for m in (await self.messages())[since:] if fragment in content(m)]
            return bool(found)

        await wait_for(
            arrived,
            timeout=timeout or self.timeout,
            message=f"a message with {fragment!r} for {self.user_id}",
        )
        return found[0]

    async def tap(self, data: str, expect: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        """Tap a button whose postback data is `data`; the first answer containing `expect`."""
        mark = await self.send("postback", postback_data=data, postback_params=params)
        return await self.expect(expect, since=mark)

    async def say(self, text: str, expect: str) -> dict[str, Any]:
        mark = await self.send("text", text=text)
        return await self.expect(expect, since=mark)

    async def send_photo(self, data: bytes, expect: str, content_type: str = "image/jpeg") -> dict[str, Any]:
        """Send a picture: stored at the emulator (LINE keeps a message's content), then sent."""
        stored = await self.emulator.post(
            "/_inspect/content", content=data, headers={"content-type": content_type}
        )
        stored.raise_for_status()
        mark = await self.send("image", message_id=stored.json()["messageId"])
        return await self.expect(expect, since=mark)
