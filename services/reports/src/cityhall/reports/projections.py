"""The read model `reports_reports` (one row per report) and the queries of the dialog, the
dashboard and the public map. Personal fields (comment, address) stay sealed here."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from cityhall import town
from cityhall.events.db import Connection, Pool
from cityhall.events.projection import TableProjection
from cityhall.events.store import RecordedEvent
from cityhall.reports.categories import CATEGORIES
from cityhall.reports.domain import OPEN, status_after
from cityhall.reports.events import (
    Open311KeyIssued,
    Open311KeyRevoked,
    ReportAccepted,
    ReportAssigned,
    ReportFiled,
    ReportMarkedDuplicate,
    ReportMoved,
    ReportRated,
    ReportRejected,
    ReportReopened,
    ReportResolved,
    ReportStarted,
    ReportSubscribed,
)
from cityhall.reports.messages import Mine, Nearby

TABLE = "reports_reports"
NEARBY_LIMIT = 3
OPEN_STATUSES = sorted(OPEN)


class ReportsProjection:
    name = TABLE

    async def create(self, conn: Connection, table: str) -> None:
        await conn.execute(
            f"""CREATE TABLE "{table}" (
                    report_id     uuid             PRIMARY KEY,
                    number        text             NOT NULL,
                    user_id       text             NOT NULL,
                    category      text             NOT NULL,
                    district      text             NOT NULL,
                    department    text             NOT NULL,
                    latitude      double precision NOT NULL,
                    longitude     double precision NOT NULL,
                    photos        uuid[]           NOT NULL,
                    comment       text             NOT NULL,
                    address       text             NOT NULL,
                    channel       text             NOT NULL,
                    status        text             NOT NULL,
                    assigned_to   text,
                    duplicate_of  uuid,
                    reason        text,
                    note          text,
                    after_photo   uuid,
                    filed_at      timestamptz      NOT NULL,
                    updated_at    timestamptz      NOT NULL,
                    resolved_at   timestamptz,
                    satisfied     integer          NOT NULL DEFAULT 0,
                    unsatisfied   integer          NOT NULL DEFAULT 0
                );
                CREATE INDEX ON "{table}" (category, latitude, longitude)
                    WHERE status IN ('open', 'accepted', 'in_progress');
                CREATE INDEX ON "{table}" (department, status, filed_at);
                CREATE INDEX ON "{table}" (user_id, filed_at DESC);
                CREATE INDEX ON "{table}" (number);"""
        )

    async def apply(self, conn: Connection, table: str, events: Sequence[RecordedEvent]) -> None:
        for recorded in events:
            event = recorded.envelope.event() if recorded.type in _TYPES else None
            at = recorded.recorded_at
            match event:
                case ReportFiled():
                    await conn.execute(
                        f"""INSERT INTO "{table}" (report_id, number, user_id, category, district, department,
                                latitude, longitude, photos, comment, address, channel, status, filed_at, updated_at)
                            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'open', $13, $14)
                            ON CONFLICT (report_id) DO NOTHING""",
                        event.report_id, event.number, event.user_id, event.category, event.district,
                        event.department, event.latitude, event.longitude, event.photos, event.comment,
                        event.address, event.channel, event.at, at,
                    )  # fmt: skip
                case ReportRejected():
                    await _set(
                        conn, table, event.report_id, at, status=status_after(event), reason=event.reason
                    )
                case ReportMarkedDuplicate():
                    await _set(
                        conn, table, event.report_id, at, status=status_after(event), duplicate_of=event.of
                    )
                case ReportAssigned():
                    await _set(conn, table, event.report_id, at, assigned_to=event.to)
                case ReportMoved():
                    await _set(conn, table, event.report_id, at, department=event.department)
                case ReportResolved():
                    await _set(
                        conn, table, event.report_id, at, status=status_after(event), note=event.note,
                        after_photo=event.after_photo, resolved_at=event.at,
                    )  # fmt: skip
                case ReportReopened():
                    await _set(conn, table, event.report_id, at, status=status_after(event), resolved_at=None)
                case ReportAccepted() | ReportStarted():
                    await _set(conn, table, event.report_id, at, status=status_after(event))
                case ReportRated():
                    column = "satisfied" if event.satisfied else "unsatisfied"
                    await conn.execute(
                        f'UPDATE "{table}" SET {column} = {column} + 1 WHERE report_id = $1', event.report_id
                    )


async def _set(conn: Connection, table: str, report_id: uuid.UUID, at: datetime, **values: Any) -> None:
    columns = ", ".join(f"{name} = ${i}" for i, name in enumerate(values, start=3))
    await conn.execute(
        f'UPDATE "{table}" SET updated_at = $2, {columns} WHERE report_id = $1',
        report_id,
        at,
        *values.values(),
    )


_TYPES = frozenset(
    t.TYPE
    for t in (
        ReportFiled,
        ReportAccepted,
        ReportStarted,
        ReportRejected,
        ReportMarkedDuplicate,
        ReportAssigned,
        ReportMoved,
        ReportResolved,
        ReportReopened,
        ReportRated,
    )
)


SUBSCRIPTIONS = "reports_subscriptions"


class SubscriptionsProjection:
    """Who said 「同じです」 (or was merged into) which report: their 通報履歴 lists it too."""

    name = SUBSCRIPTIONS

    async def create(self, conn: Connection, table: str) -> None:
        await conn.execute(
            f"""CREATE TABLE "{table}" (report_id uuid NOT NULL, user_id text NOT NULL,
                                        PRIMARY KEY (report_id, user_id));
                CREATE INDEX ON "{table}" (user_id);"""
        )

    async def apply(self, conn: Connection, table: str, events: Sequence[RecordedEvent]) -> None:
        for recorded in events:
            if recorded.type != ReportSubscribed.TYPE:
                continue
            event = recorded.envelope.event()
            assert isinstance(event, ReportSubscribed)
            await conn.execute(
                f'INSERT INTO "{table}" (report_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING',
                event.report_id,
                event.user_id,
            )


async def nearby(conn: Connection | Pool, category: str, point: town.Point) -> list[Nearby]:
    """Open reports of `category` within its radius of `point`, nearest first (at most three)."""
    radius = CATEGORIES[category].radius_m
    south_west, north_east = town.around(point, radius)
    rows = await conn.fetch(
        f"""SELECT report_id, number, status, latitude, longitude, filed_at FROM {TABLE}
            WHERE category = $1 AND status IN ('open', 'accepted', 'in_progress')
              AND latitude BETWEEN $2 AND $3 AND longitude BETWEEN $4 AND $5""",
        category, south_west.latitude, north_east.latitude, south_west.longitude, north_east.longitude,
    )  # fmt: skip
    found = [
        Nearby(r["report_id"], r["number"], r["status"], d, r["filed_at"])
        for r in rows
        if (d := town.distance_m(point, town.Point(r["latitude"], r["longitude"]))) <= radius
    ]
    return sorted(found, key=lambda n: n.distance_m)[:NEARBY_LIMIT]


async def mine(conn: Connection | Pool, user_id: str, limit: int = 10) -> list[Mine]:
    """The reports the resident filed or follows (「同じです」), newest first."""
    rows = await conn.fetch(
        f"""SELECT number, category, status, filed_at FROM {TABLE}
            WHERE user_id = $1 OR report_id IN (SELECT report_id FROM {SUBSCRIPTIONS} WHERE user_id = $1)
            ORDER BY filed_at DESC LIMIT $2""",
        user_id, limit,
    )  # fmt: skip
    return [Mine(r["number"], r["category"], r["status"], r["filed_at"]) for r in rows]


QUEUE_COLUMNS = """report_id, number, category, district, department, status, assigned_to, channel,
    latitude, longitude, filed_at, updated_at, resolved_at"""


async def queue(
    pool: Pool,
    department: str,
    *,
    status: str = "active",
    category: str = "",
    district: str = "",
    limit: int = 300,
) -> list[dict[str, Any]]:
    """A department's reports, oldest first; `status` is a status or "active" for every open one,
    "all" for every one. No personal field: the list shows none."""
    statuses = OPEN_STATUSES if status == "active" else None if status == "all" else [status]
    rows = await pool.fetch(
        f"""SELECT {QUEUE_COLUMNS} FROM {TABLE}
            WHERE department = $1 AND ($2::text[] IS NULL OR status = ANY($2))
              AND ($3 = '' OR category = $3) AND ($4 = '' OR district = $4)
            ORDER BY filed_at LIMIT $5""",
        department, statuses, category, district, limit,
    )  # fmt: skip
    return [dict(r) for r in rows]


async def report(conn: Connection | Pool, report_id: uuid.UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(f"SELECT * FROM {TABLE} WHERE report_id = $1", report_id)
    return dict(row) if row else None


async def by_number(conn: Connection | Pool, number: str) -> uuid.UUID | None:
    found: uuid.UUID | None = await conn.fetchval(f"SELECT report_id FROM {TABLE} WHERE number = $1", number)
    return found


async def public(pool: Pool) -> list[dict[str, Any]]:
    """What the public map shows: reports staff have moderated (accepted, then worked), with
    neither who reported nor anything they wrote or photographed."""
    rows = await pool.fetch(
        f"""SELECT number, category, district, status, latitude, longitude, filed_at, resolved_at FROM {TABLE}
            WHERE status IN ('accepted', 'in_progress', 'resolved') ORDER BY filed_at DESC LIMIT 2000"""
    )
    return [dict(r) for r in rows]


async def satisfaction(pool: Pool) -> list[dict[str, Any]]:
    """Per department and category: resolved reports and the residents' answers."""
    rows = await pool.fetch(
        f"""SELECT department, category, count(*) FILTER (WHERE status = 'resolved') AS resolved,
                   sum(satisfied) AS satisfied, sum(unsatisfied) AS unsatisfied FROM {TABLE}
            GROUP BY department, category ORDER BY department, category"""
    )
    return [dict(r) for r in rows]


KEYS_PROJECTION = TableProjection(
    "reports_open311_keys",
    """key_id uuid PRIMARY KEY, name text NOT NULL, issued_by text NOT NULL, issued_at timestamptz NOT NULL,
       revoked_by text, revoked_at timestamptz""",
    key="key_id",
    inserts={Open311KeyIssued: lambda e, r: {"name": e.name, "issued_by": e.by, "issued_at": r.recorded_at}},
    updates={Open311KeyRevoked: lambda e, r: {"revoked_by": e.by, "revoked_at": r.recorded_at}},
)
"""The Open311 API keys as the admin page lists them (never the key itself)."""
KEYS = KEYS_PROJECTION.name


async def keys(pool: Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch(f"SELECT * FROM {KEYS} ORDER BY revoked_at IS NOT NULL, issued_at DESC")
    return [dict(r) for r in rows]
