"""Counting a segment's audience over 1,000,000 residents' preferences (notify's code table).

    uv run python -m bench.bench_audience

A durable local Postgres with notify's schema; the code table filled with 1,000,000 residents
(districts, interests with some stopped, children's birth months, languages, quiet hours, a few
blocked), vacuumed and analysed (as autovacuum leaves a table in service). Each condition is
counted as the staff's segment builder counts it while the condition is edited (`Audience.count`, the query behind `POST /api/segments/count`), 7 times;
the table gives the median and the slowest. Target: every count < 500 ms.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from bench.infra import postgres
from cityhall.events import db
from cityhall.events.localpg import create_database_async, drop_database_async
from cityhall.line.japanese import jst
from cityhall.notify.audience import Audience
from cityhall.notify.preferences import INTERESTS, month_index
from cityhall.notify.segments import parse

RESIDENTS = 1_000_000
ROUNDS = 7
TARGET_MS = 500.0

CONDITIONS: list[tuple[str, dict[str, Any], str | None]] = [
    ("everyone", {"all": []}, None),
    ("two districts", {"district": ["higashi", "minami"]}, None),
    ("a 学区, interest 子育て", {"school": ["東小学校区"]}, "kosodate"),
    ("children 0歳 or 1–2歳 (stage by birth month)", {"stage": ["age0", "age1_2"]}, None),
    (
        "(district A or B) and (子育て or 小学生) and English",
        {
            "all": [
                {"any": [{"district": ["honcho"]}, {"district": ["kita"]}]},
                {"any": [{"interest": ["kosodate"]}, {"stage": ["elementary"]}]},
                {"language": ["en"]},
            ]
        },
        "kosodate",
    ),
    ("moved in within 90 days", {"moved_in_within_days": 90}, "gomi"),
]


async def seed(
    conn: db.Connection, count: int, *, districts: int = 5, blocked: float = 0.02, moved: float = 0.05
) -> None:
    """`count` residents in the code table: ids 'U' + md5, spread over `districts` districts; a
    share `blocked` blocked the account, a share `moved` moved in during the last year."""
    today = jst(datetime.now(UTC)).date()
    now = month_index(today.year, today.month)
    every = "{" + ",".join(str(code) for code, _label in INTERESTS.values()) + "}"
    await conn.execute(
        f"""INSERT INTO audience (user_id, blocked, district, interests, children, moved_in, language,
                                  quiet_start, quiet_end)
            SELECT 'U' || md5(g::text), random() < $2, d,
                   CASE WHEN random() < 0.15 THEN array_remove('{every}'::smallint[], (1 + floor(random() * 8))::smallint)
                        ELSE '{every}'::smallint[] END,
                   CASE WHEN random() < 0.25 THEN ARRAY[($3 - floor(random() * 190))::int, ($3 - floor(random() * 190))::int]
                        ELSE '{{}}'::int[] END,
                   CASE WHEN random() < $5 THEN current_date - (random() * 365)::int END,
                   CASE WHEN random() < 0.9 THEN 0 ELSE (1 + floor(random() * 5))::smallint END,
                   CASE WHEN random() < 0.3 THEN 22 END, CASE WHEN random() < 0.3 THEN 7 END
            FROM generate_series(1, $1) AS g, LATERAL (SELECT 1 + (g % $4)::smallint AS d) AS district""",
        count,
        blocked,
        now,
        districts,
        moved,
    )
    # As autovacuum leaves a table in service: hint bits set, visibility map and statistics made
    # (otherwise the first counts write half the table back, setting hint bits).
    await conn.execute("VACUUM (ANALYZE) audience")


async def run(admin_dsn: str) -> None:
    name = f"bench_audience_{uuid.uuid4().hex[:8]}"
    dsn = await create_database_async(admin_dsn, name)
    try:
        pool = await db.create_pool(dsn, "svc_notify")
        try:
            await db.migrate(pool, ("cityhall.events", "cityhall.web", "cityhall.notify"))
            started = time.monotonic()
            async with pool.acquire() as conn:
                await seed(conn, RESIDENTS)
            print(f"seeded {RESIDENTS:,} residents in {time.monotonic() - started:.1f} s", flush=True)
            audience = Audience(pool)
            today = jst(datetime.now(UTC)).date()
            print(f"| condition | audience | median | slowest | target < {TARGET_MS:.0f} ms |")
            print("|---|---|---|---|---|")
            for label, data, interest in CONDITIONS:
                condition = parse(data)
                code = INTERESTS[interest][0] if interest else None
                timings = []
                counted: dict[str, int] = {}
                for _ in range(ROUNDS):
                    begun = time.perf_counter()
                    counted = await audience.count(condition, today, interest=code)
                    timings.append((time.perf_counter() - begun) * 1000)
                slowest = max(timings)
                verdict = "met" if slowest < TARGET_MS else "not met"
                print(
                    f"| {label}{f' (interest {interest})' if interest else ''} | {counted['count']:,} "
                    f"| {statistics.median(timings):.0f} ms | {slowest:.0f} ms | {verdict} |",
                    flush=True,
                )
        finally:
            await pool.close()
    finally:
        await drop_database_async(admin_dsn, name)


def main() -> None:
    with postgres() as admin_dsn:
        asyncio.run(run(admin_dsn))


if __name__ == "__main__":
    main()
