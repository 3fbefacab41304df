"""Everything the emulator remembers, in memory, behind one lock.

Handlers run on the event loop, but the state may also be touched from other threads (a
test driving it directly while the app serves in a thread), so every method takes the lock; a
send's retry-key check, reply-token use, quota check and delivery happen under it as one
step, so two concurrent requests with the same retry key cannot both deliver.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cityhall.line_emulator.errors import LineApiError, not_found
from cityhall.line_emulator.rules import (
    INVALID_REPLY_TOKEN_MESSAGE,
    QUOTA_MESSAGE,
    RETRY_KEY_ACCEPTED_MESSAGE,
    RateLimiter,
)
from cityhall.line_emulator.settings import EmulatorSettings
from cityhall.line_emulator.spec import Spec

JSONObject = dict[str, Any]

# Message types a later message may quote (LINE returns a quoteToken only for these).
QUOTABLE_TYPES = frozenset({"text", "textV2", "sticker", "image", "video"})
# Endpoints whose sends count towards the monthly quota (replies are free).
QUOTA_ENDPOINTS = frozenset({"push", "multicast", "broadcast", "narrowcast"})
SUBSCRIBER_QUEUE_SIZE = 10_000


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Delivery:
    """One accepted send request."""

    endpoint: str
    request_id: str
    retry_key: str | None
    received_at: str
    messages: Sequence[JSONObject]
    sent: Sequence[JSONObject]
    """`{"id", "quoteToken"?}` per message, as push and reply return them."""
    recipients: int


def delivered_json(to: str, delivery: Delivery, index: int) -> JSONObject:
    """One message of a delivery as one recipient got it: the /_inspect record."""
    return {
        "to": to,
        "endpoint": delivery.endpoint,
        "id": delivery.sent[index]["id"],
        "message": delivery.messages[index],
        "requestId": delivery.request_id,
        "retryKey": delivery.retry_key,
        "receivedAt": delivery.received_at,
    }


@dataclass
class RichMenu:
    menu: JSONObject
    image: tuple[str, bytes] | None = None


@dataclass(eq=False)
class Subscription:
    """A live /_inspect/stream reader; deliveries are handed to its loop thread-safely."""

    to: str | None
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[JSONObject] = field(
        default_factory=lambda: asyncio.Queue(maxsize=SUBSCRIBER_QUEUE_SIZE)
    )

    def offer(self, item: JSONObject) -> None:
        def put() -> None:
            if not self.queue.full():  # a reader that stopped reading loses messages, not memory
                self.queue.put_nowait(item)

        with contextlib.suppress(RuntimeError):  # its loop is closed: the reader is gone
            self.loop.call_soon_threadsafe(put)


class EmulatorState:
    def __init__(self, settings: EmulatorSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._clock = clock
        self._lock = threading.RLock()
        self._ids = itertools.count(int(time.time() * 1000) * 1000)
        self._subscribers: dict[str | None, list[Subscription]] = defaultdict(list)
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._inbox: dict[str, Delivery | list[Delivery]] = {}
            self._users: dict[str, JSONObject] = {}
            self._blocked: set[str] = set()
            self._reply_tokens: dict[str, tuple[str, float]] = {}
            self._retry_keys: dict[str, tuple[float, Delivery]] = {}
            self._contents: dict[str, tuple[str, bytes]] = {}
            self._rich_menus: dict[str, RichMenu] = {}
            self._user_menus: dict[str, str] = {}
            self._default_menu: str | None = None
            self._narrowcasts: dict[str, JSONObject] = {}
            self._menu_batches: dict[str, JSONObject] = {}
            self._usage = 0
            self._stats: dict[str, Counter[str]] = defaultdict(Counter)

    def new_message_id(self) -> str:
        return str(next(self._ids))

    # --- sending -------------------------------------------------------------------------

    def send(
        self,
        endpoint: str,
        recipients: Sequence[str],
        messages: Sequence[JSONObject],
        request_id: str,
        retry_key: str | None = None,
    ) -> Delivery:
        """Accept one send request and deliver it to each recipient who has not blocked us.

        Raises 409 for a retry key accepted in the last 24 h (only accepted requests are
        remembered) and 429 when the monthly quota would be exceeded.
        """
        with self._lock:
            now = self._clock()
            if retry_key is not None:
                self._check_retry_key(retry_key, now)
            blocked = self._blocked
            targets = [to for to in recipients if to not in blocked] if blocked else list(recipients)
            self._stats[endpoint]["dropped"] += len(recipients) - len(targets)
            if endpoint in QUOTA_ENDPOINTS:
                quota = self.settings.monthly_quota
                if quota is not None and self._usage + len(targets) > quota:
                    raise LineApiError(429, QUOTA_MESSAGE)
                self._usage += len(targets)
            delivery = Delivery(
                endpoint=endpoint,
                request_id=request_id,
                retry_key=retry_key,
                received_at=now_iso(),
                messages=list(messages),
                sent=[self._sent_message(m) for m in messages],
                recipients=len(targets),
            )
            if retry_key is not None:
                self._retry_keys[retry_key] = (now + self.settings.retry_key_ttl, delivery)
                if len(self._retry_keys) % 10_000 == 0:  # forget expired keys now and then
                    self._retry_keys = {k: v for k, v in self._retry_keys.items() if v[0] > now}
            self._deliver(delivery, targets)
            return delivery

    def reply(self, reply_token: str, messages: Sequence[JSONObject], request_id: str) -> Delivery:
        """Use a registered reply token (once) to deliver to the user it was issued for."""
        with self._lock:
            entry = self._reply_tokens.pop(reply_token, None)
            if entry is None or entry[1] <= self._clock():
                raise LineApiError(400, INVALID_REPLY_TOKEN_MESSAGE)
            return self.send("reply", [entry[0]], messages, request_id)

    def _check_retry_key(self, key: str, now: float) -> None:
        accepted = self._retry_keys.get(key)
        if accepted is None:
            return
        expires, first = accepted
        if expires <= now:
            del self._retry_keys[key]
            return
        extra: JSONObject = {"sentMessages": list(first.sent)} if first.endpoint == "push" else {}
        raise LineApiError(
            409,
            RETRY_KEY_ACCEPTED_MESSAGE,
            headers={"x-line-accepted-request-id": first.request_id},
            extra=extra,
        )

    def _sent_message(self, message: Mapping[str, Any]) -> JSONObject:
        sent: JSONObject = {"id": self.new_message_id()}
        if message.get("type") in QUOTABLE_TYPES:
            sent["quoteToken"] = secrets.token_urlsafe(24)
        return sent

    def _deliver(self, delivery: Delivery, targets: Sequence[str]) -> None:
        # Hot path (a 500-recipient multicast, 200 times a second): one list append per
        # recipient; records are expanded only when someone reads them.
        keep = self.settings.max_messages_per_user
        if keep > 0:
            inbox = self._inbox
            for to in targets:
                held = inbox.get(to)
                if held is None:
                    # A first delivery is stored bare: a million residents getting one alert
                    # then cost a million dict entries, not a million lists for the GC to scan.
                    inbox[to] = delivery
                elif isinstance(held, Delivery):
                    inbox[to] = [held, delivery]
                else:
                    held.append(delivery)
                    if len(held) > keep * 2:  # trim in batches; reads slice to `keep`
                        del held[:-keep]
        if self._subscribers:
            for to in targets:
                self._publish(to, delivery)
        self._stats[delivery.endpoint]["delivered"] += len(targets) * len(delivery.messages)

    def _publish(self, to: str, delivery: Delivery) -> None:
        listeners = self._subscribers.get(to, []) + self._subscribers.get(None, [])
        for index in range(len(delivery.messages)):
            item = delivered_json(to, delivery, index)
            for subscription in listeners:
                subscription.offer(item)

    # --- recipients --------------------------------------------------------------------

    def friends(self) -> list[str]:
        """Broadcast and narrowcast audience: registered users who have not blocked us."""
        with self._lock:
            return [user for user in self._users if user not in self._blocked]

    def add_user(self, profile: JSONObject) -> None:
        with self._lock:
            self._users[profile["userId"]] = dict(profile)

    def users(self) -> list[JSONObject]:
        with self._lock:
            return [{**p, "blocked": p["userId"] in self._blocked} for p in self._users.values()]

    def profile(self, user_id: str) -> JSONObject:
        with self._lock:
            # LINE gives no profile for a user who never added the account or blocked it.
            if user_id not in self._users or user_id in self._blocked:
                raise not_found()
            return dict(self._users[user_id])

    def set_blocked(self, user_id: str, blocked: bool) -> None:
        with self._lock:
            (self._blocked.add if blocked else self._blocked.discard)(user_id)

    def add_reply_token(self, token: str, user_id: str) -> float:
        """Register a token the simulator put in a webhook event; returns its lifetime in s."""
        with self._lock:
            ttl = self.settings.reply_token_ttl
            now = self._clock()
            expired = [t for t, (_, exp) in self._reply_tokens.items() if exp <= now]
            for t in expired:  # tokens nobody used must not pile up
                del self._reply_tokens[t]
            self._reply_tokens[token] = (user_id, now + ttl)
            return ttl

    # --- narrowcast, quota --------------------------------------------------------------

    def record_narrowcast(self, delivery: Delivery) -> None:
        with self._lock:
            self._narrowcasts[delivery.request_id] = {
                "phase": "succeeded",
                "successCount": delivery.recipients,
                "failureCount": 0,
                "targetCount": delivery.recipients,
                "acceptedTime": delivery.received_at,
                "completedTime": delivery.received_at,
            }

    def narrowcast_progress(self, request_id: str) -> JSONObject:
        return self._progress(self._narrowcasts, request_id)

    def _progress(self, progresses: Mapping[str, JSONObject], request_id: str) -> JSONObject:
        """The progress of an asynchronous request (a narrowcast, a rich menu batch) by its id."""
        with self._lock:
            progress = progresses.get(request_id)
            if progress is None:
                raise not_found()
            return dict(progress)

    def usage(self) -> int:
        with self._lock:
            return self._usage

    # --- message content -----------------------------------------------------------------

    def add_content(self, content_type: str, data: bytes, message_id: str | None = None) -> str:
        with self._lock:
            message_id = message_id or self.new_message_id()
            self._contents[message_id] = (content_type, data)
            return message_id

    def content(self, message_id: str) -> tuple[str, bytes]:
        with self._lock:
            found = self._contents.get(message_id)
            if found is None:
                raise not_found()
            return found

    # --- rich menus ----------------------------------------------------------------------

    def create_rich_menu(self, menu: JSONObject) -> str:
        with self._lock:
            menu_id = f"richmenu-{uuid.uuid4().hex}"
            self._rich_menus[menu_id] = RichMenu({"richMenuId": menu_id, **menu})
            return menu_id

    def rich_menu(self, menu_id: str) -> JSONObject:
        return dict(self._menu(menu_id).menu)

    def rich_menus(self) -> list[JSONObject]:
        with self._lock:
            return [dict(m.menu) for m in self._rich_menus.values()]

    def delete_rich_menu(self, menu_id: str) -> None:
        with self._lock:
            self._menu(menu_id)
            del self._rich_menus[menu_id]
            self._user_menus = {u: m for u, m in self._user_menus.items() if m != menu_id}
            if self._default_menu == menu_id:
                self._default_menu = None

    def set_rich_menu_image(self, menu_id: str, content_type: str, data: bytes) -> None:
        with self._lock:
            menu = self._menu(menu_id)
            if menu.image is not None:
                raise LineApiError(400, "An image has already been uploaded to the richmenu")
            menu.image = (content_type, data)

    def rich_menu_image(self, menu_id: str) -> tuple[str, bytes]:
        with self._lock:
            image = self._menu(menu_id).image
            if image is None:
                raise not_found()
            return image

    def link_rich_menu(self, user_id: str, menu_id: str) -> None:
        with self._lock:
            self._require_image(menu_id)
            self._user_menus[user_id] = menu_id

    def unlink_rich_menu(self, user_id: str) -> None:
        with self._lock:
            self._user_menus.pop(user_id, None)

    def user_rich_menu_id(self, user_id: str) -> str:
        with self._lock:
            menu_id = self._user_menus.get(user_id)
            if menu_id is None:
                raise not_found("the user has no richmenu")
            return menu_id

    def set_default_rich_menu(self, menu_id: str | None) -> None:
        with self._lock:
            if menu_id is not None:
                self._require_image(menu_id)
            self._default_menu = menu_id

    def default_rich_menu_id(self) -> str:
        with self._lock:
            if self._default_menu is None:
                raise not_found("no default richmenu")
            return self._default_menu

    def check_rich_menu_batch(self, operations: Sequence[Mapping[str, Any]]) -> None:
        """LINE's 400 for a batch naming a menu that does not exist (or a `to` with no image)."""
        with self._lock:
            for operation in operations:
                for end in ("from", "to"):
                    if end in operation and operation[end] not in self._rich_menus:
                        raise LineApiError(400, f"richmenu not found: {operation[end]}")
                if "to" in operation:
                    self._require_image(operation["to"])

    def rich_menu_batch(self, operations: Sequence[Mapping[str, Any]], request_id: str) -> None:
        """Replace or unlink the menus linked to users, all at once (LINE does it asynchronously;
        here it has succeeded when the 202 is sent, and its progress says so)."""
        with self._lock:
            self.check_rich_menu_batch(operations)
            accepted = now_iso()
            for operation in operations:
                match operation["type"]:
                    case "link":
                        self._user_menus = {
                            u: operation["to"] if m == operation["from"] else m
                            for u, m in self._user_menus.items()
                        }
                    case "unlink":
                        self._user_menus = {
                            u: m for u, m in self._user_menus.items() if m != operation["from"]
                        }
                    case "unlinkAll":
                        self._user_menus = {}
            self._menu_batches[request_id] = {
                "phase": "succeeded",
                "acceptedTime": accepted,
                "completedTime": now_iso(),
            }

    def rich_menu_batch_progress(self, request_id: str) -> JSONObject:
        return self._progress(self._menu_batches, request_id)

    def applied_rich_menu(self, user_id: str) -> tuple[JSONObject, str]:
        """The menu the user sees: their linked one, else the default; and which of the two."""
        with self._lock:
            linked = self._user_menus.get(user_id)
            if linked is not None:
                return self.rich_menu(linked), "linked"
            if self._default_menu is not None:
                return self.rich_menu(self._default_menu), "default"
            raise not_found("the user has no richmenu")

    def _menu(self, menu_id: str) -> RichMenu:
        with self._lock:
            menu = self._rich_menus.get(menu_id)
            if menu is None:
                raise not_found("richmenu not found")
            return menu

    def _require_image(self, menu_id: str) -> None:
        if self._menu(menu_id).image is None:
            raise LineApiError(400, "must upload richmenu image before applying it to user")

    # --- inspection ----------------------------------------------------------------------

    def messages(self, to: str | None = None) -> list[JSONObject]:
        """What was delivered to `to` (or to anyone), oldest first, the newest `keep` per user."""
        with self._lock:
            keep = self.settings.max_messages_per_user
            records: list[tuple[str, Delivery, int]] = []
            for user in [to] if to is not None else list(self._inbox):
                held = self._inbox.get(user, [])
                deliveries = [held] if isinstance(held, Delivery) else held[-keep:]
                flat = [(user, d, i) for d in deliveries for i in range(len(d.messages))]
                records += flat[-keep:]  # a delivery holds up to 5 messages
        # Message ids grow with time, so they order deliveries across users.
        records.sort(key=lambda r: int(r[1].sent[r[2]]["id"]))
        return [delivered_json(*r) for r in records]

    def subscribe(self, to: str | None) -> Subscription:
        subscription = Subscription(to, asyncio.get_running_loop())
        with self._lock:
            self._subscribers[to].append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            listeners = self._subscribers.get(subscription.to, [])
            if subscription in listeners:
                listeners.remove(subscription)
            if not listeners:
                self._subscribers.pop(subscription.to, None)

    def count(self, endpoint: str, status: int) -> None:
        with self._lock:
            counter = self._stats[endpoint]
            counter["requests"] += 1
            if 200 <= status < 300:
                counter["accepted"] += 1
            elif status == 429:
                counter["rateLimited"] += 1
            elif status == 409:
                counter["conflicts"] += 1
            else:
                counter[f"status{status}"] += 1

    def stats(self) -> JSONObject:
        with self._lock:
            zero = {"requests": 0, "accepted": 0, "rateLimited": 0, "conflicts": 0}
            return {
                "endpoints": {name: {**zero, **counter} for name, counter in sorted(self._stats.items())},
                "quotaConsumption": self._usage,
            }


@dataclass(frozen=True)
class Emulator:
    """The state and what every route needs beside it; also `app.state.emulator`, for tests and
    the embedded run. Here rather than in `app` so that the routers need not import their app."""

    settings: EmulatorSettings
    spec: Spec
    state: EmulatorState
    limiter: RateLimiter

    def reset(self) -> None:
        self.state.reset()
        self.limiter.reset()
