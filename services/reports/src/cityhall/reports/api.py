"""The departments' dashboard at /staff/reports/: each clerk's queue (their departments' reports,
filtered, overdue ones highlighted, live), one report (its view and every photo audited; the map
point, the history), triage and work (accept, duplicate of, reject, assign, 対応中, 対応済み with
an after-photo, move, internal notes), forgetting a resident, and the satisfaction statistics.
The after-photos and the photos staff published (blurred) are public (LINE fetches the former)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Form, HTTPException, Query, Request, Response, UploadFile
from fastapi.staticfiles import StaticFiles

from cityhall import town
from cityhall.events.decider import DomainError
from cityhall.events.projection import caught_up
from cityhall.events.store import RecordedEvent
from cityhall.line.content import MAX_BYTES, PhotoRefused
from cityhall.line.japanese import datetime_ja
from cityhall.reports import projections, townmap
from cityhall.reports.categories import CATEGORIES, DEPARTMENTS
from cityhall.reports.domain import REFUSED, STATUSES, refused
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
from cityhall.reports.handlers import Reports, StaffAction, open311_subject
from cityhall.reports.messages import REFUSED_PHOTO
from cityhall.reports.spec import ROLES
from cityhall.web import (
    AUDIT_PAGE_SIZE,
    LiveUpdates,
    StaffAuth,
    StaffUser,
    create_templates,
    csrf_protect,
    install,
    read_audit,
)
from cityhall.web import require_role as role
from cityhall.web.routes import redirect_back

Clerk = Annotated[StaffUser, Depends(role(*ROLES))]
Admin = Annotated[StaffUser, Depends(role(*(f"{r}-admin" for r in ROLES)))]
Checked = [Depends(csrf_protect)]
ACTIONS = ("accept", "duplicate", "reject", "assign", "start", "resolve", "move", "note")


@dataclass
class Filters:
    """The queue's filters (query parameters)."""

    department: str = ""
    status: str = "active"
    category: str = ""
    district: str = ""


AUDIT_ACTIONS = {
    "view_report": "通報の閲覧",
    "view_report_photo": "写真の閲覧",
    "publish_report_photo": "写真の公開（ぼかし）",
    "forget_resident": "個人情報の消去",
    "issue_open311_key": "APIキーの発行",
    "revoke_open311_key": "APIキーの無効化",
}


def parse_regions(text: str) -> list[tuple[float, float, float, float]]:
    """Regions to blur, one a line: `left,top,width,height` in percent of the photo."""
    regions = []
    for line in text.replace("、", ",").splitlines():
        if not line.strip():
            continue
        try:
            left, top, width, height = (float(v) for v in line.split(","))
        except ValueError as exc:
            raise refused("no_regions") from exc
        if not (0 <= left < 100 and 0 <= top < 100 and 0 < width <= 100 and 0 < height <= 100):
            raise refused("no_regions")
        regions.append((left, top, width, height))
    if len(regions) > 20:
        raise refused("no_regions")
    return regions


