"""notify's staff API at /staff/notify (JSON; the department's dashboard comes later).

Every route needs a staff session (or OIDC bearer token) with the `notify` role:
- `GET /api/status`: the delivery pipeline in numbers (queue depth, outcomes so far);
- `GET /api/deliveries?user_id=&request_id=&limit=`: delivery records, newest first.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query

from cityhall.events.db import Pool
from cityhall.notify.dispatcher import Dispatcher
from cityhall.web import StaffAuth, StaffUser, install, require_role

ROLE = "notify"
Clerk = Annotated[StaffUser, Depends(require_role(ROLE, f"{ROLE}-admin"))]

_COLUMNS = """event_id, request_id, idempotency_key, requested_by, outcome, method, recipients, user_id,
              chunk, status, error, line_request_id, already_accepted, attempts, recorded_at"""


def create_api(pool: Pool, dispatcher: Dispatcher, auth: StaffAuth) -> FastAPI:
    app = FastAPI(title="notify", docs_url=None, redoc_url=None, openapi_url=None)
    install(app, auth)

    async def view_exists() -> bool:
        exists: bool = await pool.fetchval("SELECT to_regclass('deliveries') IS NOT NULL")
        return exists

    @app.get("/api/status")
    async def status(_: Clerk) -> dict[str, Any]:
        queued = await pool.fetchval("SELECT count(*) FROM delivery_queue")
        outcomes: dict[str, int] = {}
        if await view_exists():
            rows = await pool.fetch("SELECT outcome, count(*) AS n FROM deliveries GROUP BY outcome")
            outcomes = {r["outcome"]: r["n"] for r in rows}
        return {"dispatcher_active": dispatcher.active, "queued": queued, "outcomes": outcomes}

    @app.get("/api/deliveries")
    async def deliveries(
        _: Clerk,
        user_id: Annotated[str | None, Query(max_length=64)] = None,
        request_id: uuid.UUID | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> dict[str, Any]:
        if not await view_exists():
            return {"deliveries": []}
        rows = await pool.fetch(
            f"""SELECT {_COLUMNS} FROM deliveries
                WHERE ($1::text IS NULL OR user_id = $1) AND ($2::uuid IS NULL OR request_id = $2)
                ORDER BY recorded_at DESC, event_id LIMIT $3""",
            user_id,
            request_id,
            limit,
        )
        return {
            "deliveries": [
                {
                    **dict(r),
                    "event_id": str(r["event_id"]),
                    "request_id": str(r["request_id"]),
                    "recorded_at": r["recorded_at"].isoformat(),
                }
                for r in rows
            ]
        }

    return app
