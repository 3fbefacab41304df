"""Read models of the certificates service, each a `Projection` run by a `ProjectionRunner`.

- `certificate_requests`: one row per request: the queue by state, ages, the dashboard's
  detail page (personal fields stay encrypted here; pages decrypt them and audit the view),
  the resident's 申請状況, and the timers (payment deadline, idle drafts, photo retention).
- `certificate_daily`: counts per day (Japan time) and fees collected and refunded.
- `certificate_refunds`: refunds due and done, for the refund worker and the dashboard.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from cityhall.certificates.events import (
    PERSONAL_FIELDS,
    CertificateIssued,
    CertificateMailed,
    CopiesChosen,
    DraftExpired,
    IdDocumentChosen,
    IdentityApproved,
    IdentityRejected,
    IdPhotoAttached,
    IdPhotoPurged,
    OptionChosen,
    PaymentConfirmed,
    PaymentExpired,
    PaymentFailed,
    PaymentRequested,
    PurposeChosen,
    RefundCompleted,
    RefundRequested,
    RequestCancelled,
    RequesterDetailGiven,
    RequestStarted,
    RequestSubmitted,
)
from cityhall.certificates.events import (
    REQUESTS as REQUEST_STREAMS,
)
from cityhall.events.db import Connection, Pool
from cityhall.events.envelope import registry
from cityhall.events.projection import TableProjection
from cityhall.events.store import RecordedEvent
from cityhall.line.japanese import JST

REQUESTS = "certificate_requests"
DAILY = "certificate_daily"
REFUNDS = "certificate_refunds"


def _ours(events: Sequence[RecordedEvent]) -> list[tuple[uuid.UUID, RecordedEvent]]:
    found = []
    for recorded in events:
        request_id = REQUEST_STREAMS.id_of(recorded.stream)
        if request_id is not None and registry.knows(recorded.type):
            found.append((request_id, recorded))
    return found


class RequestsProjection:
    name = REQUESTS

    async def create(self, conn: Connection, table: str) -> None:
        await conn.execute(
            f"""CREATE TABLE "{table}" (
                request_id       uuid        PRIMARY KEY,
                number           text        NOT NULL,
                user_id          text        NOT NULL,
                certificate_code text        NOT NULL,
                certificate_name text        NOT NULL,
                fee              integer     NOT NULL,
                postage          integer     NOT NULL,
                options          jsonb       NOT NULL DEFAULT '{{}}'::jsonb,
                copies           integer,
                purpose          text,
                id_document      text,
                name_token       text,
                birth_date_token text,
                address_token    text,
                phone_token      text,
                photo_id         uuid,
                photo_purged     boolean     NOT NULL DEFAULT false,
                status           text        NOT NULL,
                amount           integer     NOT NULL DEFAULT 0,
                started_at       timestamptz NOT NULL,
                last_activity    timestamptz NOT NULL,
                submitted_at     timestamptz,
                payment_deadline timestamptz,
                paid_at          timestamptz,
                decided_at       timestamptz,
                decided_by       text,
                reject_reason    text,
                reject_note      text,
                issued_at        timestamptz,
                serial           text,
                mailed_at        timestamptz,
                tracking_number  text,
                closed_at        timestamptz,
                refund_due       integer     NOT NULL DEFAULT 0,
                refunded         integer     NOT NULL DEFAULT 0,
                version          integer     NOT NULL,
                updated_at       timestamptz NOT NULL
            )"""
        )
        await conn.execute(f'CREATE INDEX ON "{table}" (status, submitted_at)')
        await conn.execute(f'CREATE INDEX ON "{table}" (user_id, started_at DESC)')

    async def apply(self, conn: Connection, table: str, events: Sequence[RecordedEvent]) -> None:
        for request_id, recorded in _ours(events):
            event = recorded.envelope.event()
            at: datetime = getattr(event, "at", recorded.recorded_at)
            changes: dict[str, Any] = {}
            match event:
                case RequestStarted():
                    await conn.execute(
                        f"""INSERT INTO "{table}" (request_id, number, user_id, certificate_code, certificate_name,
                               fee, postage, status, started_at, last_activity, version, updated_at)
                           VALUES ($1, $2, $3, $4, $5, $6, $7, 'drafting', $8, $8, $9, $8)
                           ON CONFLICT (request_id) DO NOTHING""",
                        request_id,
                        event.number,
                        event.user_id,
                        event.certificate_code,
                        event.certificate_name,
                        event.fee,
                        event.postage,
                        event.at,
                        recorded.version,
                    )
                    continue
                case OptionChosen():
                    await conn.execute(
                        f"""UPDATE "{table}" SET options = options || jsonb_build_object($2::text, $3::text)
                            WHERE request_id = $1""",
                        request_id,
                        event.key,
                        event.label,
                    )
                    changes["last_activity"] = at
                case CopiesChosen():
                    changes.update(copies=event.copies, last_activity=at)
                case PurposeChosen():
                    changes.update(purpose=event.label, last_activity=at)
                case RequesterDetailGiven():
                    changes["last_activity"] = at
                    if event.field in PERSONAL_FIELDS:  # the view has a column for each of these
                        changes[f"{event.field}_token"] = event.value
                case IdDocumentChosen():
                    changes.update(id_document=event.label, last_activity=at)
                case IdPhotoAttached():
                    changes.update(photo_id=event.photo_id, last_activity=at)
                case RequestSubmitted():
                    changes.update(status="payment_pending", submitted_at=at, amount=event.amount)
                case PaymentRequested():
                    changes.update(status="payment_pending", payment_deadline=event.expires_at)
                case PaymentConfirmed():
                    await conn.execute(
                        f"""UPDATE "{table}" SET status = 'paid', paid_at = $2
                            WHERE request_id = $1 AND status IN ('payment_pending', 'payment_failed')""",
                        request_id,
                        at,
                    )
                case PaymentFailed():
                    changes["status"] = "payment_failed"
                case PaymentExpired() | DraftExpired():
                    changes.update(status="expired", closed_at=at)
                case RequestCancelled():
                    changes.update(status="cancelled", closed_at=at)
                case IdentityApproved():
                    changes.update(status="approved", decided_at=at, decided_by=event.by)
                case IdentityRejected():
                    changes.update(
                        status="rejected",
                        decided_at=at,
                        decided_by=event.by,
                        reject_reason=event.reason_label,
                        reject_note=event.note,
                        closed_at=at,
                    )
                case CertificateIssued():
                    changes.update(status="issued", issued_at=at, serial=event.serial)
                case CertificateMailed():
                    changes.update(
                        status="mailed", mailed_at=at, tracking_number=event.tracking_number, closed_at=at
                    )
                case RefundRequested():
                    await conn.execute(
                        f'UPDATE "{table}" SET refund_due = refund_due + $2 WHERE request_id = $1',
                        request_id,
                        event.amount,
                    )
                case RefundCompleted():
                    await conn.execute(
                        f"""UPDATE "{table}" SET refund_due = greatest(0, refund_due - $2), refunded = refunded + $2
                            WHERE request_id = $1""",
                        request_id,
                        event.amount,
                    )
                case IdPhotoPurged():
                    changes["photo_purged"] = True
            changes.update(version=recorded.version, updated_at=recorded.recorded_at)
            columns = list(changes)
            assignments = ", ".join(f"{c} = ${i + 2}" for i, c in enumerate(columns))
            await conn.execute(
                f'UPDATE "{table}" SET {assignments} WHERE request_id = $1',
                request_id,
                *[changes[c] for c in columns],
            )


_DAILY_COUNTS = {
    RequestStarted: "started",
    RequestSubmitted: "submitted",
    PaymentConfirmed: "paid",
    IdentityApproved: "approved",
    IdentityRejected: "rejected",
    CertificateIssued: "issued",
    CertificateMailed: "mailed",
    RequestCancelled: "cancelled",
    PaymentExpired: "expired",
    DraftExpired: "expired",
}


def jst_day(moment: datetime) -> date:
    return moment.astimezone(JST).date()


class DailyProjection:
    name = DAILY

    async def create(self, conn: Connection, table: str) -> None:
        await conn.execute(
            f"""CREATE TABLE "{table}" (
                day            date    PRIMARY KEY,
                started        integer NOT NULL DEFAULT 0,
                submitted      integer NOT NULL DEFAULT 0,
                paid           integer NOT NULL DEFAULT 0,
                approved       integer NOT NULL DEFAULT 0,
                rejected       integer NOT NULL DEFAULT 0,
                issued         integer NOT NULL DEFAULT 0,
                mailed         integer NOT NULL DEFAULT 0,
                cancelled      integer NOT NULL DEFAULT 0,
                expired        integer NOT NULL DEFAULT 0,
                fees_collected bigint  NOT NULL DEFAULT 0,
                fees_refunded  bigint  NOT NULL DEFAULT 0
            )"""
        )

    async def apply(self, conn: Connection, table: str, events: Sequence[RecordedEvent]) -> None:
        for _request_id, recorded in _ours(events):
            event = recorded.envelope.event()
            day = jst_day(getattr(event, "at", recorded.recorded_at))
            column = _DAILY_COUNTS.get(type(event))
            money = 0
            money_column = None
            if isinstance(event, PaymentConfirmed):
                money_column, money = "fees_collected", event.amount
            elif isinstance(event, RefundCompleted):
                money_column, money = "fees_refunded", event.amount
            if column is None and money_column is None:
                continue
            sets = []
            if column:
                sets.append(f"{column} = t.{column} + 1")
            if money_column:
                sets.append(f"{money_column} = t.{money_column} + {int(money)}")
            insert_columns = ["day", *([column] if column else []), *([money_column] if money_column else [])]
            values = ["$1", *(["1"] if column else []), *([str(int(money))] if money_column else [])]
            await conn.execute(
                f"""INSERT INTO "{table}" AS t ({", ".join(insert_columns)}) VALUES ({", ".join(values)})
                    ON CONFLICT (day) DO UPDATE SET {", ".join(sets)}""",
                day,
            )


REFUND_ROWS = TableProjection(
    REFUNDS,
    """payment_id   text        PRIMARY KEY,
       request_id   uuid        NOT NULL,
       amount       integer     NOT NULL,
       reason       text        NOT NULL,
       requested_at timestamptz NOT NULL,
       refund_id    text,
       completed_at timestamptz""",
    key="payment_id",
    indexes=["(requested_at) WHERE completed_at IS NULL"],
    inserts={
        RefundRequested: lambda event, recorded: {
            "request_id": REQUEST_STREAMS.id_of(recorded.stream),
            "amount": event.amount,
            "reason": event.reason,
            "requested_at": event.at,
        }
    },
    updates={RefundCompleted: lambda event, _: {"refund_id": event.refund_id, "completed_at": event.at}},
)
"""Refunds due and done: one row per payment to give back."""


PROJECTIONS = (RequestsProjection(), DailyProjection(), REFUND_ROWS)


# --- queries: what the pages, the dialog and the timers read ----------------------------------
# `db` is a pool or a connection (inside a transaction when the caller needs one).

Db = Connection | Pool


async def request_row(db: Db, request_id: uuid.UUID) -> dict[str, Any] | None:
    row = await db.fetchrow(f"SELECT * FROM {REQUESTS} WHERE request_id = $1", request_id)
    return dict(row) if row else None


async def requests_numbered(db: Db, number: str) -> list[dict[str, Any]]:
    """The requests with a number (one, unless numbers were ever reused)."""
    return [dict(r) for r in await db.fetch(f"SELECT * FROM {REQUESTS} WHERE number = $1", number)]


async def request_numbers(db: Db, request_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    rows = await db.fetch(
        f"SELECT request_id, number FROM {REQUESTS} WHERE request_id = ANY($1::uuid[])", list(request_ids)
    )
    return {r["request_id"]: r["number"] for r in rows}


async def applicant_requests(db: Db, user_id: str) -> list[dict[str, Any]]:
    """Every request of one resident, oldest first (what forgetting them affects)."""
    rows = await db.fetch(
        f"""SELECT request_id, number, certificate_name, status, started_at FROM {REQUESTS}
            WHERE user_id = $1 ORDER BY started_at""",
        user_id,
    )
    return [dict(r) for r in rows]


QUEUE_SINCE = frozenset({"paid_at", "submitted_at", "closed_at"})
"""The columns a dashboard queue may be ordered by."""


async def queue(
    db: Db, statuses: Sequence[str], since_column: str, *, newest_first: bool, limit: int
) -> list[dict[str, Any]]:
    """Requests in `statuses`, with `since_column` as `since`, oldest first unless `newest_first`."""
    if since_column not in QUEUE_SINCE:
        raise ValueError(f"{since_column!r} is not one of {sorted(QUEUE_SINCE)}")
    rows = await db.fetch(
        f"""SELECT request_id, number, certificate_name, copies, amount, status, {since_column} AS since
            FROM {REQUESTS} WHERE status = ANY($1::text[])
            ORDER BY {since_column} {"DESC" if newest_first else "ASC"} NULLS LAST LIMIT $2""",
        list(statuses),
        limit,
    )
    return [dict(r) for r in rows]


async def requests_in(db: Db, status: str | None, *, limit: int = 500) -> list[dict[str, Any]]:
    """The staff API's list: newest first, all statuses unless one is given."""
    rows = await db.fetch(
        f"""SELECT request_id, number, certificate_name, copies, amount, status, submitted_at, paid_at,
                   decided_at, issued_at, mailed_at, closed_at
            FROM {REQUESTS} WHERE ($1::text IS NULL OR status = $1) ORDER BY started_at DESC LIMIT $2""",
        status,
        limit,
    )
    return [dict(r) for r in rows]


