"""The duplicate look-up of 通報 with 10,000 open reports: open reports of the same category within
the category's radius of a point (`cityhall.reports.projections.nearby`, what a resident's
location message waits on).

    uv run python -m bench.bench_reports_nearby [--reports 10000] [--lookups 2000]

The read model is made with the service's own projection DDL on a real Postgres; the reports are
spread uniformly over the town's boundary, categories uniform; look-ups at uniform points of the
town, one connection, one after another (the latency a resident sees, not a throughput).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import uuid
from datetime import UTC, datetime

import asyncpg

from bench.infra import postgres
from cityhall import town
from cityhall.events.localpg import create_database
from cityhall.reports.categories import CATEGORIES
from cityhall.reports.events import receipt_number
from cityhall.reports.projections import TABLE, ReportsProjection, nearby


def point(rng: random.Random) -> town.Point:
    south, west, north, east = town.town().bounds
    while True:
        candidate = town.Point(rng.uniform(south, north), rng.uniform(west, east))
        if town.contains(candidate):
            return candidate


async def run(dsn: str, reports: int, lookups: int) -> None:
    rng = random.Random(15)
    conn = await asyncpg.connect(dsn)
    try:
        await ReportsProjection().create(conn, TABLE)
        categories = list(CATEGORIES)
        now = datetime.now(UTC)
        rows = []
        for _ in range(reports):
            report_id, at = uuid.uuid4(), point(rng)
            category = rng.choice(categories)
            rows.append((report_id, receipt_number(report_id), "U", category, "honcho", "roads", at.latitude,
                         at.longitude, [], "", "", "line", rng.choice(["open", "accepted", "in_progress"]), now, now))  # fmt: skip
        await conn.copy_records_to_table(
            TABLE,
            records=rows,
            columns=["report_id", "number", "user_id", "category", "district", "department", "latitude",
                     "longitude", "photos", "comment", "address", "channel", "status", "filed_at", "updated_at"],
        )  # fmt: skip
        await conn.execute(f"ANALYZE {TABLE}")
        for _ in range(200):  # warm-up
            await nearby(conn, rng.choice(categories), point(rng))
        timings, found = [], 0
        for _ in range(lookups):
            category, at = rng.choice(categories), point(rng)
            started = time.perf_counter()
            found += len(await nearby(conn, category, at))
            timings.append((time.perf_counter() - started) * 1000)
    finally:
        await conn.close()
    q = statistics.quantiles(timings, n=100, method="inclusive")
    print(
        f"nearby look-up, {reports:,} open reports, {lookups:,} look-ups: p50 {q[49]:.2f} ms,"
        f" p99 {q[98]:.2f} ms, max {max(timings):.2f} ms ({found} reports found; target p99 < 20 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reports", type=int, default=10_000)
    parser.add_argument("--lookups", type=int, default=2_000)
    args = parser.parse_args()
    with postgres() as server:
        dsn = create_database(server, "bench_reports")
        asyncio.run(run(dsn, args.reports, args.lookups))


if __name__ == "__main__":
    main()
