"""community's read models: the associations, their members (names sealed), the circulars, and
each circular's recipients with when they read it; and the queries the pages and the dialog use."""

import uuid
from collections.abc import Sequence
from typing import Any

from cityhall.community.dialog import Membership
from cityhall.community.domain import (
    AssociationRegistered,
    CircularPosted,
    CircularRead,
    JoinApproved,
    JoinDeclined,
    JoinRequested,
    MemberLeft,
    ReadersReminded,
)
from cityhall.events.db import Connection, Pool
from cityhall.events.projection import Projection, TableProjection
from cityhall.events.store import RecordedEvent

ASSOCIATIONS = TableProjection(
    "community_associations",
    """association_id uuid PRIMARY KEY, name text NOT NULL, district text NOT NULL,
       registered_at timestamptz NOT NULL""",
    key="association_id",
    indexes=["(district)"],
    inserts={
        AssociationRegistered: lambda e, r: {
            "name": e.name,
            "district": e.district,
            "registered_at": r.recorded_at,
        }
    },
)
MEMBERS = TableProjection(
    "community_members",
    """member_id uuid PRIMARY KEY, association_id uuid NOT NULL, user_id text NOT NULL, name text NOT NULL,
       pending boolean NOT NULL, requested_at timestamptz NOT NULL, joined_at timestamptz""",
    key="member_id",
    indexes=["(association_id)", "(user_id)"],
    inserts={
        JoinRequested: lambda e, r: {
            "association_id": e.association_id,
            "user_id": e.user_id,
            "name": e.name,
            "pending": True,
            "requested_at": r.recorded_at,
        }
    },
    updates={JoinApproved: lambda e, r: {"pending": False, "joined_at": r.recorded_at}},
    deletes=[JoinDeclined, MemberLeft],
)
CIRCULARS = TableProjection(
    "community_circulars",
    """circular_id uuid PRIMARY KEY, association_id uuid NOT NULL, number text NOT NULL, title text NOT NULL,
       text text NOT NULL, by text NOT NULL, recipients integer NOT NULL, posted_at timestamptz NOT NULL,
       reminded_at timestamptz""",
    key="circular_id",
    indexes=["(association_id, posted_at DESC)"],
    inserts={
        CircularPosted: lambda e, r: {
            **e.model_dump(exclude={"circular_id", "recipients"}),
            "recipients": len(e.recipients),
            "posted_at": r.recorded_at,
        }
    },
    updates={ReadersReminded: lambda e, r: {"reminded_at": e.at}},
)


class Recipients:
    """`community_recipients`: one row per circular and recipient, with when they read it."""

    name = "community_recipients"

    async def create(self, conn: Connection, table: str) -> None:
        await conn.execute(
            f"""CREATE TABLE "{table}" (circular_id uuid NOT NULL, user_id text NOT NULL,
                read_at timestamptz, PRIMARY KEY (circular_id, user_id))"""
        )
        await conn.execute(f'CREATE INDEX ON "{table}" (user_id)')

    async def apply(self, conn: Connection, table: str, events: Sequence[RecordedEvent]) -> None:
        for recorded in events:
            if recorded.type == CircularPosted.TYPE:
                posted = recorded.envelope.event()
                assert isinstance(posted, CircularPosted)
                await conn.execute(
                    f"""INSERT INTO "{table}" (circular_id, user_id) SELECT $1, unnest($2::text[])
                        ON CONFLICT DO NOTHING""",
                    posted.circular_id,
                    posted.recipients,
                )
            elif recorded.type == CircularRead.TYPE:
                read = recorded.envelope.event()
                assert isinstance(read, CircularRead)
                await conn.execute(
                    f'UPDATE "{table}" SET read_at = $3 WHERE circular_id = $1 AND user_id = $2 AND read_at IS NULL',
                    read.circular_id,
                    read.user_id,
                    recorded.recorded_at,
                )


RECIPIENTS = Recipients()
READ_MODELS: list[Projection] = [ASSOCIATIONS, MEMBERS, CIRCULARS, RECIPIENTS]


