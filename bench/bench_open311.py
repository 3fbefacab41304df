"""Open311 `GET /open311/v2/requests.json?status=open` with 10,000 open (moderated) reports.

    uv run python -m bench.bench_open311 [--reports 10000] [--requests 1000]

reports-public's app (its migrations on a real Postgres, its routes in process through ASGI: the
handler, the query and the JSON, without a network hop); the reports spread over the last 60 days
so that the default 90-day window holds them all; the first page (50) each time, one request after
another.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from bench.infra import postgres
from cityhall.events.db import create_pool, migrate
from cityhall.events.localpg import create_database
from cityhall.events.store import EventStore
from cityhall.reports.categories import CATEGORIES
from cityhall.reports.events import receipt_number
from cityhall.reports.public import open311_api
from cityhall.reports.public.app import create_app


async def run(dsn: str, reports: int, requests: int) -> None:
    rng = random.Random(311)
    pool = await create_pool(dsn, "svc_reports_public")
    try:
        await migrate(pool, ["cityhall.events", "cityhall.reports.public"])
        now = datetime.now(UTC)
        rows = []
        for _ in range(reports):
            report_id = uuid.uuid4()
            category = rng.choice(list(CATEGORIES.values()))
            filed = now - timedelta(seconds=rng.uniform(0, 60 * 86400))
            rows.append((report_id, receipt_number(report_id), category.key, "honcho", category.department,
                         rng.uniform(35.651, 35.669), rng.uniform(139.521, 139.549),
                         rng.choice(["accepted", "in_progress"]), filed, filed))  # fmt: skip
        async with pool.acquire() as conn:
            conn: asyncpg.Connection  # type: ignore[no-redef]
            await conn.copy_records_to_table(
                "public_reports",
                records=rows,
                columns=["report_id", "number", "category", "district", "department", "latitude", "longitude",
                         "status", "filed_at", "updated_at"],
            )  # fmt: skip
            await conn.execute("ANALYZE public_reports")
        app = create_app(pool)
        open311_api.install(app, pool, EventStore(pool))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            url = f"{open311_api.PREFIX}/requests.json"
            for _ in range(50):  # warm-up
                (await client.get(url, params={"status": "open"})).raise_for_status()
            timings = []
            for _ in range(requests):
                started = time.perf_counter()
                response = await client.get(url, params={"status": "open"})
                timings.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200 and len(response.json()) == open311_api.PAGE_SIZE
    finally:
        await pool.close()
    q = statistics.quantiles(timings, n=100, method="inclusive")
    print(
        f"GET requests.json?status=open, {reports:,} open reports, {requests:,} requests: p50 {q[49]:.2f} ms,"
        f" p99 {q[98]:.2f} ms, max {max(timings):.2f} ms (target p99 < 100 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reports", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=1_000)
    args = parser.parse_args()
    with postgres() as server:
        dsn = create_database(server, "bench_open311")
        asyncio.run(run(dsn, args.reports, args.requests))


if __name__ == "__main__":
    main()
