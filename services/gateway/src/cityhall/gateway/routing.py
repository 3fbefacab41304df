"""Which domain an event goes to: the gateway's only state, the `dialogs` table.

- A postback's data is a query string naming its domain (`domain=certificates&action=menu`);
  the resident is in that domain's dialog from then on. Data without a known domain goes to
  the guide and leaves the dialog as it is.
- Text, photos, locations, stickers and other messages go to the domain whose dialog the
  resident is in, and keep that dialog alive; after `IDLE` without any, to the guide.
- Follow and unfollow go to notify (it keeps the friend registry and sends the welcome);
  both end any dialog, so a returning resident starts with the guide.
- Other event types go to the guide.

Services move a resident's dialog with `DialogClaimed` / `DialogReleased` on `line.dialogs`
(see `apply_dialog_event`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from cityhall.events.db import Connection
from cityhall.events.envelope import Envelope, registry
from cityhall.gateway.declared import DOMAINS
from cityhall.gateway.webhook import Received
from cityhall.line import postback
from cityhall.line.contracts import DEFAULT_DOMAIN, DialogClaimed, DialogReleased
from cityhall.line.dialog import IDLE


@dataclass(frozen=True)
class Dialog:
    """A row of `dialogs`: the domain a resident talks to, and when they last did."""

    domain: str
    updated_at: datetime


def postback_domain(data: str) -> str | None:
    """The domain a postback's data names, if it names one we know."""
    tapped = postback.decode(data)
    return tapped.domain if tapped is not None and tapped.domain in DOMAINS else None


def route(dialog: Dialog | None, event: Received, now: datetime) -> tuple[str, Dialog | None]:
    """The domain for `event`, and the resident's dialog after it."""
    match event.routing:
        case "notify":
            return "notify", None
        case "guide":
            return DEFAULT_DOMAIN, dialog
        case "postback":
            domain = postback_domain(event.postback_data or "")
            if domain is None:
                return DEFAULT_DOMAIN, dialog
            return domain, Dialog(domain, now)
        case "dialog":
            if dialog is None or dialog.updated_at <= now - IDLE:
                return DEFAULT_DOMAIN, dialog  # a stale row is left to be replaced
            return dialog.domain, Dialog(dialog.domain, max(dialog.updated_at, now))


async def load_dialogs(conn: Connection, user_ids: Iterable[str]) -> dict[str, Dialog]:
    """The residents' dialogs, locked until the caller's transaction ends."""
    rows = await conn.fetch(
        "SELECT user_id, domain, updated_at FROM dialogs WHERE user_id = ANY($1::text[]) FOR UPDATE",
        list(user_ids),
    )
    return {r["user_id"]: Dialog(r["domain"], r["updated_at"]) for r in rows}


async def save_dialogs(
    conn: Connection, before: Mapping[str, Dialog], after: Mapping[str, Dialog | None]
) -> None:
    """Write the dialogs that routing changed, in one statement."""
    ended = [user for user, dialog in after.items() if dialog is None and user in before]
    changed = {user: d for user, d in after.items() if d is not None and d != before.get(user)}
    if not ended and not changed:
        return
    await conn.execute(
        """WITH ended AS (DELETE FROM dialogs WHERE user_id = ANY($1::text[]))
           INSERT INTO dialogs (user_id, domain, updated_at)
           SELECT * FROM unnest($2::text[], $3::text[], $4::timestamptz[])
           ON CONFLICT (user_id) DO UPDATE SET domain = excluded.domain, updated_at = excluded.updated_at""",
        ended,
        list(changed),
        [d.domain for d in changed.values()],
        [d.updated_at for d in changed.values()],
    )


async def _enter(conn: Connection, user_id: str, domain: str, now: datetime) -> None:
    await conn.execute(
        """INSERT INTO dialogs (user_id, domain, updated_at) VALUES ($1, $2, $3)
           ON CONFLICT (user_id) DO UPDATE SET domain = excluded.domain, updated_at = excluded.updated_at""",
        user_id,
        domain,
        now,
    )


async def apply_dialog_event(conn: Connection, envelope: Envelope, now: datetime) -> None:
    """A service claims or releases a resident's dialog (consumed from `line.dialogs`)."""
    if not registry.knows(envelope.type):
        return  # a newer event type on the topic: nothing for this version of the gateway
    event = envelope.event()
    if isinstance(event, DialogClaimed) and event.domain in DOMAINS:
        await _enter(conn, event.user_id, event.domain, now)
    elif isinstance(event, DialogReleased):
        # Only the domain that holds the dialog can release it.
        await conn.execute(
            "DELETE FROM dialogs WHERE user_id = $1 AND domain = $2", event.user_id, event.domain
        )