async def associations(db: Pool | Connection, district: str | None = None) -> list[dict[str, Any]]:
    """The associations (of one 町), with their members' and pending requests' counts."""
    rows = await db.fetch(
        f"""SELECT a.*, count(m.*) FILTER (WHERE NOT m.pending) AS members,
                   count(m.*) FILTER (WHERE m.pending) AS pending
            FROM {ASSOCIATIONS.name} a LEFT JOIN {MEMBERS.name} m USING (association_id)
            WHERE $1::text IS NULL OR a.district = $1
            GROUP BY a.association_id ORDER BY a.district, a.name""",
        district,
    )
    return [dict(r) for r in rows]


async def search(db: Pool | Connection, words: str, limit: int = 12) -> list[tuple[uuid.UUID, str]]:
    """The associations whose names contain `words` (taken literally), by name."""
    pattern = "%" + words.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = await db.fetch(
        f"SELECT association_id, name FROM {ASSOCIATIONS.name} WHERE name ILIKE $1 ORDER BY name LIMIT $2",
        pattern,
        limit,
    )
    return [(r["association_id"], r["name"]) for r in rows]


async def memberships(db: Pool | Connection, user_id: str) -> list[Membership]:
    rows = await db.fetch(
        f"""SELECT m.association_id, a.name, m.pending FROM {MEMBERS.name} m
            JOIN {ASSOCIATIONS.name} a USING (association_id) WHERE m.user_id = $1 ORDER BY a.name""",
        user_id,
    )
    return [Membership(r["association_id"], r["name"], r["pending"]) for r in rows]


async def members(db: Pool | Connection, association_id: uuid.UUID) -> list[dict[str, Any]]:
    """An association's members and requests (names sealed), requests first."""
    rows = await db.fetch(
        f"""SELECT * FROM {MEMBERS.name} WHERE association_id = $1
            ORDER BY pending DESC, requested_at""",
        association_id,
    )
    return [dict(r) for r in rows]


async def received(
    db: Pool | Connection, user_id: str, limit: int = 5
) -> list[tuple[uuid.UUID, str, str, Any, bool]]:
    """The newest circulars a resident received: (id, association, title, posted at, read)."""
    rows = await db.fetch(
        f"""SELECT c.circular_id, a.name, c.title, c.posted_at, r.read_at IS NOT NULL AS read
            FROM {RECIPIENTS.name} r JOIN {CIRCULARS.name} c USING (circular_id)
            JOIN {ASSOCIATIONS.name} a ON a.association_id = c.association_id
            WHERE r.user_id = $1 ORDER BY c.posted_at DESC LIMIT $2""",
        user_id,
        limit,
    )
    return [(r["circular_id"], r["name"], r["title"], r["posted_at"], r["read"]) for r in rows]


async def circulars(db: Pool | Connection, association_id: uuid.UUID) -> list[dict[str, Any]]:
    """An association's circulars, newest first, with how many have read each."""
    rows = await db.fetch(
        f"""SELECT c.*, count(r.read_at) AS readers FROM {CIRCULARS.name} c
            LEFT JOIN {RECIPIENTS.name} r USING (circular_id)
            WHERE c.association_id = $1 GROUP BY c.circular_id ORDER BY c.posted_at DESC LIMIT 100""",
        association_id,
    )
    return [dict(r) for r in rows]


async def readers(db: Pool | Connection, circular_id: uuid.UUID) -> list[dict[str, Any]]:
    """A circular's recipients with their names (sealed) and when they read it; unread first."""
    rows = await db.fetch(
        f"""SELECT r.user_id, r.read_at, m.name, m.member_id FROM {RECIPIENTS.name} r
            JOIN {CIRCULARS.name} c USING (circular_id)
            LEFT JOIN {MEMBERS.name} m ON m.association_id = c.association_id AND m.user_id = r.user_id
            WHERE r.circular_id = $1 ORDER BY r.read_at IS NOT NULL, r.read_at""",
        circular_id,
    )
    return [dict(r) for r in rows]