def departments_of(user: StaffUser) -> list[str]:
    return [d for d in DEPARTMENTS if user.has_role(d)]


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
        town_map=townmap.shapes(),
        tiles=[],
        history_label=history_label,
    )
    templates.env.filters["jst"] = datetime_ja

    async def back(request: Request, report_id: uuid.UUID, **outcome: str) -> Response:
        """To the report's page; after a decision, once the read models show it."""
        if "done" in outcome:
            await caught_up(reports.pool, [projections.TABLE, projections.KEYS])
        return redirect_back(request, f"/reports/{report_id}", **outcome)

    async def listing(user: StaffUser, filters: Filters) -> dict[str, Any]:
        mine = departments_of(user)
        chosen = filters.department if filters.department in mine else mine[0]
        rows = await projections.queue(
            reports.pool, chosen, status=filters.status, category=filters.category, district=filters.district
        )
        now = reports.clock()
        for row in rows:
            row["overdue"] = overdue(row, now)
            row["map"] = townmap.to_svg(row["latitude"], row["longitude"])
        escalation = [r for r in rows if r["overdue"]]
        return {
            "user": user,
            "rows": rows,
            "escalation": escalation,
            "department": chosen,
            "mine": mine,
            "filters": {"status": filters.status, "category": filters.category, "district": filters.district},
        }

    @app.get("/", include_in_schema=False)
    async def home(request: Request, user: Clerk, filters: Annotated[Filters, Depends()]) -> Response:
        return templates.TemplateResponse(request, "reports/home.html", await listing(user, filters))

    @app.get("/fragments/queue", include_in_schema=False)
    async def fragment(request: Request, user: Clerk, filters: Annotated[Filters, Depends()]) -> Response:
        return templates.TemplateResponse(request, "reports/_queue.html", await listing(user, filters))

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
        row["point"] = townmap.to_svg(row["latitude"], row["longitude"])
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

    @app.get("/public-photos/{photo_id}.jpg", include_in_schema=False)
    async def public_photo(photo_id: uuid.UUID, thumbnail: bool = False) -> Response:
        """After-photos and published (blurred) photos: public, at an unguessable address."""
        data = await reports.public_photo(photo_id, thumbnail=thumbnail)
        if data is None:
            raise HTTPException(404, "この写真はありません。")
        return Response(data, media_type="image/jpeg", headers={"x-content-type-options": "nosniff"})

    @app.post("/reports/{report_id}/photos/{photo_id}/publish", include_in_schema=False, dependencies=Checked)
    async def publish(
        request: Request,
        report_id: uuid.UUID,
        photo_id: uuid.UUID,
        user: Clerk,
        regions: Annotated[str, Form()] = "",
    ) -> Response:
        await readable(user, report_id)
        try:
            await reports.publish_photo(user, report_id, photo_id, parse_regions(regions))
        except DomainError as exc:
            return await back(request, report_id, error=exc.reason)
        return await back(request, report_id, done="published")

    @app.post("/reports/{report_id}/forget", include_in_schema=False, dependencies=Checked)
    async def forget(request: Request, report_id: uuid.UUID, user: Clerk) -> Response:
        row = await readable(user, report_id)
        # An Open311 report's writer is known only by the request: its description is its subject.
        await reports.forget(user, row["user_id"] or open311_subject(report_id))
        return await back(request, report_id, done="forgotten")

    # An after-photo of up to MAX_BYTES comes with the form (the runtime's default bound is 1 MB).
    @app.post(
        "/reports/{report_id}/{action}",
        include_in_schema=False,
        dependencies=Checked,
        max_body_size=MAX_BYTES + 64 * 1024,
    )
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
                    return await back(request, report_id, error="not_filed")
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
            return await back(request, report_id, error=exc.reason)
        except PhotoRefused as exc:
            return await back(request, report_id, error=exc.reason)
        if action == "move":  # it is another department's now: back to the queue
            await caught_up(reports.pool, [projections.TABLE])
            return redirect_back(request, "/", done="moved")
        return await back(request, report_id, done=action)

    @app.get("/audit", include_in_schema=False)
    async def audit(
        request: Request,
        user: Admin,
        department: str = "",
        action: str = "",
        before: Annotated[int | None, Query(ge=1)] = None,
    ) -> Response:
        """Who saw or did what with the department's reports (every view of personal data)."""
        mine = [d for d in DEPARTMENTS if user.has_role(f"{d}-admin")]
        chosen = department if department in mine else mine[0]
        entries = await read_audit(
            reports.pool,
            department=chosen,
            limit=AUDIT_PAGE_SIZE,
            before_id=before,
            action=action if action in AUDIT_ACTIONS else None,
        )
        older = (
            urlencode({"department": chosen, "action": action, "before": entries[-1].id})
            if len(entries) == AUDIT_PAGE_SIZE
            else None
        )
        context = {"user": user, "entries": entries, "department": chosen, "mine": mine, "action": action}
        context |= {"actions": AUDIT_ACTIONS, "older": older}
        return templates.TemplateResponse(
            request, "reports/audit.html", context, headers={"cache-control": "no-store"}
        )

    @app.get("/open311", include_in_schema=False)
    async def keys(request: Request, user: Admin, issued: str = "", error: str = "") -> Response:
        rows = await projections.keys(reports.pool)
        context = {"user": user, "keys": rows, "issued": issued, "error": error}
        return templates.TemplateResponse(
            request, "reports/open311.html", context, headers={"cache-control": "no-store"}
        )

    @app.post("/open311/keys", include_in_schema=False, dependencies=Checked)
    async def issue(request: Request, user: Admin, name: Annotated[str, Form()] = "") -> Response:
        try:
            key = await reports.issue_key(user, name)
        except DomainError as exc:
            return await keys_page(request, error=exc.reason)
        # Shown once, on this page only (never stored in clear, never in a URL).
        rows = await projections.keys(reports.pool)
        context = {"user": user, "keys": rows, "issued": key, "error": ""}
        return templates.TemplateResponse(
            request, "reports/open311.html", context, headers={"cache-control": "no-store"}
        )

    @app.post("/open311/keys/{key_id}/revoke", include_in_schema=False, dependencies=Checked)
    async def revoke(request: Request, key_id: uuid.UUID, user: Admin) -> Response:
        try:
            await reports.revoke_key(user, key_id)
        except DomainError as exc:
            return await keys_page(request, error=exc.reason)
        return await keys_page(request)

    async def keys_page(request: Request, **outcome: str) -> Response:
        await caught_up(reports.pool, [projections.KEYS])
        return redirect_back(request, "/open311", **outcome)

    return app
