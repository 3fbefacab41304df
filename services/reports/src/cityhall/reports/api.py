"""The departments' dashboard at /staff/reports/: each clerk's queue (their departments' reports,
filtered, overdue ones highlighted, live), one report (its view and every photo audited; the map
point, the history), triage and work (accept, duplicate of, reject, assign, 対応中, 対応済み with
an after-photo, move, internal notes), forgetting a resident, and the satisfaction statistics.
The after-photos are public (LINE fetches them to show the residents)."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Form, HTTPException, Request, Response, UploadFile
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from cityhall import town
from cityhall.events.decider import DomainError
from cityhall.events.store import RecordedEvent
from cityhall.line.content import MAX_BYTES, PhotoRefused
from cityhall.line.japanese import datetime_ja
from cityhall.reports import projections
from cityhall.reports.categories import CATEGORIES, DEPARTMENTS
from cityhall.reports.domain import REFUSED, STATUSES
from cityhall.reports.events import (
    Accept,
    AddNote,
    Assign,
    Command,
    MarkDuplicate,
    Move,
    Reject,
    ReportAccepted,
    ReportAssigned,
    ReportFiled,
    ReportMarkedDuplicate,
    ReportMoved,
    ReportNoted,
    ReportRated,
    ReportRejected,
    ReportReopened,
    ReportResolved,
    ReportStarted,
    ReportSubscribed,
    Resolve,
    Start,
)
from cityhall.reports.handlers import Reports, StaffAction
from cityhall.reports.messages import REFUSED_PHOTO
from cityhall.reports.spec import ROLES
from cityhall.web import LiveUpdates, StaffAuth, StaffUser, create_templates, csrf_protect, install
from cityhall.web import require_role as role

Clerk = Annotated[StaffUser, Depends(role(*ROLES))]
Checked = [Depends(csrf_protect)]
MAP_WIDTH, MAP_HEIGHT = 600, 480
ACTIONS = ("accept", "duplicate", "reject", "assign", "start", "resolve", "move", "note")


def departments_of(user: StaffUser) -> list[str]:
    return [d for d in DEPARTMENTS if user.has_role(d)]


def town_map() -> dict[str, Any]:
    """The town's boundary and districts as SVG polygons (the map works offline)."""
    features = town.geojson()["features"]
    return {
        "width": MAP_WIDTH,
        "height": MAP_HEIGHT,
        "shapes": [
            {
                "kind": f["properties"]["kind"],
                "name": f["properties"]["name"],
                "points": " ".join(
                    "{:.1f},{:.1f}".format(*to_svg(lat, lng)) for lng, lat in f["geometry"]["coordinates"][0]
                ),
                "label": to_svg(*_centre(f["geometry"]["coordinates"][0])),
            }
            for f in features
        ],
    }


def _centre(ring: list[list[float]]) -> tuple[float, float]:
    lats, lngs = [p[1] for p in ring[:-1]], [p[0] for p in ring[:-1]]
    return sum(lats) / len(lats), sum(lngs) / len(lngs)


def to_svg(lat: float, lng: float) -> tuple[float, float]:
    south, west, north, east = town.town().bounds
    return (lng - west) / (east - west) * MAP_WIDTH, (north - lat) / (north - south) * MAP_HEIGHT


def overdue(row: dict[str, Any], now: datetime) -> bool:
    return (
        row["status"] in projections.OPEN_STATUSES and row["filed_at"] + CATEGORIES[row["category"]].sla < now
    )


HISTORY = {
    ReportFiled.TYPE: "受付",
    ReportSubscribed.TYPE: "同じ通報として住民が登録",
    ReportAccepted.TYPE: "内容を確認（受付）",
    ReportMarkedDuplicate.TYPE: "重複として統合",
    ReportRejected.TYPE: "対応しない",
    ReportAssigned.TYPE: "担当者を割り当て",
    ReportStarted.TYPE: "対応中",
    ReportResolved.TYPE: "対応済み",
    ReportMoved.TYPE: "移管",
    ReportNoted.TYPE: "メモ",
    ReportReopened.TYPE: "通報者が再度の対応を依頼",
    ReportRated.TYPE: "通報者が満足度に回答",
}


