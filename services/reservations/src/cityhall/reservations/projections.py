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
from cityhall.events.store import RecordedEvent
from cityhall.reservations.events import (
    AttendanceMarked,
    BookingCancelled,
    BookingMade,
    CapacitySet,
    OfferLapsed,
    SeatOffered,
    SlotClosed,
    WaitlistJoined,
)

BOOKINGS = "reservations_bookings"
QUEUE = "reservations_queue"
SLOTS = "reservations_slots"
TABLES = (BOOKINGS, QUEUE, SLOTS)


def _events(events: Sequence[RecordedEvent], types: frozenset[str]) -> list[tuple[RecordedEvent, Any]]:
    return [(r, r.envelope.event()) for r in events if r.type in types]


class BookingsProjection:
    name = BOOKINGS
    types = frozenset({BookingMade.TYPE, BookingCancelled.TYPE, AttendanceMarked.TYPE})

    async def create(self, conn: Connection, table: str) -> None:
        await conn.execute(
            f"""CREATE TABLE "{table}" (
                    booking_id   uuid        PRIMARY KEY,
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
                    attended     boolean
                );
                CREATE INDEX ON "{table}" (resource, start);
                CREATE INDEX ON "{table}" (user_id, start);"""
        )

    async def apply(self, conn: Connection, table: str, events: Sequence[RecordedEvent]) -> None:
        for recorded, event in _events(events, self.types):
            match event:
                case BookingMade():
                    await conn.execute(
                        f"""INSERT INTO "{table}" (booking_id, number, user_id, resource, start, answers,
                                                   booked_by, booked_at)
                            VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (booking_id) DO NOTHING""",
                        event.booking_id, event.number, event.user_id, event.resource, event.start,
                        event.answers, event.by, recorded.recorded_at,
                    )  # fmt: skip
                case BookingCancelled():
                    await conn.execute(
                        f"""UPDATE "{table}" SET status = 'cancelled', cancelled_by = $2, reason = $3,
                                                 cancelled_at = $4 WHERE booking_id = $1""",
                        event.booking_id, event.by, event.reason, recorded.recorded_at,
                    )  # fmt: skip
                case AttendanceMarked():
                    await conn.execute(
                        f'UPDATE "{table}" SET attended = $2 WHERE booking_id = $1',
                        event.booking_id,
                        event.attended,
                    )


class QueueProjection:
    name = QUEUE
    types = frozenset(
        {WaitlistJoined.TYPE, SeatOffered.TYPE, OfferLapsed.TYPE, BookingMade.TYPE, SlotClosed.TYPE}
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
                case BookingMade():
                    await conn.execute(
                        f"""UPDATE "{table}" SET status = 'taken' WHERE resource = $1 AND start = $2
                            AND user_id = $3 AND status IN ('waiting', 'offered')""",
                        event.resource, event.start, event.user_id,
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


def all_projections() -> list[Any]:
    return [BookingsProjection(), QueueProjection(), SlotsProjection()]


# Queries.


async def slot_counts(
    conn: Connection | Pool, resource: str, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """Per slot of `resource` starting in [start, end) that has anything: seats booked, offers
    open, waiting residents, a clerk's capacity and whether it is closed."""
    rows = await conn.fetch(
        f"""WITH b AS (SELECT start, count(*) AS booked FROM {BOOKINGS}
                       WHERE resource = $1 AND start >= $2 AND start < $3 AND status = 'booked' GROUP BY start),
                 q AS (SELECT start, count(*) FILTER (WHERE status = 'offered') AS offered,
                              count(*) FILTER (WHERE status = 'waiting') AS waiting
                       FROM {QUEUE} WHERE resource = $1 AND start >= $2 AND start < $3 GROUP BY start),
                 s AS (SELECT start, capacity, closed FROM {SLOTS}
                       WHERE resource = $1 AND start >= $2 AND start < $3)
            SELECT coalesce(b.start, q.start, s.start) AS start, coalesce(b.booked, 0) AS booked,
                   coalesce(q.offered, 0) AS offered, coalesce(q.waiting, 0) AS waiting,
                   s.capacity, coalesce(s.closed, false) AS closed
            FROM b FULL JOIN q ON q.start = b.start FULL JOIN s ON s.start = coalesce(b.start, q.start)""",
        resource, start, end,
    )  # fmt: skip
    return [dict(r) for r in rows]


def free_seats(rows: Sequence[dict[str, Any]], capacity: int) -> dict[datetime, int]:
    """Seats left per slot in `slot_counts` rows (slots absent from them have the full capacity)."""
    return {
        r["start"]: 0 if r["closed"] else (r["capacity"] or capacity) - r["booked"] - r["offered"]
        for r in rows
    }


async def active_count(conn: Connection | Pool, user_id: str, resource: str, now: datetime) -> int:
    count: int = await conn.fetchval(
        f"SELECT count(*) FROM {BOOKINGS} WHERE user_id = $1 AND resource = $2 AND status = 'booked' AND start > $3",
        user_id, resource, now,
    )  # fmt: skip
    return count


async def upcoming(conn: Connection | Pool, user_id: str, now: datetime) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"""SELECT booking_id, number, resource, start FROM {BOOKINGS}
            WHERE user_id = $1 AND status = 'booked' AND start > $2 ORDER BY start""",
        user_id, now,
    )  # fmt: skip
    return [dict(r) for r in rows]


async def booking(conn: Connection | Pool, booking_id: uuid.UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(f"SELECT * FROM {BOOKINGS} WHERE booking_id = $1", booking_id)
    return dict(row) if row else None


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
