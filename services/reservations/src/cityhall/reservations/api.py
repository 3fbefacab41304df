"""The departments' calendar at /staff/reservations/ (each clerk sees the resources of their
department): a resource's day or week with seats booked / capacity (live), a slot's attendees
with their answers (every view audited), cancel with a reason, attended / no-show, close a slot,
capacity (never below the seats booked), a day's CSV; and the resident's `.ics` link."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Form, HTTPException, Request, Response
from fastapi.responses import RedirectResponse

from cityhall.events.decider import DomainError
from cityhall.line.japanese import JST, datetime_ja
from cityhall.reservations import projections
from cityhall.reservations.catalogue import Resource, SlotRef, weekday_ja
from cityhall.reservations.domain import REFUSED
from cityhall.reservations.handlers import Reservations
from cityhall.reservations.ics import booking_calendar
from cityhall.reservations.messages import when
from cityhall.reservations.spec import FRONT_DESK, ROLES
from cityhall.web import LiveUpdates, StaffAuth, StaffUser, create_templates, csrf_protect, install
from cityhall.web import require_role as role

Clerk = Annotated[StaffUser, Depends(role(*ROLES))]
Checked = [Depends(csrf_protect)]


def create_app(service: Reservations, auth: StaffAuth, live: LiveUpdates) -> FastAPI:
    app = FastAPI(title="reservations", docs_url=None, redoc_url=None, openapi_url=None)
    install(app, auth)
    templates = create_templates(Path(__file__).parent / "templates")
    templates.env.globals["refusals"] = REFUSED
    templates.env.filters["jst"] = datetime_ja
    templates.env.filters["when"] = when
    catalogue = service.catalogue

    def resource_for(user: StaffUser, code: str) -> Resource:
        resource = catalogue.resource(code)
        if resource is None:
            raise HTTPException(404, "この予約枠は見つかりません。")
        if not user.has_role(resource.department, FRONT_DESK):
            raise HTTPException(403, "この予約枠を扱う権限がありません。")
        return resource

    def slot_for(user: StaffUser, code: str, stamp: str) -> tuple[Resource, SlotRef]:
        resource, ref = resource_for(user, code), SlotRef.parse(code, stamp)
        if ref is None or not catalogue.is_slot(resource, ref.start):
            raise HTTPException(404, "この予約枠は見つかりません。")
        return resource, ref

    def back(request: Request, path: str, **outcome: str) -> Response:
        root = str(request.scope.get("root_path", "")).rstrip("/")
        query = "&".join(f"{k}={v}" for k, v in outcome.items())
        return RedirectResponse(f"{root}{path}?{query}", status_code=303)

    async def calendar(resource: Resource, first: date, days: int) -> list[dict[str, Any]]:
        """Per day: its slots with booked / capacity / waiting / closed."""
        start = datetime.combine(first, time(0), JST)
        rows = await projections.slot_counts(service.pool, resource.code, start, start + timedelta(days=days))
        counts = {r["start"]: r for r in rows}
        out = []
        for offset in range(days):
            day = first + timedelta(days=offset)
            slots = []
            for moment in catalogue.slots_on(resource, day):
                row = counts.get(moment, {})
                slots.append(
                    {
                        "ref": SlotRef(resource.code, moment),
                        "time": f"{moment.hour}:{moment.minute:02}",
                        "booked": row.get("booked", 0),
                        "offered": row.get("offered", 0),
                        "waiting": row.get("waiting", 0),
                        "capacity": row.get("capacity") or resource.capacity,
                        "closed": row.get("closed", False),
                    }
                )
            out.append(
                {"day": day, "label": f"{day.month}月{day.day}日（{weekday_ja(day)}）", "slots": slots}
            )
        return out

    def parse_day(value: str) -> date:
        try:
            return date.fromisoformat(value) if value else datetime.now(JST).date()
        except ValueError:
            raise HTTPException(400, "日付は YYYY-MM-DD で指定してください。") from None

    @app.get("/", include_in_schema=False)
    async def home(request: Request, user: Clerk) -> Response:
        mine = [r for r in catalogue.resources if user.has_role(r.department, FRONT_DESK)]
        return templates.TemplateResponse(
            request, "reservations/home.html", {"user": user, "resources": mine}
        )

    async def resource_context(user: StaffUser, code: str, day: str, view: str) -> dict[str, Any]:
        resource, first = resource_for(user, code), parse_day(day)
        weekly = view == "week"
        if weekly:
            first -= timedelta(days=first.weekday())
        days = await calendar(resource, first, 7 if weekly else 1)
        step = timedelta(days=7 if weekly else 1)
        return {
            "user": user,
            "resource": resource,
            "days": days,
            "view": "week" if weekly else "day",
            "day": first.isoformat(),
            "previous": (first - step).isoformat(),
            "next": (first + step).isoformat(),
        }

    @app.get("/resources/{code}", include_in_schema=False)
    async def resource_page(
        request: Request, code: str, user: Clerk, day: str = "", view: str = "day"
    ) -> Response:
        context = await resource_context(user, code, day, view)
        return templates.TemplateResponse(request, "reservations/resource.html", context)

    @app.get("/fragments/resources/{code}", include_in_schema=False)
    async def resource_fragment(
        request: Request, code: str, user: Clerk, day: str = "", view: str = "day"
    ) -> Response:
        context = await resource_context(user, code, day, view)
        return templates.TemplateResponse(request, "reservations/_calendar.html", context)

    @app.get("/live", include_in_schema=False)
    async def stream(user: Clerk) -> Response:
        return live.response()

    @app.get("/slots/{code}/{stamp}", include_in_schema=False)
    async def slot_page(
        request: Request, code: str, stamp: str, user: Clerk, done: str = "", error: str = ""
    ) -> Response:
        resource, ref = slot_for(user, code, stamp)
        [day] = await calendar(resource, ref.start.astimezone(JST).date(), 1)
        counts = next(s for s in day["slots"] if s["ref"] == ref)
        rows = await service.attendees(user, ref, ref.start + timedelta(minutes=1))
        context = {
            "user": user, "resource": resource, "ref": ref, "counts": counts, "bookings": rows,
            "done": done, "error": error, "day": ref.start.astimezone(JST).date().isoformat(),
        }  # fmt: skip
        return templates.TemplateResponse(
            request, "reservations/slot.html", context, headers={"cache-control": "no-store"}
        )

    async def act(request: Request, ref: SlotRef, done: str, action: Any) -> Response:
        path = f"/slots/{ref.resource}/{ref.stamp}"
        try:
            await action
        except DomainError as exc:
            return back(request, path, error=exc.reason)
        return back(request, path, done=done)

    @app.post("/slots/{code}/{stamp}/close", include_in_schema=False, dependencies=Checked)
    async def close(
        request: Request, code: str, stamp: str, user: Clerk, reason: Annotated[str, Form()] = ""
    ) -> Response:
        _resource, ref = slot_for(user, code, stamp)
        return await act(request, ref, "closed", service.close(user, ref, reason))

    @app.post("/slots/{code}/{stamp}/capacity", include_in_schema=False, dependencies=Checked)
    async def capacity(
        request: Request, code: str, stamp: str, user: Clerk, seats: Annotated[int, Form()]
    ) -> Response:
        _resource, ref = slot_for(user, code, stamp)
        return await act(request, ref, "capacity", service.set_capacity(user, ref, seats))

    async def booked_slot(user: StaffUser, booking_id: uuid.UUID) -> SlotRef:
        row = await projections.booking(service.pool, booking_id)
        if row is None:
            raise HTTPException(404, "この予約は見つかりません。")
        resource_for(user, row["resource"])
        return SlotRef(row["resource"], row["start"])

    @app.post("/bookings/{booking_id}/cancel", include_in_schema=False, dependencies=Checked)
    async def cancel(
        request: Request, booking_id: uuid.UUID, user: Clerk, reason: Annotated[str, Form()] = ""
    ) -> Response:
        ref = await booked_slot(user, booking_id)
        return await act(request, ref, "cancelled", service.cancel(user, booking_id, reason))

    @app.post("/bookings/{booking_id}/attendance", include_in_schema=False, dependencies=Checked)
    async def attendance(
        request: Request, booking_id: uuid.UUID, user: Clerk, attended: Annotated[str, Form()]
    ) -> Response:
        ref = await booked_slot(user, booking_id)
        return await act(request, ref, "marked", service.mark(user, booking_id, attended == "yes"))

    @app.get("/resources/{code}/export.csv", include_in_schema=False)
    async def export(code: str, user: Clerk, day: str = "") -> Response:
        resource, first = resource_for(user, code), parse_day(day)
        start = SlotRef(resource.code, datetime.combine(first, time(0), JST))
        rows = await service.attendees(user, start, start.start + timedelta(days=1))
        out = io.StringIO()
        writer = csv.writer(out)
        questions = [q.label for q in resource.questions]
        writer.writerow(["予約番号", "日時", "状態", "出欠", *questions])
        for row in rows:
            attended = {True: "出席", False: "欠席", None: ""}[row["attended"]]
            status = "予約" if row["status"] == "booked" else "取消"
            answers = [row["answers"].get(q.key, "") for q in resource.questions]
            writer.writerow([row["number"], when(row["start"]), status, attended, *answers])
        name = f"{resource.code}-{first.isoformat()}.csv"
        return Response(
            "\ufeff" + out.getvalue(),  # a BOM, so that spreadsheet software reads UTF-8
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="{name}"', "cache-control": "no-store"},
        )

    @app.get("/ics/{booking_hex}.ics", include_in_schema=False)
    async def ics(request: Request, booking_hex: str, s: str = "") -> Response:
        try:
            booking_id = uuid.UUID(hex=booking_hex)
        except ValueError:
            raise HTTPException(404, "この予約は見つかりません。") from None
        if not service.links.signed(booking_id, s):
            raise HTTPException(403, "このリンクは使えません。LINEのトークに届いたリンクから開いてください。")
        row = await projections.booking(service.pool, booking_id)
        resource = catalogue.resource(row["resource"]) if row else None
        if row is None or resource is None or row["status"] != "booked":
            raise HTTPException(404, "この予約は見つからないか、キャンセルされています。")
        body = booking_calendar(
            booking_id,
            row["number"],
            resource,
            row["start"],
            row["booked_at"],
            request.url.hostname or "cityhall",
        )
        return Response(
            body,
            media_type="text/calendar; charset=utf-8",
            headers={"content-disposition": f'inline; filename="{row["number"]}.ics"'},
        )

    return app