def history_label(recorded: RecordedEvent) -> str:
    """One line of a report's history, as the clerk reads it (no resident's words)."""
    data = recorded.envelope.data or {}
    label = HISTORY.get(recorded.type, recorded.type)
    detail = {
        ReportAssigned.TYPE: lambda: f"：{data.get('to')}",
        ReportMoved.TYPE: lambda: f"：{DEPARTMENTS[data['department']].name}",
        ReportRejected.TYPE: lambda: f"（理由：{data.get('reason')}）",
        ReportNoted.TYPE: lambda: f"：{data.get('text')}",
        ReportRated.TYPE: lambda: "（満足）" if data.get("satisfied") else "（不満）",
    }.get(recorded.type, lambda: "")()
    by = f"［{data['by']}］" if data.get("by") else ""
    return f"{label}{detail}{by}"


def create_app(reports: Reports, auth: StaffAuth, live: LiveUpdates) -> FastAPI:
    app = FastAPI(title="reports", docs_url=None, redoc_url=None, openapi_url=None)
    install(app, auth)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="reports-static")
    templates = create_templates(Path(__file__).parent / "templates")
    templates.env.globals.update(
        categories=CATEGORIES,
        departments=DEPARTMENTS,
        statuses=STATUSES,
        refusals=REFUSED | REFUSED_PHOTO,
        districts=town.districts(),
        district_names={d.key: d.name for d in town.districts()},
        town_map=town_map(),
        to_svg=to_svg,
        history_label=history_label,
    )
    templates.env.filters["jst"] = datetime_ja

    def back(request: Request, report_id: uuid.UUID, **outcome: str) -> Response:
        root = str(request.scope.get("root_path", "")).rstrip("/")
        query = "&".join(f"{k}={v}" for k, v in outcome.items())
        return RedirectResponse(f"{root}/reports/{report_id}?{query}", status_code=303)

    async def listing(
        user: StaffUser, department: str, status: str, category: str, district: str
    ) -> dict[str, Any]:
        mine = departments_of(user)
        chosen = department if department in mine else mine[0]
        rows = await projections.queue(
            reports.pool, chosen, status=status, category=category, district=district
        )
        now = reports.clock()
        for row in rows:
            row["overdue"] = overdue(row, now)
            row["map"] = to_svg(row["latitude"], row["longitude"])
        escalation = [r for r in rows if r["overdue"]]
        return {
            "user": user,
            "rows": rows,
            "escalation": escalation,
            "department": chosen,
            "mine": mine,
            "filters": {"status": status, "category": category, "district": district},
        }

    @app.get("/", include_in_schema=False)
    async def home(
        request: Request,
        user: Clerk,
        department: str = "",
        status: str = "open",
        category: str = "",
        district: str = "",
    ) -> Response:
        context = await listing(user, department, status, category, district)
        return templates.TemplateResponse(request, "reports/home.html", context)

    @app.get("/fragments/queue", include_in_schema=False)
    async def fragment(
        request: Request,
        user: Clerk,
        department: str = "",
        status: str = "open",
        category: str = "",
        district: str = "",
    ) -> Response:
        context = await listing(user, department, status, category, district)
        return templates.TemplateResponse(request, "reports/_queue.html", context)

    @app.get("/live", include_in_schema=False)
    async def stream(user: Clerk) -> Response:
        return live.response()

    @app.get("/stats", include_in_schema=False)
    async def stats(request: Request, user: Clerk) -> Response:
        rows = [r for r in await projections.satisfaction(reports.pool) if user.has_role(r["department"])]
        return templates.TemplateResponse(request, "reports/stats.html", {"user": user, "rows": rows})

    async def readable(user: StaffUser, report_id: uuid.UUID) -> dict[str, Any]:
        row = await projections.report(reports.pool, report_id)
        if row is None:
            raise HTTPException(404, "この通報は見つかりません。")
        if not user.has_role(row["department"]):
            raise HTTPException(403, "この通報は他の課の担当です。")
        return row

    @app.get("/reports/{report_id}", include_in_schema=False)
    async def detail(
        request: Request, report_id: uuid.UUID, user: Clerk, done: str = "", error: str = ""
    ) -> Response:
        await readable(user, report_id)
        row = await reports.read(user, report_id)
        if row is None:
            raise HTTPException(404, "この通報は見つかりません。")
        row["overdue"] = overdue(row, reports.clock())
        row["point"] = to_svg(row["latitude"], row["longitude"])
        context = {"user": user, "r": row, "done": done, "error": error}
        return templates.TemplateResponse(
            request, "reports/report.html", context, headers={"cache-control": "no-store"}
        )

    @app.get("/reports/{report_id}/photos/{photo_id}", include_in_schema=False)
    async def photo(
        report_id: uuid.UUID, photo_id: uuid.UUID, user: Clerk, thumbnail: bool = False
    ) -> Response:
        await readable(user, report_id)
        found = await reports.photo(user, report_id, photo_id, thumbnail=thumbnail)
        if found is None:
            raise HTTPException(404, "この写真はありません（削除済みか、消去済みです）。")
        content_type, data = found
        return Response(
            data,
            media_type=content_type,
            headers={"cache-control": "no-store", "x-content-type-options": "nosniff"},
        )

    @app.get("/after-photos/{photo_id}.jpg", include_in_schema=False)
    async def after_photo(photo_id: uuid.UUID) -> Response:
        data = await reports.after_photo(photo_id)
        if data is None:
            raise HTTPException(404, "この写真はありません。")
        return Response(data, media_type="image/jpeg", headers={"x-content-type-options": "nosniff"})

    @app.post("/reports/{report_id}/forget", include_in_schema=False, dependencies=Checked)
    async def forget(request: Request, report_id: uuid.UUID, user: Clerk) -> Response:
        row = await readable(user, report_id)
        if row["user_id"]:
            await reports.forget(user, row["user_id"])
        return back(request, report_id, done="forgotten")

    @app.post("/reports/{report_id}/{action}", include_in_schema=False, dependencies=Checked)
    async def act(
        request: Request,
        report_id: uuid.UUID,
        action: str,
        user: Clerk,
        reason: Annotated[str, Form()] = "",
        text: Annotated[str, Form()] = "",
        to: Annotated[str, Form()] = "",
        of: Annotated[str, Form()] = "",
        department: Annotated[str, Form()] = "",
        note: Annotated[str, Form()] = "",
        after_photo: UploadFile | None = None,
    ) -> Response:
        if action not in ACTIONS:
            raise HTTPException(404, "この操作はありません。")
        await readable(user, report_id)
        by = user.username
        photo: bytes | None = None
        command: Command
        match action:
            case "accept":
                command = Accept(by=by)
            case "duplicate":
                original = await projections.by_number(reports.pool, of.strip().upper())
                if original is None:
                    return back(request, report_id, error="not_filed")
                command = MarkDuplicate(of=original, by=by)
            case "reject":
                command = Reject(reason=reason, by=by)
            case "assign":
                command = Assign(to=to, by=by)
            case "start":
                command = Start(by=by)
            case "resolve":
                if after_photo is not None and after_photo.filename:
                    photo = await after_photo.read(MAX_BYTES + 1)
                command = Resolve(by=by, note=note, at=reports.clock())
            case "move":
                command = Move(department=department, by=by)
            case _:
                command = AddNote(text=text, by=by)
        try:
            await reports.act(user, report_id, StaffAction(command, photo))
        except DomainError as exc:
            return back(request, report_id, error=exc.reason)
        except PhotoRefused as exc:
            return back(request, report_id, error=exc.reason)
        if action == "move":  # it is another department's now: back to the queue
            root = str(request.scope.get("root_path", "")).rstrip("/")
            return RedirectResponse(f"{root}/?done=moved", status_code=303)
        return back(request, report_id, done=action)

    return app
