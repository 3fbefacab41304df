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

from datetime import datetime, timedelta
from urllib.parse import parse_qs

from cityhall.events.db import Connection
from cityhall.events.envelope import Envelope, registry
from cityhall.gateway.webhook import Received
from cityhall.line.contracts import DEFAULT_DOMAIN, DOMAINS, DialogClaimed, DialogReleased

IDLE = timedelta(minutes=30)


def postback_domain(data: str) -> str | None:
    """The domain a postback's data names, if it names one we know."""
    try:
        values = parse_qs(data, keep_blank_values=True, max_num_fields=50).get("domain", [])
    except ValueError:
        return None
    return values[0] if len(values) == 1 and values[0] in DOMAINS else None


async def route(conn: Connection, event: Received, now: datetime) -> str:
    """The domain for `event`, updating the resident's dialog row inside the caller's transaction."""
    match event.routing:
        case "notify":
            await conn.execute("DELETE FROM dialogs WHERE user_id = $1", event.user_id)
            return "notify"
        case "guide":
            return DEFAULT_DOMAIN
        case "postback":
            domain = postback_domain(event.postback_data or "")
            if domain is None:
                return DEFAULT_DOMAIN
            await _enter(conn, event.user_id, domain, now)
            return domain
        case "dialog":
            # Touch the row only while the dialog is fresh; a stale row is left to be replaced.
            current: str | None = await conn.fetchval(
                """UPDATE dialogs SET updated_at = greatest(updated_at, $2)
                   WHERE user_id = $1 AND updated_at > $3 RETURNING domain""",
                event.user_id,
                now,
                now - IDLE,
            )
            return current or DEFAULT_DOMAIN


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
