"""The audit log: every view of personal data, and every staff decision, with who and when.

Services include `"cityhall.web"` in their `ServiceSpec.migrations` to get the `audit_log`
table in their own schema, write with `record_view` (in the same transaction as the read
it records, when there is one), and let the department's admins read it with `read_audit`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cityhall.events.db import Connection, Pool
from cityhall.web.auth import StaffUser


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    department: str
    action: str
    subject: str
    detail: dict[str, Any]


async def record_view(
    conn: Connection | Pool,
    user: StaffUser,
    action: str,
    subject: str,
    detail: Mapping[str, Any] | None = None,
    *,
    department: str | None = None,
) -> int:
    """Record that `user` did `action` (e.g. "view_id_photo") on `subject` (e.g. a stream id).

    `department` is the department whose records these are (default: the user's first).
    The actor's display name is kept in `detail["actor_name"]`. Returns the entry's id.
    """
    dept = department or user.department or "none"
    # Round-trip through JSON so ids, dates and the like are stored as text.
    data = json.loads(json.dumps({"actor_name": user.display_name, **(detail or {})}, default=str))
    entry_id: int = await conn.fetchval(
        """INSERT INTO audit_log (actor, department, action, subject, detail)
           VALUES ($1, $2, $3, $4, $5::jsonb) RETURNING id""",
        user.username,
        dept,
        action,
        subject,
        data,
    )
    return entry_id


async def read_audit(
    conn: Connection | Pool,
    *,
    department: str,
    limit: int = 100,
    before_id: int | None = None,
    subject: str | None = None,
    actor: str | None = None,
) -> list[AuditEntry]:
    """The department's entries, newest first; page with `before_id` (the last id shown)."""
    rows = await conn.fetch(
        """SELECT id, at, actor, department, action, subject, detail FROM audit_log
           WHERE department = $1
             AND ($2::bigint IS NULL OR id < $2)
             AND ($3::text IS NULL OR subject = $3)
             AND ($4::text IS NULL OR actor = $4)
           ORDER BY id DESC LIMIT $5""",
        department,
        before_id,
        subject,
        actor,
        max(1, min(limit, 1000)),
    )
    return [AuditEntry(**dict(r)) for r in rows]
