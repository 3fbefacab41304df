"""The read models and their queries: `reservations_bookings` (one row per booking),
`reservations_queue` (the waitlist and its offers) and `reservations_slots` (a clerk's capacity
or closing of a slot). Seats left are counted from them; the slot's stream stays the authority
when a booking is decided."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from cityhall.events.db import Connection, Pool
from cityhall.events.projection import TableProjection
from cityhall.events.store import RecordedEvent
from cityhall.reservations.events import (
    AttendanceMarked,
    BookingCancelled,
    BookingMade,
    CapacitySet,
    OfferLapsed,
    ResourceEdited,
    ResourceSeeded,
    SeatOffered,
    SlotClosed,
    WaitlistJoined,
    WaitlistLeft,
)

BOOKINGS = "reservations_bookings"
QUEUE = "reservations_queue"
SLOTS = "reservations_slots"
RESOURCES = "reservations_resources"
TABLES = (BOOKINGS, QUEUE, SLOTS, RESOURCES)


def _events(events: Sequence[RecordedEvent], types: frozenset[str]) -> list[tuple[RecordedEvent, Any]]:
    return [(r, r.envelope.event()) for r in events if r.type in types]


BOOKINGS_TABLE = TableProjection(
    BOOKINGS,
    """booking_id   uuid        PRIMARY KEY,
       number       text        NOT NULL,
       user_id      text        NOT NULL,
       resource     text        NOT NULL,
       start        timestamptz NOT NULL,
       answers      jsonb       NOT NULL,
       booked_by    text        NOT NULL,
       booked_at    timestamptz NOT NULL,
       status       text        NOT NULL DEFAULT 'booked',
       cancelled_by text,
       reason       text,
       cancelled_at timestamptz,
       attended     boolean""",
    key="booking_id",
    inserts={
        BookingMade: lambda e, r: {
            "number": e.number, "user_id": e.user_id, "resource": e.resource, "start": e.start,
            "answers": e.answers, "booked_by": e.by, "booked_at": r.recorded_at,
        },
    },
    updates={
        BookingCancelled: lambda e, r: {
            "status": "cancelled", "cancelled_by": e.by, "reason": e.reason, "cancelled_at": r.recorded_at,
        },
        AttendanceMarked: lambda e, r: {"attended": e.attended},
    },
    indexes=("(resource, start)", "(user_id, start)"),
)  # fmt: skip
"""One row per booking: who, which slot, the sealed answers, cancelled or not, attended or not."""


class QueueProjection:
    name = QUEUE
    types = frozenset(
        {
            WaitlistJoined.TYPE,
            SeatOffered.TYPE,
            OfferLapsed.TYPE,
            BookingMade.TYPE,
            SlotClosed.TYPE,
            WaitlistLeft.TYPE,
        }
    )

    async def create(self, conn: Connection, table: str) -> None:
        await conn.execute(
            f"""CREATE TABLE "{table}" (
                    resource  text        NOT NULL,
                    start     timestamptz NOT NULL,
                    user_id   text        NOT NULL,
                    status    text        NOT NULL,
                    offer_id  uuid,
                    until     timestamptz,
                    joined_at timestamptz NOT NULL,
                    PRIMARY KEY (resource, start, user_id)
                );
                CREATE INDEX ON "{table}" (status, until);"""
        )

    async def apply(self, conn: Connection, table: str, events: Sequence[RecordedEvent]) -> None:
        for recorded, event in _events(events, self.types):
            match event:
                case WaitlistJoined():
                    await conn.execute(
                        f"""INSERT INTO "{table}" (resource, start, user_id, status, joined_at)
                            VALUES ($1, $2, $3, 'waiting', $4)
                            ON CONFLICT (resource, start, user_id) DO UPDATE
                            SET status = 'waiting', offer_id = NULL, until = NULL, joined_at = excluded.joined_at""",
                        event.resource, event.start, event.user_id, recorded.recorded_at,
                    )  # fmt: skip
                case SeatOffered():
                    await conn.execute(
                        f"""UPDATE "{table}" SET status = 'offered', offer_id = $4, until = $5
                            WHERE resource = $1 AND start = $2 AND user_id = $3""",
                        event.resource, event.start, event.user_id, event.offer_id, event.until,
                    )  # fmt: skip
                case OfferLapsed():
                    await conn.execute(
                        f"UPDATE \"{table}\" SET status = 'lapsed' WHERE offer_id = $1", event.offer_id
                    )
                case BookingMade() | WaitlistLeft():
                    # Booked (from an offer or not) or gone: no longer waiting.
                    status = "taken" if isinstance(event, BookingMade) else "left"
                    await conn.execute(
                        f"""UPDATE "{table}" SET status = $4 WHERE resource = $1 AND start = $2
                            AND user_id = $3 AND status IN ('waiting', 'offered')""",
                        event.resource, event.start, event.user_id, status,
                    )  # fmt: skip
                case SlotClosed():
                    await conn.execute(
                        f"""UPDATE "{table}" SET status = 'closed' WHERE resource = $1 AND start = $2
                            AND status IN ('waiting', 'offered')""",
                        event.resource, event.start,
                    )  # fmt: skip


class SlotsProjection:
    name = SLOTS
    types = frozenset({CapacitySet.TYPE, SlotClosed.TYPE})

    async def create(self, conn: Connection, table: str) -> None:
        await conn.execute(
            f"""CREATE TABLE "{table}" (
                    resource      text        NOT NULL,
                    start         timestamptz NOT NULL,
                    capacity      integer,
                    closed        boolean     NOT NULL DEFAULT false,
                    closed_reason text,
                    PRIMARY KEY (resource, start)
                )"""
        )

    async def apply(self, conn: Connection, table: str, events: Sequence[RecordedEvent]) -> None:
        for _recorded, event in _events(events, self.types):
            match event:
                case CapacitySet():
                    await conn.execute(
                        f"""INSERT INTO "{table}" (resource, start, capacity) VALUES ($1, $2, $3)
                            ON CONFLICT (resource, start) DO UPDATE SET capacity = excluded.capacity""",
                        event.resource, event.start, event.capacity,
                    )  # fmt: skip
                case SlotClosed():
                    await conn.execute(
                        f"""INSERT INTO "{table}" (resource, start, closed, closed_reason) VALUES ($1, $2, true, $3)
                            ON CONFLICT (resource, start) DO UPDATE SET closed = true, closed_reason = $3""",
                        event.resource, event.start, event.reason,
                    )  # fmt: skip


RESOURCES_CHANGED = "reservations_resources_"
"""The channel (with the schema's name after it) on which a change of the settings is announced."""


class ResourcesProjection(TableProjection):
    """A `TableProjection` that announces a change of the settings on `RESOURCES_CHANGED` at its
    commit: each replica reads them again then, rather than checking on every turn."""

    async def apply(self, conn: Connection, table: str, events: Sequence[RecordedEvent]) -> None:
        await super().apply(conn, table, events)
        if any(r.type in self.types for r in events):
            await conn.execute(f"SELECT pg_notify('{RESOURCES_CHANGED}' || current_schema(), '')")


RESOURCES_TABLE = ResourcesProjection(
    RESOURCES,
    """code      text        PRIMARY KEY,
       settings  jsonb       NOT NULL,
       version   integer     NOT NULL,
       edited_by text        NOT NULL,
       edited_at timestamptz NOT NULL""",
    key="code",
    inserts={
        ResourceSeeded: lambda e, r: {
            "settings": e.settings, "version": r.version, "edited_by": "", "edited_at": r.recorded_at,
        },
    },
    updates={
        ResourceEdited: lambda e, r: {
            "settings": e.settings, "version": r.version, "edited_by": e.by, "edited_at": r.recorded_at,
        },
    },
)  # fmt: skip
"""Each resource's settings as last seeded or edited (the stream `resource-<code>` is the authority)."""


def all_projections() -> list[Any]:
    return [BOOKINGS_TABLE, QueueProjection(), SlotsProjection(), RESOURCES_TABLE]


# Queries.


# $1 resource, $2 from, $3 to (slot starts).
_SLOT_COUNTS = f"""WITH b AS (SELECT start, count(*) AS booked FROM {BOOKINGS}
                   WHERE resource = $1 AND start >= $2 AND start < $3 AND status = 'booked' GROUP BY start),
             q AS (SELECT start, count(*) FILTER (WHERE status = 'offered') AS offered,
                          count(*) FILTER (WHERE status = 'waiting') AS waiting
                   FROM {QUEUE} WHERE resource = $1 AND start >= $2 AND start < $3 GROUP BY start),
             s AS (SELECT start, capacity, closed FROM {SLOTS}
                   WHERE resource = $1 AND start >= $2 AND start < $3)
        SELECT coalesce(b.start, q.start, s.start) AS start, coalesce(b.booked, 0) AS booked,
               coalesce(q.offered, 0) AS offered, coalesce(q.waiting, 0) AS waiting,
               s.capacity, coalesce(s.closed, false) AS closed
        FROM b FULL JOIN q ON q.start = b.start FULL JOIN s ON s.start = coalesce(b.start, q.start)"""


async def slot_counts(
    conn: Connection | Pool, resource: str, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """Per slot of `resource` starting in [start, end) that has anything: seats booked, offers
    open, waiting residents, a clerk's capacity and whether it is closed."""
    return [dict(r) for r in await conn.fetch(_SLOT_COUNTS, resource, start, end)]


async def slot_counts_and_active(
    conn: Connection | Pool, resource: str, start: datetime, end: datetime, user_id: str, now: datetime
) -> tuple[list[dict[str, Any]], int]:
    """`slot_counts`, and how many of the resource's sessions to come `user_id` has booked, in one
    round trip (every turn about a resource needs both)."""
    rows = await conn.fetch(
        f"""WITH counts AS ({_SLOT_COUNTS}),
                 active AS (SELECT count(*) AS n FROM {BOOKINGS}
                            WHERE user_id = $4 AND resource = $1 AND status = 'booked' AND start > $5)
            SELECT counts.*, active.n AS active FROM active LEFT JOIN counts ON true""",
        resource, start, end, user_id, now,
    )  # fmt: skip
    active: int = rows[0]["active"]
    return [{k: v for k, v in r.items() if k != "active"} for r in rows if r["start"] is not None], active


def free_seats(rows: Sequence[dict[str, Any]], capacity: int) -> dict[datetime, int]:
    """Seats left per slot in `slot_counts` rows (slots absent from them have the full capacity)."""
    return {
        r["start"]: 0 if r["closed"] else (r["capacity"] or capacity) - r["booked"] - r["offered"]
        for r in rows
    }


async def upcoming(conn: Connection | Pool, user_id: str, now: datetime) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"""SELECT booking_id, number, resource, start FROM {BOOKINGS}
            WHERE user_id = $1 AND status = 'booked' AND start > $2 ORDER BY start""",
        user_id, now,
    )  # fmt: skip
    return [dict(r) for r in rows]


async def waiting_for(conn: Connection | Pool, user_id: str, now: datetime) -> list[dict[str, Any]]:
    """The slots the resident waits for (or holds an offer of), soonest first."""
    rows = await conn.fetch(
        f"""SELECT resource, start FROM {QUEUE}
            WHERE user_id = $1 AND status IN ('waiting', 'offered') AND start > $2 ORDER BY start""",
        user_id, now,
    )  # fmt: skip
    return [dict(r) for r in rows]


async def booking(conn: Connection | Pool, booking_id: uuid.UUID) -> dict[str, Any] | None:
    return await BOOKINGS_TABLE.row(conn, booking_id)


async def attendees(
    conn: Connection | Pool, resource: str, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """Bookings of `resource` starting in [start, end), booked first, by start."""
    rows = await conn.fetch(
        f"""SELECT * FROM {BOOKINGS} WHERE resource = $1 AND start >= $2 AND start < $3
            ORDER BY start, status, booked_at""",
        resource, start, end,
    )  # fmt: skip
    return [dict(r) for r in rows]


async def due_offers(conn: Connection | Pool, now: datetime) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT resource, start, offer_id FROM {QUEUE} WHERE status = 'offered' AND until <= $1", now
    )
    return [dict(r) for r in rows]


async def due_reminders(conn: Connection | Pool, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Booked, starting in [start, end), not yet reminded."""
    rows = await conn.fetch(
        f"""SELECT b.booking_id, b.number, b.user_id, b.resource, b.start FROM {BOOKINGS} b
            WHERE b.status = 'booked' AND b.start >= $1 AND b.start < $2
              AND NOT EXISTS (SELECT 1 FROM reservations_reminded r WHERE r.booking_id = b.booking_id)""",
        start, end,
    )  # fmt: skip
    return [dict(r) for r in rows]


async def resources_ready(conn: Connection | Pool) -> bool:
    """Whether the projection has made its table (it does once, when the service first starts)."""
    found: bool = await conn.fetchval(f"SELECT to_regclass('{RESOURCES}') IS NOT NULL")
    return found


async def resources_generation(conn: Connection | Pool) -> int:
    """Grows with every seeding or edit of a resource: whether the settings read before are stale."""
    found: int = await conn.fetchval(f"SELECT coalesce(sum(version), 0) FROM {RESOURCES}")
    return found


async def resource_settings(conn: Connection | Pool) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(f"SELECT code, settings FROM {RESOURCES} ORDER BY code")]


async def occupied(conn: Connection | Pool, resource: str, now: datetime) -> list[dict[str, Any]]:
    """The resource's future slots with seats booked or offered or residents waiting, with a clerk's
    capacity for the slot if any (what an edit of its rules must keep)."""
    rows = await conn.fetch(
        f"""SELECT start, booked + offered AS taken, waiting, capacity FROM (
                SELECT c.start, coalesce(b.n, 0) AS booked, coalesce(q.offered, 0) AS offered,
                       coalesce(q.waiting, 0) AS waiting, s.capacity
                FROM (SELECT start FROM {BOOKINGS} WHERE resource = $1 AND start > $2 AND status = 'booked'
                      UNION SELECT start FROM {QUEUE} WHERE resource = $1 AND start > $2
                                                       AND status IN ('waiting', 'offered')) c
                LEFT JOIN (SELECT start, count(*) AS n FROM {BOOKINGS}
                           WHERE resource = $1 AND status = 'booked' GROUP BY start) b ON b.start = c.start
                LEFT JOIN (SELECT start, count(*) FILTER (WHERE status = 'offered') AS offered,
                                  count(*) FILTER (WHERE status = 'waiting') AS waiting
                           FROM {QUEUE} WHERE resource = $1 GROUP BY start) q ON q.start = c.start
                LEFT JOIN {SLOTS} s ON s.resource = $1 AND s.start = c.start AND NOT s.closed
            ) o ORDER BY start""",
        resource, now,
    )  # fmt: skip
    return [dict(r) for r in rows]
