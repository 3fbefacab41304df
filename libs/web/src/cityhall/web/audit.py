"""The audit log: every view of personal data, and every staff decision, with who and when.

Services include `"cityhall.web"` in their `ServiceSpec.migrations` to get the `audit_log`
table in their own schema, write with `record_view` (in the same transaction as the read
it records, when there is one), and let the department's admins read it with `read_audit`.

One page view is one entry: a read the page itself triggers (the ID photo its `<img>` loads)
is folded into the page's entry with `record_view(..., part_of=<the page's entry id>)`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cityhall.events.db import Connection, Pool
from cityhall.web.auth import StaffUser

AUDIT_PAGE_SIZE = 50
"""Entries per page of an audit log screen."""
PART_OF_WINDOW = timedelta(minutes=10)
"""How long after a page view the reads it triggers are folded into its entry."""


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
    part_of: int | None = None,
) -> int:
    """Record that `user` did `action` (e.g. "view_id_photo") on `subject` (e.g. a stream id).

    `department` is the department whose records these are (default: the user's first).
    The actor's display name is kept in `detail["actor_name"]`. Returns the entry's id.

    `part_of`: the entry of the page view this read belongs to. When that entry is this
    person's, on the same subject, recent (`PART_OF_WINDOW`) and does not contain `detail`
    yet, `detail` is added to it instead of writing a new entry (and its id is returned);
    otherwise (a forged, stale or repeated id) a new entry is written as usual.
    """
    dept = department or user.department or "none"
    if part_of is not None and detail:
        merged: int | None = await conn.fetchval(
            """UPDATE audit_log SET detail = detail || $5::jsonb
               WHERE id = $1 AND actor = $2 AND subject = $3 AND department = $4
                 AND at > now() - $6::interval AND NOT detail @> $5::jsonb
               RETURNING id""",
            part_of,
            user.username,
            subject,
            dept,
            _as_json(detail),
            PART_OF_WINDOW,
        )
        if merged is not None:
            return merged
    data = _as_json({"actor_name": user.display_name, **(detail or {})})
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


def _as_json(detail: Mapping[str, Any]) -> dict[str, Any]:
    """Round-trip through JSON so ids, dates and the like are stored as text."""
    data: dict[str, Any] = json.loads(json.dumps(dict(detail), default=str))
    return data


async def read_audit(
    conn: Connection | Pool,
    *,
    department: str,
    limit: int = 100,
    before_id: int | None = None,
    subject: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[AuditEntry]:
    """The department's entries, newest first; page with `before_id` (the last id shown).
    Filters: `subject`, `actor`, `action`, and `since` <= at < `until`."""
    rows = await conn.fetch(
        """SELECT id, at, actor, department, action, subject, detail FROM audit_log
           WHERE department = $1
             AND ($2::bigint IS NULL OR id < $2)
             AND ($3::text IS NULL OR subject = $3)
             AND ($4::text IS NULL OR actor = $4)
             AND ($5::text IS NULL OR action = $5)
             AND ($6::timestamptz IS NULL OR at >= $6)
             AND ($7::timestamptz IS NULL OR at < $7)
           ORDER BY id DESC LIMIT $8""",
        department,
        before_id,
        subject,
        actor,
        action,
        since,
        until,
        max(1, min(limit, 1000)),
    )
    return [AuditEntry(**dict(r)) for r in rows]


async def actor_names(
    conn: Connection | Pool, *, department: str, usernames: Iterable[str] | None = None
) -> dict[str, str]:
    """Display name by username, as each person last appeared in the department's audit log
    (every staff decision is logged with the name): for showing names where events keep only
    the username. `usernames=None`: everyone in the log. A username without an entry is absent,
    so callers fall back to the username itself."""
    wanted = None if usernames is None else sorted(set(usernames))
    if wanted == []:
        return {}
    rows = await conn.fetch(
        """SELECT DISTINCT ON (actor) actor, detail->>'actor_name' AS name FROM audit_log
           WHERE department = $1 AND ($2::text[] IS NULL OR actor = ANY($2::text[]))
             AND detail ? 'actor_name'
           ORDER BY actor, id DESC""",
        department,
        wanted,
    )
    return {r["actor"]: r["name"] for r in rows}
