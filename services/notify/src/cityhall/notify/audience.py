"""Residents' 配信設定 as stored: sealed with the resident's key, plus the code table segments
select on (`audience`). Every read and write runs in the caller's transaction."""

from __future__ import annotations

from datetime import date

from cityhall.events.db import Connection, Pool
from cityhall.events.personal import FORGOTTEN, PersonalData
from cityhall.notify.preferences import Preferences
from cityhall.notify.segments import Condition, Where

_UPSERT = """
    INSERT INTO audience (user_id, district, interests, children, moved_in, language, quiet_start, quiet_end)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
    ON CONFLICT (user_id) DO UPDATE SET district = excluded.district,
        interests = excluded.interests, children = excluded.children, moved_in = excluded.moved_in,
        language = excluded.language, quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end"""


class Audience:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.personal = PersonalData(pool)

    async def load(self, conn: Connection, user_id: str) -> Preferences:
        """The resident's preferences (the defaults when they never set any, or were forgotten)."""
        sealed: str | None = await conn.fetchval("SELECT sealed FROM preferences WHERE user_id = $1", user_id)
        if sealed is None:
            return Preferences()
        text = await self.personal.decrypt(sealed, conn=conn)
        return Preferences() if text == FORGOTTEN else Preferences.from_json(text)

    async def save(self, conn: Connection, user_id: str, prefs: Preferences) -> None:
        """Seal and store; raises `SubjectForgotten` for a resident who was forgotten."""
        sealed = await self.personal.encrypt(user_id, prefs.to_json(), conn=conn)
        await conn.execute(
            """INSERT INTO preferences (user_id, sealed) VALUES ($1, $2)
               ON CONFLICT (user_id) DO UPDATE SET sealed = excluded.sealed, updated_at = now()""",
            user_id,
            sealed,
        )
        codes = prefs.codes()
        await conn.execute(
            _UPSERT, user_id, codes.district, codes.interests, codes.children, codes.moved_in,
            codes.language, codes.quiet_start, codes.quiet_end,
        )  # fmt: skip

    async def friend(self, conn: Connection, user_id: str, *, reachable: bool) -> None:
        """Follow (a row with the defaults, or the kept one) or block, as the friend registry says."""
        if reachable:
            if await conn.fetchval("SELECT true FROM forgotten_subjects WHERE subject = $1", user_id):
                return  # forgotten: no code-table row, so no campaign selects them again
            codes = Preferences().codes()
            await conn.execute(
                """INSERT INTO audience (user_id, interests, language) VALUES ($1, $2, $3)
                   ON CONFLICT (user_id) DO UPDATE SET blocked = false""",
                user_id,
                codes.interests,
                codes.language,
            )
        else:
            await conn.execute("UPDATE audience SET blocked = true WHERE user_id = $1", user_id)

    async def erase(self, conn: Connection, user_id: str) -> None:
        """Delete the resident's sealed preferences, code-table row and dialog (their key is the
        kit's to destroy: `cityhall.web.forget_resident`, in the same transaction)."""
        await conn.execute("DELETE FROM preferences WHERE user_id = $1", user_id)
        await conn.execute("DELETE FROM audience WHERE user_id = $1", user_id)
        await conn.execute("DELETE FROM notify_sessions WHERE user_id = $1", user_id)
        # Answers to 安否確認 keep their status for the counts; the note and location go with the key.
        await conn.execute(
            "UPDATE safety_answers SET note = NULL, location = NULL WHERE user_id = $1", user_id
        )

    async def count(
        self, condition: Condition, today: date, *, interest: int | None = None
    ) -> dict[str, int]:
        """Residents the condition selects: reachable ones (`count`), of them those who stopped the
        notice's interest (`opted_out`, not sent to), and those who blocked the account (`blocked`)."""
        where = Where(today, start=2)
        sql = where.sql(condition)
        row = await self.pool.fetchrow(
            f"""SELECT count(*) FILTER (WHERE NOT blocked AND ($1::smallint IS NULL OR interests @> ARRAY[$1::smallint])) AS count,
                       count(*) FILTER (WHERE NOT blocked AND $1::smallint IS NOT NULL AND NOT interests @> ARRAY[$1::smallint]) AS opted_out,
                       count(*) FILTER (WHERE blocked) AS blocked
                FROM audience WHERE {sql}""",
            interest,
            *where.params,
        )
        assert row is not None
        return {"count": row["count"], "opted_out": row["opted_out"], "blocked": row["blocked"]}
