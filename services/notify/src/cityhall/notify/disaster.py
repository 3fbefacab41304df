"""Disaster mode: an authorised role (`bousai`, 危機管理課) switches it on or off with a reason.

The switch is the event `DisasterModeSwitched` in notify's stream `disasterMode-town` (who, when,
why; switching it to what it is already appends nothing), written with its audit entry in one
transaction. notify's relay publishes it on `line.richmenu`, where the gateway, which owns the
rich menu, switches every resident's menu to the disaster menu and back.

The disaster menu's tiles that notify answers: 安否確認 (the newest safety check, with its
answer buttons) and 災害情報 (the emergency alerts of the last days).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cityhall.events.db import Connection, Pool
from cityhall.events.decider import CommandHandler, DomainError
from cityhall.events.store import EventStore
from cityhall.line.contracts import DISASTER_MODE_KEY, DISASTER_MODE_STREAM, RICH_MENU_TOPIC
from cityhall.notify import projections
from cityhall.notify.domain import DisasterMode, disaster_decider
from cityhall.notify.events import SOURCE, SwitchDisasterMode
from cityhall.notify.safety import Safety
from cityhall.web import StaffUser, record_view

ROLE = "bousai"
"""危機管理課: the role that switches disaster mode."""

RECENT = timedelta(days=3)
"""How far back the 安否確認 and 災害情報 tiles look."""

MAX_REASON = 200


@dataclass(frozen=True)
class Facts:
    """What the disaster tiles answer with, read in the intent's transaction."""

    check: tuple[uuid.UUID, str] | None
    """The newest safety check (its id and title), if one was started recently."""
    alerts: list[dict[str, Any]]


class Disaster:
    def __init__(self, pool: Pool, store: EventStore, safety: Safety) -> None:
        self.pool, self.safety = pool, safety
        self.switches: CommandHandler[SwitchDisasterMode, DisasterMode] = CommandHandler(
            store, disaster_decider, source=SOURCE
        )

    async def state(self, conn: Connection | None = None) -> DisasterMode:
        state, _version = await self.switches.load(DISASTER_MODE_STREAM, conn=conn)
        return state

    async def switch(self, user: StaffUser, on: bool, reason: str, at: datetime) -> bool:
        """Switch disaster mode; False when it already was so (nothing recorded)."""
        reason = reason.strip()
        if not 1 <= len(reason) <= MAX_REASON:
            raise DomainError("invalid", f"理由を1文字以上{MAX_REASON}文字以内で入力してください。")
        command = SwitchDisasterMode(on=on, by=user.username, reason=reason, at=at)
        async with self.pool.acquire() as conn, conn.transaction():
            decision = await self.switches.handle(
                DISASTER_MODE_STREAM, command, conn=conn, topic=RICH_MENU_TOPIC, key=DISASTER_MODE_KEY
            )
            if decision.events:
                action = "disaster_mode_on" if on else "disaster_mode_off"
                await record_view(conn, user, action, DISASTER_MODE_STREAM, {"reason": reason})
        return bool(decision.events)

    async def history(self, limit: int = 20) -> list[dict[str, Any]]:
        """The switches, newest first (who, when, why)."""
        rows = await self.pool.fetch(
            "SELECT data FROM events WHERE stream = $1 ORDER BY version DESC LIMIT $2",
            DISASTER_MODE_STREAM,
            limit,
        )
        return [dict(r["data"]) for r in rows]

    async def facts(self, conn: Connection, now: datetime) -> Facts:
        since = now - RECENT
        return Facts(await self.safety.latest(conn, since), await projections.recent_alerts(conn, since))
