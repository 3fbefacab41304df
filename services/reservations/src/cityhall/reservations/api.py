"""The departments' calendar at /staff/reservations/ (each clerk sees the resources of their
department): a resource's day or week with seats booked / capacity (live), a slot's attendees
with their answers (every view audited), cancel with a reason, attended / no-show, close a slot,
capacity (never below the seats booked), a slot calendar imported from CSV, a day's CSV; and the resident's `.ics` link."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Form, HTTPException, Request, Response, UploadFile

from cityhall.events.decider import DomainError
from cityhall.line.japanese import JST, datetime_ja
from cityhall.reservations import projections, resources
from cityhall.reservations.bulky.dialog import is_pickup
from cityhall.reservations.catalogue import CalendarImportError, Resource, SlotRef, read_calendar, weekday_ja
from cityhall.reservations.domain import REFUSED
from cityhall.reservations.events import CALLER_NAME, CALLER_PHONE
from cityhall.reservations.handlers import Reservations
from cityhall.reservations.ics import booking_calendar
from cityhall.reservations.messages import when
from cityhall.reservations.spec import FRONT_DESK, ROLES
from cityhall.web import StaffApp, StaffUser
from cityhall.web import require_role as role
from cityhall.web.routes import CHECKED, NO_STORE, decided, found, redirect_back

Clerk = Annotated[StaffUser, Depends(role(*ROLES))]
MAX_UPLOAD = 1_000_000


def decoded(raw: bytes) -> str:
    """A CSV's text: UTF-8 (with or without a BOM), else Shift_JIS as spreadsheet software saves it."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp932")
    except UnicodeDecodeError:
        raise CalendarImportError(0, "文字コードは UTF-8 か Shift_JIS にしてください。") from None


