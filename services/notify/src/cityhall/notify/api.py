"""notify's HTTP surface at /staff/notify: the delivery pipeline's health in numbers.

Per-resident delivery records stay in the `deliveries` view until the staff login of
libs/web exists; nothing here names a resident.
"""

from __future__ import annotations

from fastapi import FastAPI

from cityhall.events.db import Pool
from cityhall.notify.dispatcher import Dispatcher


def create_api(pool: Pool, dispatcher: Dispatcher) -> FastAPI:
    app = FastAPI(title="notify", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/status")
    async def status() -> dict[str, object]:
        queued = await pool.fetchval("SELECT count(*) FROM delivery_queue")
        exists = await pool.fetchval("SELECT to_regclass('deliveries') IS NOT NULL")
        outcomes: dict[str, int] = {}
        if exists:
            rows = await pool.fetch("SELECT outcome, count(*) AS n FROM deliveries GROUP BY outcome")
            outcomes = {r["outcome"]: r["n"] for r in rows}
        return {"dispatcher_active": dispatcher.active, "queued": queued, "outcomes": outcomes}

    return app
