"""The pickups' read models: `reservations_pickups` (one row per pickup: items, fee, paid or not)
and `reservations_refunds` (one row per payment to give back), and their queries: the sweep's
(unpaid past the hold, refunds not done) and the staff's (a day's pickups)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from cityhall.events.db import Connection, Pool
from cityhall.events.projection import TableProjection
from cityhall.reservations.bulky.events import (
    PickupExpired,
    PickupOrdered,
    PickupPaid,
    PickupRefunded,
    PickupWithdrawn,
    RefundDue,
)

PICKUPS = "reservations_pickups"
REFUNDS = "reservations_refunds"
TABLES = (PICKUPS, REFUNDS)

PICKUPS_TABLE = TableProjection(
    PICKUPS,
    """booking_id   uuid        PRIMARY KEY,
       number       text        NOT NULL,
       user_id      text        NOT NULL,
       resource     text        NOT NULL,
       start        timestamptz NOT NULL,
       lines        jsonb       NOT NULL,
       fee          integer     NOT NULL,
       checkout_id  text        NOT NULL,
       until        timestamptz NOT NULL,
       status       text        NOT NULL DEFAULT 'unpaid',
       payment_id   text,
       paid_at      timestamptz,
       refunded     integer     NOT NULL DEFAULT 0""",
    key="booking_id",
    inserts={
        PickupOrdered: lambda e, r: {
            "number": e.number, "user_id": e.user_id, "resource": e.resource, "start": e.start,
            "lines": [line.model_dump() for line in e.lines], "fee": e.fee, "checkout_id": e.checkout_id,
            "until": e.until,
        },
    },
    updates={
        PickupPaid: lambda e, r: {"status": "paid", "payment_id": e.payment_id, "paid_at": r.recorded_at},
        PickupExpired: lambda e, r: {"status": "expired"},
        PickupWithdrawn: lambda e, r: {"status": "cancelled"},
        PickupRefunded: lambda e, r: {"refunded": e.amount},
    },
    indexes=("(resource, start)", "(until) WHERE status = 'unpaid'"),
)  # fmt: skip
"""A pickup: its items and fee, unpaid / paid / expired / cancelled, and what was refunded."""

REFUNDS_TABLE = TableProjection(
    REFUNDS,
    """payment_id  text        PRIMARY KEY,
       booking_id  uuid        NOT NULL,
       amount      integer     NOT NULL,
       reason      text        NOT NULL,
       due_at      timestamptz NOT NULL,
       refund_id   text,
       refunded_at timestamptz""",
    key="payment_id",
    inserts={
        RefundDue: lambda e, r: {
            "booking_id": e.booking_id, "amount": e.amount, "reason": e.reason, "due_at": r.recorded_at,
        },
    },
    updates={PickupRefunded: lambda e, r: {"refund_id": e.refund_id, "refunded_at": r.recorded_at}},
    indexes=("(due_at) WHERE refund_id IS NULL",),
)  # fmt: skip
"""A payment to give back, until the provider has refunded it."""

PROJECTIONS = (PICKUPS_TABLE, REFUNDS_TABLE)


async def pickup(db: Connection | Pool, booking_id: uuid.UUID) -> dict[str, Any] | None:
    return await PICKUPS_TABLE.row(db, booking_id)


async def unpaid_due(db: Connection | Pool, now: datetime, limit: int = 100) -> list[uuid.UUID]:
    rows = await db.fetch(
        f"SELECT booking_id FROM {PICKUPS} WHERE status = 'unpaid' AND until <= $1 ORDER BY until LIMIT $2",
        now, limit,
    )  # fmt: skip
    return [r["booking_id"] for r in rows]


async def refunds_due(db: Connection | Pool, limit: int = 100) -> list[dict[str, Any]]:
    rows = await db.fetch(
        f"SELECT payment_id, booking_id, amount FROM {REFUNDS} WHERE refund_id IS NULL ORDER BY due_at LIMIT $1",
        limit,
    )
    return [dict(r) for r in rows]


async def of_bookings(db: Connection | Pool, booking_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """The pickups of these bookings (a day's list), by booking id."""
    rows = await db.fetch(f"SELECT * FROM {PICKUPS} WHERE booking_id = ANY($1::uuid[])", booking_ids)
    return {r["booking_id"]: dict(r) for r in rows}


def payment(row: dict[str, Any]) -> str:
    """A pickup's fee as the staff's list shows it: 未払い, 支払済み, 返金済み, …"""
    paid = row["payment_id"] is not None
    match row["status"]:
        case "unpaid":
            return "未払い"
        case "paid":
            return "支払済み"
        case "expired":
            return "未払い（期限切れ）"
        case _:
            return "返金済み" if row["refunded"] else "返金待ち" if paid else "未払い（取消）"
