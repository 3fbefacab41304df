"""The read model `voice_opinions` (one row per opinion, `OPINIONS.row(db, id)`) and the list's query."""

from typing import Any

from cityhall.events.db import Pool
from cityhall.events.projection import TableProjection
from cityhall.voice.domain import OpinionAnswered, OpinionSubmitted

OPINIONS = TableProjection(
    "voice_opinions",
    """opinion_id uuid PRIMARY KEY, number text NOT NULL, user_id text NOT NULL, category text NOT NULL,
       text text NOT NULL, submitted_at timestamptz NOT NULL, answer text, answered_by text, answered_at timestamptz""",
    key="opinion_id",
    indexes=["(submitted_at DESC)"],
    inserts={OpinionSubmitted: lambda event, r: {**event.model_dump(), "submitted_at": r.recorded_at}},
    updates={
        OpinionAnswered: lambda e, r: {"answer": e.text, "answered_by": e.by, "answered_at": r.recorded_at}
    },
)


async def opinions(pool: Pool, limit: int = 200) -> dict[str, Any]:
    """The newest opinions, unanswered first (no personal text: the list shows none)."""
    rows = await pool.fetch(
        f"""SELECT opinion_id, number, category, submitted_at, answered_at FROM {OPINIONS.name}
            ORDER BY answered_at IS NOT NULL, submitted_at DESC LIMIT $1""",
        limit,
    )
    return {"opinions": [dict(r) for r in rows]}
