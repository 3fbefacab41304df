"""notify's staff API at /staff/notify (JSON).

Every route needs a staff session (or OIDC bearer token); POSTs need the CSRF token too.
- `GET /api/status`, `GET /api/deliveries?user_id=&request_id=&limit=` (role `notify`): the
  delivery pipeline in numbers, delivery records newest first;
- `POST /api/segments/count` (any notify role): the audience of a condition, live;
- `POST /api/notices` (`notify-author`): a draft; `POST /api/notices/{id}/approve`
  (`notify-approver`, not the author), `POST /api/notices/{id}/cancel` (author or approver);
  `GET /api/notices`, `GET /api/notices/{id}`: notices and their progress;
- `POST /api/residents/{user_id}/forget` (`notify-admin`): shred a resident's 配信設定 (audited).
A refused request answers 422 with `{"error": <reason for staff>}`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from cityhall.events.db import Pool
from cityhall.events.decider import DomainError
from cityhall.notify import sender
from cityhall.notify.desk import Desk
from cityhall.notify.dispatcher import Dispatcher
from cityhall.notify.events import NoticeApproved, NoticeCancelled, NoticeCompleted, NoticeDrafted
from cityhall.notify.segments import SegmentError
from cityhall.web import StaffAuth, StaffUser, csrf_protect, install, require_role

ROLE = "notify"
ADMIN = f"{ROLE}-admin"
AUTHOR, APPROVER = f"{ROLE}-author", f"{ROLE}-approver"
Clerk = Annotated[StaffUser, Depends(require_role(ROLE, ADMIN))]
Staff = Annotated[StaffUser, Depends(require_role(ROLE, AUTHOR, APPROVER, ADMIN))]
Author = Annotated[StaffUser, Depends(require_role(AUTHOR, ADMIN))]
Approver = Annotated[StaffUser, Depends(require_role(APPROVER, ADMIN))]
Deciding = Annotated[StaffUser, Depends(require_role(AUTHOR, APPROVER, ADMIN))]
Admin = Annotated[StaffUser, Depends(require_role(ADMIN))]
Checked = [Depends(csrf_protect)]

_NOTICE_TYPES = [NoticeDrafted.TYPE, NoticeApproved.TYPE, NoticeCancelled.TYPE, NoticeCompleted.TYPE]


class CountRequest(BaseModel):
    condition: Any
    kind: Literal["campaign", "alert"] = "campaign"
    interest: str | None = None


class DraftRequest(BaseModel):
    kind: Literal["campaign", "alert"]
    title: str = Field(max_length=1000)
    condition: Any
    texts: dict[str, str]
    interest: str | None = None


class ApproveRequest(BaseModel):
    send_at: datetime | None = None


def refused(reason: str) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=422)


_COLUMNS = """event_id, request_id, idempotency_key, requested_by, outcome, method, recipients, user_id,
              chunk, status, error, line_request_id, already_accepted, attempts, recorded_at"""


def create_api(pool: Pool, dispatcher: Dispatcher, desk: Desk, auth: StaffAuth) -> FastAPI:
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

    @app.post("/api/segments/count", dependencies=Checked)
    async def count(_: Staff, body: CountRequest) -> Any:
        try:
            return await desk.count(body.condition, kind=body.kind, interest=body.interest)
        except SegmentError as exc:
            return refused(str(exc))

    @app.post("/api/notices", dependencies=Checked)
    async def draft(user: Author, body: DraftRequest) -> Any:
        try:
            notice_id = await desk.draft(
                user, kind=body.kind, title=body.title, condition=body.condition, texts=body.texts,
                interest=body.interest,
            )  # fmt: skip
        except DomainError as exc:
            return refused(str(exc))
        return {"notice_id": str(notice_id)}

    @app.post("/api/notices/{notice_id}/approve", dependencies=Checked)
    async def approve(user: Approver, notice_id: uuid.UUID, body: ApproveRequest | None = None) -> Any:
        try:
            await desk.approve(user, notice_id, body.send_at if body else None)
        except DomainError as exc:
            return refused(str(exc))
        return await notice(user, notice_id)

    @app.post("/api/notices/{notice_id}/cancel", dependencies=Checked)
    async def cancel(user: Deciding, notice_id: uuid.UUID) -> Any:
        try:
            await desk.cancel(user, notice_id)
        except DomainError as exc:
            return refused(str(exc))
        return await notice(user, notice_id)

    @app.get("/api/notices")
    async def notices(_: Staff) -> dict[str, Any]:
        rows = await pool.fetch(
            """SELECT stream, type, data FROM events WHERE category = 'notice' AND type = ANY($1::text[])
               ORDER BY tx, position""",
            _NOTICE_TYPES,
        )
        found: dict[str, dict[str, Any]] = {}
        for row in rows:
            data = dict(row["data"])
            if row["type"] == NoticeDrafted.TYPE:
                found[row["stream"]] = {**data, "status": "draft"}
            elif row["stream"] in found:
                notice = found[row["stream"]]
                step = {NoticeApproved.TYPE: "approved", NoticeCancelled.TYPE: "cancelled"}.get(
                    row["type"], "completed"
                )
                notice.update({f"{step}_{k}": v for k, v in data.items() if k != "notice_id"})
                if notice["status"] != "cancelled":  # a cancelled notice completes with what it sent
                    notice["status"] = step
        return {"notices": list(reversed(found.values()))}

    @app.get("/api/notices/{notice_id}")
    async def notice(_: Staff, notice_id: uuid.UUID) -> Any:
        listed = [n for n in (await notices(_))["notices"] if n["notice_id"] == str(notice_id)]
        if not listed:
            return JSONResponse({"error": "このお知らせは見つかりません。"}, status_code=404)
        progress = await sender.stats(pool, notice_id)
        for key in ("finished_at",):
            if progress.get(key):
                progress[key] = progress[key].isoformat()
        return {**listed[0], "progress": progress}

    @app.post("/api/residents/{user_id}/forget", dependencies=Checked)
    async def forget(user: Admin, user_id: Annotated[str, Path(max_length=64)]) -> dict[str, Any]:
        return {"forgotten": await desk.forget(user, user_id)}

    return app
