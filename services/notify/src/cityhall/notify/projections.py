"""Read models: `deliveries`, one row per delivery outcome (a LINE request, or a skip); and the
notices as their streams tell them (`notices`, `notice`, `recent_alerts`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from cityhall.events.db import Connection, Pool
from cityhall.events.store import RecordedEvent
from cityhall.notify.events import (
    MessageDelivered,
    MessageDeliveryFailed,
    MessageSkipped,
    NoticeApproved,
    NoticeCancelled,
    NoticeCompleted,
    NoticeDrafted,
    notice_stream,
)

_TYPES = frozenset({MessageDelivered.TYPE, MessageDeliveryFailed.TYPE, MessageSkipped.TYPE})


class DeliveriesProjection:
    name = "deliveries"
    types = _TYPES
    """The runner reads only these (`Projection`): not the notices' events."""

    async def create(self, conn: Connection, table: str) -> None:
        # Unnamed indexes: a rebuild creates them again beside the live table's.
        await conn.execute(
            f"""CREATE TABLE "{table}" (
                    event_id         uuid        PRIMARY KEY,
                    request_id       uuid        NOT NULL,
                    idempotency_key  text        NOT NULL,
                    requested_by     text        NOT NULL,
                    outcome          text        NOT NULL CHECK (outcome IN ('delivered', 'failed', 'skipped')),
                    method           text,
                    recipients       integer     NOT NULL,
                    user_id          text,
                    skipped          text[],
                    chunk            integer,
                    status           integer,
                    error            text,
                    line_request_id  text,
                    already_accepted boolean     NOT NULL DEFAULT false,
                    attempts         integer     NOT NULL DEFAULT 1,
                    recorded_at      timestamptz NOT NULL
                );
                CREATE INDEX ON "{table}" (request_id);
                CREATE INDEX ON "{table}" (user_id, recorded_at);"""
        )

    async def apply(self, conn: Connection, table: str, events: Sequence[RecordedEvent]) -> None:
        rows: list[tuple[Any, ...]] = []
        for recorded in events:
            if recorded.type not in _TYPES:
                continue
            event = recorded.envelope.event()
            match event:
                case MessageDelivered():
                    rows.append(
                        (recorded.id, event.request_id, event.idempotency_key, event.requested_by, "delivered",
                         event.method, event.recipients, event.to, None, event.chunk, None, None,
                         event.line_request_id, event.already_accepted, event.attempts, recorded.recorded_at)
                    )  # fmt: skip
                case MessageDeliveryFailed():
                    rows.append(
                        (recorded.id, event.request_id, event.idempotency_key, event.requested_by, "failed",
                         event.method, event.recipients, event.to, None, event.chunk, event.status, event.error,
                         event.line_request_id, False, event.attempts, recorded.recorded_at)
                    )  # fmt: skip
                case MessageSkipped():
                    user = event.recipients[0] if len(event.recipients) == 1 else None
                    rows.append(
                        (recorded.id, event.request_id, event.idempotency_key, event.requested_by, "skipped",
                         None, len(event.recipients), user, event.recipients, None, None, None,
                         None, False, 1, recorded.recorded_at)
                    )  # fmt: skip
        if rows:
            await conn.executemany(
                f"""INSERT INTO "{table}" (event_id, request_id, idempotency_key, requested_by, outcome, method,
                        recipients, user_id, skipped, chunk, status, error, line_request_id, already_accepted,
                        attempts, recorded_at)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
                    ON CONFLICT (event_id) DO NOTHING""",
                rows,
            )


_NOTICE_TYPES = [NoticeDrafted.TYPE, NoticeApproved.TYPE, NoticeCancelled.TYPE, NoticeCompleted.TYPE]
_STEPS = {
    NoticeApproved.TYPE: "approved",
    NoticeCancelled.TYPE: "cancelled",
    NoticeCompleted.TYPE: "completed",
}


async def notices(pool: Pool | Connection, stream: str | None = None) -> list[dict[str, Any]]:
    """Every notice (or the one in `stream`), newest first: the draft's fields, `status`, and each
    later step's fields prefixed with it (`approved_by`, `completed_delivered`, ...)."""
    rows = await pool.fetch(
        """SELECT stream, type, data FROM events
           WHERE category = 'notice' AND type = ANY($1::text[]) AND ($2::text IS NULL OR stream = $2)
           ORDER BY tx, position""",
        _NOTICE_TYPES,
        stream,
    )
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        data = dict(row["data"])
        if row["type"] == NoticeDrafted.TYPE:
            found[row["stream"]] = {**data, "status": "draft"}
        elif row["stream"] in found:
            notice, step = found[row["stream"]], _STEPS[row["type"]]
            notice.update({f"{step}_{k}": v for k, v in data.items() if k != "notice_id"})
            if notice["status"] != "cancelled":  # a cancelled notice completes with what it sent
                notice["status"] = step
    return list(reversed(found.values()))


async def notice(pool: Pool | Connection, notice_id: uuid.UUID) -> dict[str, Any] | None:
    found = await notices(pool, notice_stream(notice_id))
    return found[0] if found else None


async def recent_alerts(conn: Pool | Connection, since: datetime, limit: int = 3) -> list[dict[str, Any]]:
    """Emergency alerts sent (their time has come) since `since` and not cancelled, newest first:
    the draft's fields and `sent_at`. What a resident's 災害情報 shows."""
    rows = await conn.fetch(
        """SELECT d.data, (a.data->>'send_at')::timestamptz AS sent_at
           FROM events d JOIN events a ON a.stream = d.stream AND a.type = $2
           WHERE d.category = 'notice' AND d.type = $1 AND d.data->>'kind' = 'alert'
             AND (a.data->>'send_at')::timestamptz BETWEEN $4 AND now()
             AND NOT EXISTS (SELECT 1 FROM events c WHERE c.stream = d.stream AND c.type = $3)
           ORDER BY sent_at DESC LIMIT $5""",
        NoticeDrafted.TYPE, NoticeApproved.TYPE, NoticeCancelled.TYPE, since, limit,
    )  # fmt: skip
    return [{**dict(r["data"]), "sent_at": r["sent_at"]} for r in rows]
