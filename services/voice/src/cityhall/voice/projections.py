"""The read model `voice_opinions` (one row per opinion) and the dashboard's queries."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from cityhall.events.db import Connection, Pool
from cityhall.events.store import RecordedEvent
from cityhall.voice.events import OpinionAnswered, OpinionSubmitted

TABLE = "voice_opinions"


class OpinionsProjection:
    name = TABLE

    async def create(self, conn: Connection, table: str) -> None:
        await conn.execute(
            f"""CREATE TABLE "{table}" (
                    opinion_id   uuid        PRIMARY KEY,
                    number       text        NOT NULL,
                    user_id      text        NOT NULL,
                    category     text        NOT NULL,
                    text         text        NOT NULL,
                    submitted_at timestamptz NOT NULL,
                    answer       text,
                    answered_by  text,
                    answered_at  timestamptz
                );
                CREATE INDEX ON "{table}" (submitted_at DESC);"""
        )

    async def apply(self, conn: Connection, table: str, events: Sequence[RecordedEvent]) -> None:
        for recorded in events:
            event = recorded.envelope.event() if recorded.type in _TYPES else None
            match event:
                case OpinionSubmitted():
                    await conn.execute(
                        f"""INSERT INTO "{table}" (opinion_id, number, user_id, category, text, submitted_at)
                            VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (opinion_id) DO NOTHING""",
                        event.opinion_id, event.number, event.user_id, event.category, event.text,
                        recorded.recorded_at,
                    )  # fmt: skip
                case OpinionAnswered():
                    await conn.execute(
                        f'UPDATE "{table}" SET answer = $2, answered_by = $3, answered_at = $4 WHERE opinion_id = $1',
                        event.opinion_id, event.text, event.by, recorded.recorded_at,
                    )  # fmt: skip


_TYPES = frozenset({OpinionSubmitted.TYPE, OpinionAnswered.TYPE})


async def opinions(pool: Pool, limit: int = 200) -> list[dict[str, Any]]:
    """The newest opinions, unanswered first (no personal text: the list shows none)."""
    rows = await pool.fetch(
        f"""SELECT opinion_id, number, category, submitted_at, answered_at FROM {TABLE}
            ORDER BY answered_at IS NOT NULL, submitted_at DESC LIMIT $1""",
        limit,
    )
    return [dict(r) for r in rows]


async def opinion(conn: Connection | Pool, opinion_id: uuid.UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(f"SELECT * FROM {TABLE} WHERE opinion_id = $1", opinion_id)
    return dict(row) if row else None