async def daily_after(db: Db, day: date) -> list[dict[str, Any]]:
    """The daily counts after `day`, newest first."""
    return [dict(r) for r in await db.fetch(f"SELECT * FROM {DAILY} WHERE day > $1 ORDER BY day DESC", day)]


async def payments_due(db: Db, now: datetime, *, limit: int) -> list[uuid.UUID]:
    """Requests awaiting a payment whose deadline has passed."""
    rows = await db.fetch(
        f"""SELECT request_id FROM {REQUESTS}
            WHERE status IN ('payment_pending', 'payment_failed') AND payment_deadline <= $1
            ORDER BY payment_deadline LIMIT $2""",
        now,
        limit,
    )
    return [r["request_id"] for r in rows]


async def drafts_idle_since(db: Db, moment: datetime, *, limit: int) -> list[uuid.UUID]:
    rows = await db.fetch(
        f"""SELECT request_id FROM {REQUESTS} WHERE status = 'drafting' AND last_activity <= $1
            ORDER BY last_activity LIMIT $2""",
        moment,
        limit,
    )
    return [r["request_id"] for r in rows]


async def refunds_due(db: Db, *, limit: int) -> list[dict[str, Any]]:
    rows = await db.fetch(
        f"""SELECT payment_id, request_id, amount FROM {REFUNDS} WHERE completed_at IS NULL
            ORDER BY requested_at LIMIT $1""",
        limit,
    )
    return [dict(r) for r in rows]


async def photos_due(db: Db, closed_before: datetime, *, limit: int) -> list[dict[str, Any]]:
    """Photos of closed requests past retention, and of drafts that were never submitted."""
    rows = await db.fetch(
        f"""SELECT request_id, photo_id, submitted_at FROM {REQUESTS}
            WHERE photo_id IS NOT NULL AND NOT photo_purged AND closed_at IS NOT NULL
              AND (closed_at <= $1 OR submitted_at IS NULL)
            LIMIT $2""",
        closed_before,
        limit,
    )
    return [dict(r) for r in rows]


async def resident_request_ids(
    conn: Connection, user_id: str, *, limit: int
) -> list[tuple[uuid.UUID, datetime]]:
    """A resident's requests, newest first (for 申請状況)."""
    exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", REQUESTS)
    if not exists:
        return []
    rows = await conn.fetch(
        f"SELECT request_id, updated_at FROM {REQUESTS} WHERE user_id = $1 ORDER BY started_at DESC LIMIT $2",
        user_id,
        limit,
    )
    return [(r["request_id"], r["updated_at"]) for r in rows]
