"""The newcomer series: messages on given days after a resident's 転入日 (ごみの出し方 on day 0,
子育て支援 on day 7, 防災 on day 30 as first offered), each at its set hour, Japan time.

Every minute the series looks for residents whose current step is due: the latest step whose day
has come, before the next step's day. So a resident who sets a 転入日 ten days back joins at the
day-7 step, not at day 0. A step goes to a resident once (`newcomer_sent`, written with the send's
chunks in one transaction), and not at all to one who stopped its interest or blocked the account.
The last step stays due for `LAST_STEP_FOR` days; after that a resident is no newcomer.
The chunks are sent by the notice sender like any campaign's.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cityhall.events.db import Pool
from cityhall.events.decider import DomainError
from cityhall.line.japanese import jst
from cityhall.notify import messages as say
from cityhall.notify.delivery import MULTICAST_MAX
from cityhall.notify.preferences import INTERESTS
from cityhall.notify.sender import NoticeSender
from cityhall.web import StaffUser, record_view

log = logging.getLogger(__name__)

SERIES = "newcomer"
LAST_STEP_FOR = 30
"""Days the last step stays due (someone who moved in long before is no newcomer)."""


class Newcomers:
    def __init__(
        self,
        pool: Pool,
        sender: NoticeSender,
        *,
        interval: float = 60.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.pool, self.sender, self.interval, self.clock = pool, sender, interval, clock

    async def run(self) -> None:
        await self.offer_defaults()
        while True:
            try:
                await self.tick(self.clock())
            except Exception:
                log.exception("the newcomer series could not run; trying again")
            await asyncio.sleep(self.interval)

    async def offer_defaults(self) -> None:
        """The first steps, once (staff edit them after)."""
        await self.pool.executemany(
            """INSERT INTO newcomer_steps (day, hour, interest, title, body) VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (day) DO NOTHING""",
            [
                (day, hour, INTERESTS[interest][0], title, body)
                for day, hour, interest, title, body in say.NEWCOMER_STEPS
            ],
        )

    async def steps(self) -> list[dict[str, Any]]:
        rows = await self.pool.fetch("SELECT * FROM newcomer_steps ORDER BY day")
        return [dict(r) for r in rows]

    async def edit(self, user: StaffUser, day: int, *, hour: int, title: str, body: str) -> None:
        """Change a step's hour and text; `DomainError("invalid", why)` when it cannot be sent as is."""
        title, body = title.strip(), body.strip()
        if not 0 <= hour <= 23:
            raise DomainError("invalid", "時刻は0時から23時の間で指定してください。")
        if not title or len(title) > 60 or not body or len(body) > say.MAX_NOTICE_TEXT:
            raise DomainError(
                "invalid", f"件名は60文字以内、本文は{say.MAX_NOTICE_TEXT}文字以内で入力してください。"
            )
        async with self.pool.acquire() as conn, conn.transaction():
            updated = await conn.execute(
                """UPDATE newcomer_steps SET hour = $2, title = $3, body = $4, updated_by = $5, updated_at = now()
                   WHERE day = $1""",
                day, hour, title, body, user.username,
            )  # fmt: skip
            if not updated.endswith(" 1"):
                raise DomainError("invalid", "この日のご案内はありません。")
            await record_view(conn, user, "edit_newcomer_step", f"newcomer-{day}", {"hour": hour})

    async def tick(self, now: datetime) -> int:
        """Send every step due at `now` to the residents it is due for; how many residents."""
        local = jst(now)
        today, steps, sent = local.date(), await self.steps(), 0
        for i, step in enumerate(steps):
            if local.hour < step["hour"]:
                continue
            following = steps[i + 1]["day"] if i + 1 < len(steps) else step["day"] + LAST_STEP_FOR
            sent += await self._send(
                step, today - timedelta(days=step["day"]), today - timedelta(days=following)
            )
        return sent

    async def _send(self, step: dict[str, Any], latest: date, before: date) -> int:
        """The step to residents who moved in on or before `latest` and after `before`; sent now."""
        send_id = uuid.uuid4()
        variants = {"0": [m.to_dict() for m in say.newcomer(step["title"], step["body"])]}
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                """INSERT INTO newcomer_sent (user_id, day, send_id)
                   SELECT user_id, $1, $2 FROM audience a
                   WHERE NOT blocked AND moved_in IS NOT NULL AND moved_in <= $3
                     AND moved_in > $4::date AND interests @> ARRAY[$5::smallint]
                     AND NOT EXISTS (SELECT 1 FROM newcomer_sent s WHERE s.user_id = a.user_id AND s.day >= $1)
                   ORDER BY a.n
                   ON CONFLICT DO NOTHING RETURNING user_id""",
                step["day"], send_id, latest, before, step["interest"],
            )  # fmt: skip
            recipients = [r["user_id"] for r in rows]
            if not recipients:
                return 0
            await conn.execute(
                """INSERT INTO notice_sends (send_id, alert, condition, interest, variants, not_before, materialized, series)
                   VALUES ($1, false, '{"all": []}', $2, $3, now(), true, $4)""",
                send_id, step["interest"], variants, SERIES,
            )  # fmt: skip
            chunks = [recipients[i : i + MULTICAST_MAX] for i in range(0, len(recipients), MULTICAST_MAX)]
            await conn.executemany(
                """INSERT INTO notice_chunks (send_id, idx, variant, release_at, recipients, size)
                   VALUES ($1, $2, 0, now(), $3, $4)""",
                [(send_id, i, chunk, len(chunk)) for i, chunk in enumerate(chunks)],
            )
            await conn.execute(
                "UPDATE notice_sends SET next_chunk = $2 WHERE send_id = $1", send_id, len(chunks)
            )
            await conn.execute("SELECT pg_notify($1, '')", await self.sender.channel())
        return len(recipients)
