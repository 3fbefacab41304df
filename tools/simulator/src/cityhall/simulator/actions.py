"""What a resident does, played as LINE would: the emulator is told, the webhook is signed
and posted to the gateway, and the outcome is recorded for the chat page.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cityhall.line.webhooks import SIGNATURE_HEADER, sign
from cityhall.simulator.emulator import EmulatorClient
from cityhall.simulator.residents import Resident, ResidentBook
from cityhall.simulator.stickers import sticker
from cityhall.simulator.town import address_of
from cityhall.simulator.webhook import USER_ID_PATTERN, JSONObject, WebhookBuilder

WEBHOOK_USER_AGENT = "LineBotWebhook/2.0"
PARAM_FORMATS = {
    "date": re.compile(r"^\d{4}-\d{2}-\d{2}$"),
    "time": re.compile(r"^\d{2}:\d{2}$"),
    "datetime": re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$"),
    "newRichMenuAliasId": re.compile(r"^[a-z0-9_-]{1,32}$"),
    "status": re.compile(r"^(SUCCESS|RICHMENU_ALIAS_ID_NOTFOUND|RICHMENU_NOTFOUND|FAILED)$"),
}
"""The postback `params` LINE sends: the datetime picker's value, or a rich menu switch."""


@dataclass(frozen=True)
class SimulatorConfig:
    channel_secret: str
    """Signs the webhooks, as LINE signs them with the channel's secret."""
    access_token: str
    """Bearer token for the emulator."""
    line_api_url: str
    """The emulator's base URL (what the services' SDK `host` points at)."""
    callback_url: str
    """The gateway's webhook URL."""
    data_dir: Path | None = None
    """Where residents are kept between runs; None keeps them in memory only."""
    bot_user_id: str | None = None
    """The webhook `destination`; None asks the emulator's GET /v2/bot/info."""
    account_name: str = "ポケット市役所"
    webhook_timeout: float = 10.0


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextAction(_Action):
    type: Literal["text"]
    text: str = Field(min_length=1, max_length=5000)


class PostbackAction(_Action):
    type: Literal["postback"]
    data: str = Field(min_length=1, max_length=300)
    params: dict[str, str] | None = None
    displayText: str | None = Field(default=None, max_length=300)
    """What the resident's side of the chat shows; LINE does not send it in the webhook."""

    @field_validator("params")
    @classmethod
    def _params(cls, params: dict[str, str] | None) -> dict[str, str] | None:
        for key, value in (params or {}).items():
            pattern = PARAM_FORMATS.get(key)
            if pattern is None:
                raise ValueError(f"unknown postback param {key!r}; LINE sends {', '.join(PARAM_FORMATS)}")
            if not pattern.match(value):
                raise ValueError(f"postback param {key}={value!r} is not in LINE's format")
        return params


class LocationAction(_Action):
    type: Literal["location"]
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    title: str | None = Field(default=None, max_length=100)
    address: str | None = Field(default=None, max_length=100)


class StickerAction(_Action):
    type: Literal["sticker"]
    packageId: str
    stickerId: str

    @model_validator(mode="after")
    def _known(self) -> StickerAction:
        # Only the stickers the page offers, whose stickerResourceType is known (STATIC).
        if sticker(self.packageId, self.stickerId) is None:
            raise ValueError("not one of the simulator's stickers (GET /sim/api/stickers)")
        return self


class FollowAction(_Action):
    type: Literal["follow"]


class UnfollowAction(_Action):
    type: Literal["unfollow"]


AnyAction = TextAction | PostbackAction | LocationAction | StickerAction | FollowAction | UnfollowAction
Action = Annotated[AnyAction, Field(discriminator="type")]
"""What the page posts to /sim/api/residents/{userId}/actions, told apart by `type`."""


class Refused(Exception):
    """The action makes no sense in the resident's state (e.g. following twice)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Outcome:
    """What happened to one webhook: the gateway's status (None if unreachable) and the record."""

    item: dict[str, Any]

    @property
    def delivered(self) -> bool:
        return bool(self.item["status"] == 200)