def create_app(service: Reservations, staff: StaffApp) -> FastAPI:
    app, templates, live = staff.app, staff.templates, staff.live
    templates.env.globals["refusals"] = REFUSED
    templates.env.filters["jst"] = datetime_ja
    templates.env.filters["when"] = when
    templates.env.globals["caller_fields"] = (CALLER_NAME, CALLER_PHONE)

    def resource_for(user: StaffUser, code: str) -> Resource:
        resource = service.catalogue.resource(code)
        if resource is None:
            raise HTTPException(404, "この予約枠は見つかりません。")
        if not user.has_role(resource.department, FRONT_DESK):
            raise HTTPException(403, "この予約枠を扱う権限がありません。")
        return resource

    def slot_for(user: StaffUser, code: str, stamp: str) -> tuple[Resource, SlotRef]:
        resource, ref = resource_for(user, code), SlotRef.parse(code, stamp)
        if ref is None or not service.catalogue.is_slot(resource, ref.start):
            raise HTTPException(404, "この予約枠は見つかりません。")
        return resource, ref

    async def calendar(resource: Resource, first: date, days: int) -> list[dict[str, Any]]:
        """Per day: its slots with booked / capacity / waiting / closed."""
        start = datetime.combine(first, time(0), JST)
        rows = await projections.slot_counts(service.pool, resource.code, start, start + timedelta(days=days))
        counts = {r["start"]: r for r in rows}
        out = []
        for offset in range(days):
            day = first + timedelta(days=offset)
            slots = []
            for moment in service.catalogue.slots_on(resource, day):
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
        mine = [r for r in service.catalogue.resources if user.has_role(r.department, FRONT_DESK)]
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
        request: Request, code: str, user: Clerk, day: str = "", view: str = "day", done: str = ""
    ) -> Response:
        context = await resource_context(user, code, day, view) | {"done": done}
        return templates.TemplateResponse(request, "reservations/resource.html", context)

    @app.post("/resources/{code}/import", include_in_schema=False, dependencies=CHECKED)
    async def import_calendar(request: Request, code: str, user: Clerk, file: UploadFile) -> Response:
        """A slot calendar from CSV, whole or not at all; a refusal names the line and why."""
        resource = resource_for(user, code)
        raw = await file.read(MAX_UPLOAD + 1)
        try:
            if len(raw) > MAX_UPLOAD:
                raise CalendarImportError(0, "ファイルが大きすぎます（1MBまで）。")
            rows = read_calendar(service.catalogue, resource, decoded(raw))
            count = await service.import_calendar(user, rows)
        except CalendarImportError as exc:
            context = await resource_context(user, code, "", "day") | {"done": "", "import_error": str(exc)}
            return templates.TemplateResponse(request, "reservations/resource.html", context, status_code=422)
        await staff.caught_up()
        return redirect_back(request, f"/resources/{resource.code}", done="imported", rows=str(count))

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
        now = service.clock()
        targets = [  # (stamp, label): where a booking may be moved
            (SlotRef(resource.code, s).stamp, when(s))
            for d in service.catalogue.days(resource, now)
            for s in service.catalogue.slots_on(resource, d)
            if s > now and s != ref.start
        ]
        context = {
            "targets": targets,
            "user": user, "resource": resource, "ref": ref, "counts": counts, "bookings": rows,
            "done": done, "error": error, "day": ref.start.astimezone(JST).date().isoformat(),
        }  # fmt: skip
        return templates.TemplateResponse(request, "reservations/slot.html", context, headers=NO_STORE)

    async def act(request: Request, ref: SlotRef, done: str, action: Awaitable[object]) -> Response:
        """A clerk's decision on a slot: back to its page once the calendar shows it (or the refusal)."""
        path = f"/slots/{ref.resource}/{ref.stamp}"
        return await decided(request, path, action, done, caught_up=staff.caught_up)

    @app.post("/slots/{code}/{stamp}/close", include_in_schema=False, dependencies=CHECKED)
    async def close(
        request: Request, code: str, stamp: str, user: Clerk, reason: Annotated[str, Form()] = ""
    ) -> Response:
        _resource, ref = slot_for(user, code, stamp)
        return await act(request, ref, "closed", service.close(user, ref, reason))

    @app.post("/slots/{code}/{stamp}/capacity", include_in_schema=False, dependencies=CHECKED)
    async def capacity(
        request: Request, code: str, stamp: str, user: Clerk, seats: Annotated[int, Form()]
    ) -> Response:
        _resource, ref = slot_for(user, code, stamp)
        return await act(request, ref, "capacity", service.set_capacity(user, ref, seats))

    async def booked_slot(user: StaffUser, booking_id: uuid.UUID) -> SlotRef:
        row = found(await projections.booking(service.pool, booking_id), "この予約は見つかりません。")
        resource_for(user, row["resource"])
        return SlotRef(row["resource"], row["start"])

    @app.post("/bookings/{booking_id}/cancel", include_in_schema=False, dependencies=CHECKED)
    async def cancel(
        request: Request, booking_id: uuid.UUID, user: Clerk, reason: Annotated[str, Form()] = ""
    ) -> Response:
        ref = await booked_slot(user, booking_id)
        return await act(request, ref, "cancelled", service.cancel(user, booking_id, reason))

    @app.post("/bookings/{booking_id}/attendance", include_in_schema=False, dependencies=CHECKED)
    async def attendance(
        request: Request, booking_id: uuid.UUID, user: Clerk, attended: Annotated[str, Form()]
    ) -> Response:
        ref = await booked_slot(user, booking_id)
        return await act(request, ref, "marked", service.mark(user, booking_id, attended == "yes"))

    @app.post("/bookings/{booking_id}/move", include_in_schema=False, dependencies=CHECKED)
    async def move(
        request: Request,
        booking_id: uuid.UUID,
        user: Clerk,
        to: Annotated[str, Form()],
        reason: Annotated[str, Form()] = "",
    ) -> Response:
        ref = await booked_slot(user, booking_id)
        try:
            await service.move(user, booking_id, to, reason)
        except DomainError as exc:
            return redirect_back(request, f"/slots/{ref.resource}/{ref.stamp}", error=exc.reason)
        moved = SlotRef.parse(ref.resource, to)
        assert moved is not None  # the move checked it
        return redirect_back(request, f"/slots/{moved.resource}/{moved.stamp}", done="moved")

    @app.post("/bookings/{booking_id}/forget", include_in_schema=False, dependencies=CHECKED)
    async def forget(request: Request, booking_id: uuid.UUID, user: Clerk) -> Response:
        ref = await booked_slot(user, booking_id)
        row = await projections.booking(service.pool, booking_id)
        assert row is not None  # booked_slot found it
        await service.forget(user, row["user_id"])
        return redirect_back(request, f"/slots/{ref.resource}/{ref.stamp}", done="forgotten")

    @app.post("/slots/{code}/{stamp}/book", include_in_schema=False, dependencies=CHECKED)
    async def book_for_caller(request: Request, code: str, stamp: str, user: Clerk) -> Response:
        resource, ref = slot_for(user, code, stamp)
        form = await request.form()
        answers = {q.key: str(form.get(f"q_{q.key}", "")) for q in resource.questions}
        name, phone = str(form.get("name", "")), str(form.get("phone", ""))
        return await act(request, ref, "booked", service.book_for_caller(user, ref, name, phone, answers))

    @app.post("/resources/{code}/close-day", include_in_schema=False, dependencies=CHECKED)
    async def close_day(
        request: Request,
        code: str,
        user: Clerk,
        day: Annotated[str, Form()],
        reason: Annotated[str, Form()] = "",
    ) -> Response:
        resource, chosen = resource_for(user, code), parse_day(day)
        await service.close_day(user, resource.code, chosen, reason)
        return redirect_back(request, f"/resources/{resource.code}", day=chosen.isoformat(), done="closed")

    @app.middleware("http")
    async def current_settings(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """Every page reads the resources' settings as last edited (one small query when unchanged)."""
        await service.refresh()
        return await call_next(request)

    async def settings_page(
        request: Request,
        user: StaffUser,
        resource: Resource,
        *,
        done: str = "",
        errors: dict[str, str] | None = None,
        refusal: str = "",
        posted: dict[str, str] | None = None,
    ) -> Response:
        """The settings form: the current values (or those just posted, with what is wrong) and
        who changed what when."""
        values: dict[str, Any] = {
            **{k: getattr(resource, k) for k in (*resources.TEXTS, *resources.NUMBERS)},
            "bring": "\n".join(resource.bring),
            "opening": resources.opening_text(resource),
            **{
                f"q_{q.key}_{end}": getattr(q, end)
                for q in resource.questions
                for end in ("min", "max", "prompt")
            },
        }
        context = {
            "user": user, "resource": resource, "values": values | (posted or {}), "errors": errors or {},
            "refusal": refusal, "done": done, "labels": resources.LABELS,
            "bounds": {k: resources.bounds(k) for k in resources.NUMBERS},
            "history": await service.resource_history(resource.code),
        }  # fmt: skip
        status = 422 if errors or refusal else 200
        return templates.TemplateResponse(
            request, "reservations/settings.html", context, status_code=status, headers=NO_STORE
        )

    @app.get("/resources/{code}/settings", include_in_schema=False)
    async def settings(request: Request, code: str, user: Clerk, done: str = "") -> Response:
        return await settings_page(request, user, resource_for(user, code), done=done)

    @app.post("/resources/{code}/settings", include_in_schema=False, dependencies=CHECKED)
    async def edit_settings(request: Request, code: str, user: Clerk) -> Response:
        """A resource's settings saved whole as one event, or refused with why (nothing written)."""
        resource = resource_for(user, code)
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        try:
            changed = await service.edit_resource(user, resources.read_form(resource, form))
        except resources.SettingsInvalid as exc:
            return await settings_page(request, user, resource, errors=exc.errors, posted=form)
        except DomainError as exc:
            return await settings_page(request, user, resource, refusal=str(exc), posted=form)
        await staff.caught_up()
        return redirect_back(
            request, f"/resources/{resource.code}/settings", done="saved" if changed else "same"
        )

    @app.get("/resources/{code}/export.csv", include_in_schema=False)
    async def export(code: str, user: Clerk, day: str = "") -> Response:
        resource, first = resource_for(user, code), parse_day(day)
        start = SlotRef(resource.code, datetime.combine(first, time(0), JST))
        rows = await service.attendees(user, start, start.start + timedelta(days=1))
        out = io.StringIO()
        writer = csv.writer(out)
        questions = [q.label for q in resource.questions]
        pickup = ["収集場所", "当日の連絡先", "品目", "手数料", "支払い"] if is_pickup(resource) else []
        marks = ("収集", "収集済み", "未収集") if pickup else ("出欠", "出席", "欠席")
        writer.writerow(["予約番号", "日時", "状態", marks[0], *questions, *pickup])
        for row in rows:
            attended = {True: marks[1], False: marks[2], None: ""}[row["attended"]]
            status = "予約" if row["status"] == "booked" else "取消"
            answers = [row["answers"].get(q.key, "") for q in resource.questions]
            if pickup:
                found = row.get("pickup") or dict.fromkeys(
                    ("address", "phone", "items", "fee", "payment"), ""
                )
                answers += [found["address"], found["phone"], found["items"], found["fee"], found["payment"]]
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
        resource = service.catalogue.resource(row["resource"]) if row else None
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
