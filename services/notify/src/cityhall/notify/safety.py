"""安否確認 (disaster mode's safety check): staff send a check to districts through the alert lane;
residents answer 無事 / 支援が必要 (with an optional note and location, sealed with their key);
staff see the answers counted per district and, audited, who needs help."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from cityhall.events.db import Connection, Pool
from cityhall.events.decider import DomainError
from cityhall.events.personal import FORGOTTEN, PersonalData
from cityhall.notify import messages as say
from cityhall.notify import town
from cityhall.notify.dialog import SafetyAnswer
from cityhall.notify.segments import SegmentError, parse
from cityhall.notify.sender import NoticeSender
from cityhall.web import StaffUser, record_view
from cityhall.web.personal import read_personal

SERIES = "safety"


class Safety:
    def __init__(self, pool: Pool, sender: NoticeSender, personal: PersonalData) -> None:
        self.pool, self.sender, self.personal = pool, sender, personal

    async def start(self, user: StaffUser, title: str, condition: Any) -> uuid.UUID:
        """Send a check to the districts `condition` names, now, ahead of every campaign."""
        title = title.strip()
        if not 1 <= len(title) <= 60:
            raise DomainError("invalid", "件名は1文字以上60文字以内で入力してください。")
        try:
            parse(condition, location_only=True)
        except SegmentError as exc:
            raise DomainError("invalid", str(exc)) from exc
        check_id = uuid.uuid4()
        variants = {"0": [m.to_dict() for m in say.safety_check(check_id, title)]}
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO safety_checks (check_id, title, condition, started_by) VALUES ($1, $2, $3, $4)",
                check_id, title, condition, user.username,
            )  # fmt: skip
            await conn.execute(
                """INSERT INTO notice_sends (send_id, alert, condition, variants, not_before, series)
                   VALUES ($1, true, $2, $3, $4, $5)""",
                check_id, condition, variants, self.sender.clock(), SERIES,
            )  # fmt: skip
            await record_view(conn, user, "start_safety_check", f"safety-{check_id}", {"title": title})
            await conn.execute("SELECT pg_notify($1, '')", await self.sender.channel())
        return check_id

    async def latest(self, conn: Connection, since: datetime) -> tuple[uuid.UUID, str] | None:
        """The newest check started since `since` (its id and title): what the 安否確認 tile answers."""
        row = await conn.fetchrow(
            "SELECT check_id, title FROM safety_checks WHERE started_at >= $1 ORDER BY started_at DESC LIMIT 1",
            since,
        )
        return (row["check_id"], row["title"]) if row else None

    async def known(self, conn: Connection, check_id: uuid.UUID) -> bool:
        return bool(await conn.fetchval("SELECT true FROM safety_checks WHERE check_id = $1", check_id))

    async def record(self, conn: Connection, user_id: str, answer: SafetyAnswer) -> None:
        """In the intent's transaction; raises `SubjectForgotten` for a forgotten resident's details."""
        note = await self.personal.encrypt(user_id, answer.note, conn=conn) if answer.note else None
        location = None
        if answer.location is not None:
            where = {"latitude": answer.location.latitude, "longitude": answer.location.longitude,
                     "address": answer.location.address}  # fmt: skip
            location = await self.personal.encrypt(user_id, json.dumps(where, ensure_ascii=False), conn=conn)
        await conn.execute(
            """INSERT INTO safety_answers (check_id, user_id, status, district, note, location)
               VALUES ($1, $2, coalesce($3, 'help'), (SELECT district FROM audience WHERE user_id = $2), $4, $5)
               ON CONFLICT (check_id, user_id) DO UPDATE SET
                   status = coalesce($3, safety_answers.status), note = coalesce($4, safety_answers.note),
                   location = coalesce($5, safety_answers.location), answered_at = now()""",
            answer.check_id, user_id, answer.status, note, location,
        )  # fmt: skip

    async def summary(self, check_id: uuid.UUID) -> dict[str, Any] | None:
        """The check and its answers counted per district (no personal data)."""
        check = await self.pool.fetchrow("SELECT * FROM safety_checks WHERE check_id = $1", check_id)
        if check is None:
            return None
        rows = await self.pool.fetch(
            """SELECT district, count(*) FILTER (WHERE status = 'safe') AS safe,
                      count(*) FILTER (WHERE status = 'help') AS help
               FROM safety_answers WHERE check_id = $1 GROUP BY district ORDER BY district""",
            check_id,
        )
        names = {d.code: d.name for d in town.DISTRICTS}
        return {
            "check_id": str(check_id), "title": check["title"], "started_by": check["started_by"],
            "started_at": check["started_at"].isoformat(),
            "districts": [{"district": names.get(r["district"], "地域未設定"), "safe": r["safe"], "help": r["help"]}
                          for r in rows],
        }  # fmt: skip

    async def needing_help(self, user: StaffUser, check_id: uuid.UUID) -> list[dict[str, Any]]:
        """Who needs help, with their note and location in clear; each resident's view is audited."""
        names = {d.code: d.name for d in town.DISTRICTS}
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                """SELECT user_id, district, note, location, answered_at FROM safety_answers
                   WHERE check_id = $1 AND status = 'help' ORDER BY answered_at""",
                check_id,
            )
            found = []
            for row in rows:
                # Each resident's note and location read in clear, each read in the audit log.
                shown = await read_personal(
                    conn, self.personal, user, "view_safety_help", f"safety-{check_id}",
                    {"note": row["note"], "location": row["location"]}, {"resident": row["user_id"]},
                )  # fmt: skip
                note, location = shown.get("note", ""), shown.get("location", "")
                found.append({
                    "user_id": row["user_id"], "district": names.get(row["district"], "地域未設定"),
                    "note": "（消去済み）" if note == FORGOTTEN else note,
                    "location": None if location in ("", FORGOTTEN) else json.loads(location),
                    "answered_at": row["answered_at"].isoformat(),
                })  # fmt: skip
            return found


async def checks(pool: Pool) -> list[dict[str, Any]]:
    """Every check, newest first, with its answers counted."""
    rows = await pool.fetch(
        """SELECT c.check_id, c.title, c.started_by, c.started_at,
                  count(a.user_id) FILTER (WHERE a.status = 'safe') AS safe,
                  count(a.user_id) FILTER (WHERE a.status = 'help') AS help
           FROM safety_checks c LEFT JOIN safety_answers a USING (check_id)
           GROUP BY c.check_id ORDER BY c.started_at DESC LIMIT 50"""
    )
    return [dict(r) for r in rows]