class Simulator:
    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self._http: httpx.AsyncClient | None = None
        self.emulator = EmulatorClient(self.http, config.line_api_url, config.access_token)
        self.residents = ResidentBook(
            config.data_dir / "simulator-residents.json" if config.data_dir is not None else None
        )
        self._builder: WebhookBuilder | None = None

    def http(self) -> httpx.AsyncClient:
        """One client, made on first use so that it belongs to the event loop that serves."""
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=httpx.Timeout(10.0), limits=httpx.Limits(max_connections=100)
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def builder(self) -> WebhookBuilder:
        """The webhooks' `destination` is the bot's user id: configured, else the emulator's."""
        if self._builder is None:
            bot = self.config.bot_user_id or await self.emulator.bot_user_id()
            if not USER_ID_PATTERN.match(bot):
                # LINE's is always U + 32 hex digits; keep the webhook valid whatever we were given.
                bot = "U" + hashlib.sha256(bot.encode()).hexdigest()[:32]
            self._builder = WebhookBuilder(bot)
        return self._builder

    async def create_resident(self, display_name: str) -> Resident:
        resident = await self.residents.create(display_name)
        await self.emulator.add_user(resident.user_id, resident.display_name)
        return resident

    async def act(self, resident: Resident, action: AnyAction) -> Outcome:
        builder = await self.builder()
        user = resident.user_id
        # The emulator forgets everything when it restarts; telling it again costs nothing.
        await self.emulator.add_user(user, resident.display_name)
        display: dict[str, Any] = {}
        match action:
            case FollowAction():
                if resident.friendship == "friend":
                    raise Refused(409, "すでに友だちです。")
                unblocked = resident.friendship == "blocked"
                await self.emulator.set_blocked(user, False)
                await self.residents.set_friendship(user, "friend")
                event = builder.follow(user, is_unblocked=unblocked)
            case UnfollowAction():
                if resident.friendship != "friend":
                    raise Refused(409, "友だちではないため、ブロックできません。")
                await self.emulator.set_blocked(user, True)
                await self.residents.set_friendship(user, "blocked")
                event = builder.unfollow(user)
            case _ if resident.friendship == "blocked":
                raise Refused(409, "ブロック中はメッセージを送れません。ブロックを解除してください。")
            case TextAction(text=text):
                event = builder.text(user, text)
            case PostbackAction(data=data, params=params, displayText=display_text):
                event = builder.postback(user, data, params)
                if display_text:
                    display["displayText"] = display_text
            case StickerAction(packageId=package_id, stickerId=sticker_id):
                event = builder.sticker(user, package_id, sticker_id)
            case LocationAction():
                address = action.address or address_of(action.latitude, action.longitude)
                event = builder.location(user, action.latitude, action.longitude, action.title, address)
        return await self.deliver(resident, event, display)

    async def send_photo(self, resident: Resident, data: bytes, content_type: str) -> Outcome:
        if resident.friendship == "blocked":
            raise Refused(409, "ブロック中はメッセージを送れません。ブロックを解除してください。")
        builder = await self.builder()
        await self.emulator.add_user(resident.user_id, resident.display_name)
        message_id = await self.emulator.add_content(data, content_type)
        return await self.deliver(resident, builder.image(resident.user_id, message_id))

    async def deliver(
        self, resident: Resident, event: JSONObject, display: dict[str, Any] | None = None
    ) -> Outcome:
        """Post one event to the gateway as LINE would, and record it with the gateway's answer."""
        builder = await self.builder()
        if "replyToken" in event:
            await self.emulator.add_reply_token(event["replyToken"], resident.user_id)
        body = builder.body([event])
        headers = {
            "content-type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: sign(self.config.channel_secret, body),
            "user-agent": WEBHOOK_USER_AGENT,
        }
        item: dict[str, Any] = {
            "from": "resident",
            "id": event["webhookEventId"],
            "at": event["timestamp"],
            "event": event,
            **(display or {}),
        }
        try:
            response = await self.http().post(
                self.config.callback_url, content=body, headers=headers, timeout=self.config.webhook_timeout
            )
            item["status"] = response.status_code
            if response.status_code != 200:
                item["error"] = response.text[:500]
        except httpx.HTTPError as exc:
            item["status"] = None
            item["error"] = f"{self.config.callback_url} に接続できません: {exc!r}"
        self.residents.record(resident.user_id, item)
        return Outcome(item)

    async def history(self, resident: Resident) -> list[dict[str, Any]]:
        """Both sides of the chat in time order: what the resident sent and what the emulator delivered."""
        items = self.residents.sent(resident.user_id)
        for delivered in await self.emulator.messages(resident.user_id):
            items.append({"from": "account", "at": _ms(delivered.get("receivedAt")), **delivered})
        items.sort(key=lambda i: (i["at"], i["from"] == "account"))
        return items


def _ms(iso: Any) -> int:
    if isinstance(iso, str):
        try:
            return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)
        except ValueError:
            pass
    return int(time.time() * 1000)
