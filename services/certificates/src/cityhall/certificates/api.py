"""The certificates department's dashboard at /staff/certificates/, its staff API, and the
payment provider's callback.

Every page and staff API needs the `certificates` role (another department's staff get 403,
nobody signed in is sent to the login page); the audit log page and `forget` need
`certificates-admin`. Every view of a request's personal data or its identity-document photo
is written to the audit log, in the same transaction as the read: one entry per view of the
request page (the photo the page shows is added to the page's entry). The callback is the one
route without a staff login: the provider's HMAC signature is its credential.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Form, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles

from cityhall.certificates import projections
from cityhall.certificates.catalogue import Catalogue
from cityhall.certificates.desk import DEPARTMENT, Desk
from cityhall.certificates.domain import Status
from cityhall.certificates.events import (
    EXTRA_FIELDS,
    PERSONAL_FIELDS,
    REQUESTS,
    ExtraField,
    RequesterDetailGiven,
    RequestStarted,
    request_stream,
)
from cityhall.certificates.handlers import PaymentCallbacks
from cityhall.certificates.projections import JST
from cityhall.certificates.statuses import status_label
from cityhall.events.db import Pool
from cityhall.events.personal import FORGOTTEN, PersonalData
from cityhall.events.store import EventStore, RecordedEvent
from cityhall.line.content import PhotoStore
from cityhall.payment_protocol import MAX_NOTICE_BYTES, SIGNATURE_HEADER
from cityhall.web import (
    AUDIT_PAGE_SIZE,
    AuditEntry,
    StaffApp,
    StaffUser,
    actor_names,
    read_audit,
    record_view,
    require_role,
    routes,
)
from cityhall.web.personal import read_personal
from cityhall.web.routes import CHECKED, NO_STORE, found, live_list, redirect_back

HERE = Path(__file__).parent
CLERK_ROLE = "certificates"
ADMIN_ROLE = "certificates-admin"

Clerk = Annotated[StaffUser, Depends(require_role(CLERK_ROLE))]
Admin = Annotated[StaffUser, Depends(require_role(ADMIN_ROLE))]

ERRORS = {
    "already_decided": "この申請は、すでに本人確認の判定が済んでいます（ほかの職員が先に処理しました）。",
    "not_paid": "手数料のお支払いがまだのため、判定できません。",
    "already_closed": "この申請はすでに終了しています。",
    "not_approved": "本人確認が承認されていないため、発行を記録できません。",
    "already_issued": "この申請は、すでに発行が記録されています（ほかの職員が先に処理しました）。",
    "serial_required": "証明書の交付番号を入力してください。",
    "not_issued": "発行が記録されていないため、発送を記録できません。",
    "already_mailed": "この申請は、すでに発送が記録されています（ほかの職員が先に処理しました）。",
    "tracking_required": "郵便の追跡番号を入力してください。",
    "reason_required": "差し戻しの理由を一覧から選んでください。",
    "not_started": "申請が見つかりません。",
    "invalid_number": "受付番号は「C-」と英数字8文字で入力してください（例：C-1A2B3C4D）。",
    "unknown_number": "その受付番号の申請は見つかりません。受付番号をお確かめください。",
    "ambiguous_number": "その受付番号に当たる申請が複数あります。申請の画面から消去してください。",
    "invalid_dates": "期間の日付を正しく入力してください（開始日は終了日以前の日付にしてください）。",
}
NOTICES = {
    "approved": "本人確認を承認しました。申請者に LINE でお知らせしました。",
    "rejected": "差し戻しました。申請者に理由をお知らせし、手数料の返金を手配しました。",
    "issued": "発行を記録しました。",
    "mailed": "発送を記録しました。申請者に追跡番号をお知らせしました。",
    "forgotten": "住民の個人情報を読めなくしました（元に戻せません）。",
}
ACTION_LABELS = {
    "view_personal_data": "個人情報の閲覧",
    "view_id_photo": "本人確認書類の写真の閲覧",
    "approve_identity": "本人確認の承認",
    "reject_identity": "差し戻し",
    "issue_certificate": "発行の記録",
    "mail_certificate": "発送の記録",
    "forget_resident": "個人情報の消去",
}
HISTORY_LABELS = {
    "request_started": "申請の入力を開始",
    "request_submitted": "申請内容を確定",
    "payment_requested": "お支払いを案内",
    "payment_confirmed": "お支払いを確認",
    "payment_failed": "お支払いが未完了",
    "payment_expired": "お支払い期限切れ",
    "draft_expired": "入力途中のまま期限切れ",
    "request_cancelled": "申請者が取り消し",
    "identity_approved": "本人確認を承認",
    "identity_rejected": "差し戻し",
    "refund_requested": "返金を手配",
    "refund_completed": "返金が完了",
    "certificate_issued": "証明書を発行",
    "certificate_mailed": "証明書を発送",
    "id_photo_attached": "本人確認書類の写真を受領",
    "id_photo_purged": "本人確認書類の写真を削除",
}


@dataclass(frozen=True)
class QueueSection:
    key: str
    title: str
    statuses: tuple[Status, ...]
    since_column: str
    since_label: str
    target: timedelta | None
    note: str = ""
    limit: int = 200


def _age(delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes}分"
    hours = minutes // 60
    return f"{hours}時間{minutes % 60:02d}分" if hours < 48 else f"{hours // 24}日{hours % 24}時間"


def _target(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"目標 {int(hours)}時間以内" if hours >= 1 else f"期限 {int(delta.total_seconds() // 60)}分"


class Dashboard:
    def __init__(
        self,
        pool: Pool,
        store: EventStore,
        catalogue: Catalogue,
        personal: PersonalData,
        photos: PhotoStore,
        desk: Desk,
        payment_timeout: timedelta,
    ) -> None:
        self.pool, self.store, self.catalogue = pool, store, catalogue
        self.personal, self.photos, self.desk = personal, photos, desk
        sla = timedelta(hours=catalogue.service_level_hours)
        self.sections = (
            QueueSection("identity", "本人確認待ち", ("paid",), "paid_at", "受付（支払）", sla),
            QueueSection("issue", "発行待ち", ("approved",), "paid_at", "受付（支払）", sla),
            QueueSection("mail", "発送待ち", ("issued",), "paid_at", "受付（支払）", sla),
            QueueSection(
                "payment",
                "お支払い待ち",
                ("payment_pending", "payment_failed"),
                "submitted_at",
                "確定",
                payment_timeout,
                note="お支払いがないまま期限を過ぎると自動で取り消されます。",
            ),
            QueueSection(
                "closed",
                "最近終了した申請",
                ("mailed", "rejected", "cancelled", "expired"),
                "closed_at",
                "終了",
                None,
                limit=20,
            ),
        )

    async def queue(self, now: datetime) -> list[dict[str, Any]]:
        sections = []
        for section in self.sections:
            rows = await projections.queue(
                self.pool,
                section.statuses,
                section.since_column,
                newest_first=section.key == "closed",
                limit=section.limit,
            )
            items = []
            for row in rows:
                since: datetime | None = row["since"]
                age = now - since if since else timedelta(0)
                if section.target is None:
                    sla, target = "ok", status_label(row["status"])
                else:
                    ratio = age / section.target
                    sla = "late" if ratio > 1 else "soon" if ratio > 0.75 else "ok"
                    target = _target(section.target)
                items.append(
                    {**dict(row), "age": _age(age) if section.target else "－", "sla": sla, "target": target}
                )
            sections.append(
                {
                    "key": section.key,
                    "title": section.title,
                    "note": section.note,
                    "since_label": section.since_label,
                    "rows": items,
                }
            )
        return sections

    async def stats(self, today: date) -> dict[str, Any]:
        days = await projections.daily_after(self.pool, today - timedelta(days=7))
        empty = dict.fromkeys(projections.DAILY_COLUMNS, 0)
        today_row = next((d for d in days if d["day"] == today), {"day": today, **empty})
        return {"today": today_row, "days": days}


def create_app(
    staff: StaffApp, dashboard: Dashboard, callbacks: PaymentCallbacks, clock: Any = None
) -> FastAPI:
    app, templates = staff.app, staff.templates
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="certificates-static")
    templates.env.filters["jst"] = _jst
    now = clock or (lambda: datetime.now(UTC))
    pool, catalogue = dashboard.pool, dashboard.catalogue

    def today() -> date:
        return projections.jst_day(now())

    # --- the provider's callback (no staff login: the signature is the credential) ----------

    # The bound is checked as the bytes arrive (413 past it), so a huge body is never held.
    @app.post("/payments/callback", include_in_schema=False, max_body_size=MAX_NOTICE_BYTES)
    async def payment_callback(request: Request) -> Response:
        body = await request.body()
        result = await callbacks.receive(body, request.headers.get(SIGNATURE_HEADER))
        return JSONResponse({"detail": result.message}, status_code=result.status)

    # --- pages -----------------------------------------------------------------------------

    async def queue() -> dict[str, Any]:
        return {"queue": await dashboard.queue(now())}

    async def stats() -> dict[str, Any]:
        return {"stats": await dashboard.stats(today()), "today": today()}

    async def page() -> dict[str, Any]:
        return {"page": "queue"}

    live_list(
        staff,
        CLERK_ROLE,
        "certificates/home.html",
        context=page,
        queue=("certificates/_queue.html", queue),
        stats=("certificates/_stats.html", stats),
    )

    async def load_row(request_id: uuid.UUID) -> dict[str, Any] | None:
        return await projections.request_row(pool, request_id)

    @app.get("/requests/{request_id}", include_in_schema=False)
    async def request_page(
        request: Request, request_id: uuid.UUID, user: Clerk, done: str = "", error: str = ""
    ) -> Response:
        row = found(await load_row(request_id), ERRORS["not_started"])
        viewed_at = now()
        async with pool.acquire() as conn, conn.transaction():
            records = await dashboard.store.read_stream(request_stream(request_id), conn=conn)
            # The view has no column for the fields only some certificates ask (the 印鑑登録証
            # number): those come from the request's own events.
            asked, extra_tokens = _extra_fields(records)
            sealed: dict[str, str | None] = {
                name: row.get(f"{name}_token") if name in PERSONAL_FIELDS else extra_tokens.get(name)
                for name in (*PERSONAL_FIELDS, *asked)
            }
            viewed = await read_personal(
                conn,
                dashboard.personal,
                user,
                "view_personal_data",
                request_stream(request_id),
                sealed,
                {"number": row["number"]},
                department=DEPARTMENT,
            )
            person = {name: _shown(name, viewed.get(name)) for name in sealed}
            view = viewed.entry
            photo_available = bool(
                row["photo_id"]
                and await conn.fetchval("SELECT true FROM id_photos WHERE photo_id = $1", row["photo_id"])
            )
        cert = catalogue.certificate(row["certificate_code"])
        names = {o.key: o.label for o in cert.options} if cert else {}
        options = [(names.get(k, k), v) for k, v in (row["options"] or {}).items()]
        steps = [
            (recorded.recorded_at, HISTORY_LABELS[kind], recorded.envelope.data.get("by"))
            for recorded in records
            if (kind := recorded.type.split(".")[2]) in HISTORY_LABELS
        ]
        # Events keep the clerk's username: show the name (the username when none is known).
        clerks = await actor_names(pool, department=DEPARTMENT, usernames=[by for _, _, by in steps if by])
        history = [
            {"at": at, "label": label, "by": clerks.get(by, by) if by else None} for at, label, by in steps
        ]
        return templates.TemplateResponse(
            request,
            "certificates/request.html",
            {
                "user": user,
                "page": "queue",
                "r": row,
                "status_label": status_label(row["status"]),
                "person": person,
                "extra_fields": [(name, FIELD_NAMES[name]) for name in asked],
                "options": options,
                "photo_available": photo_available,
                "reasons": [("", "選んでください")]
                + [(r.code, r.label) for r in catalogue.rejection_reasons],
                "history": history,
                "notice": NOTICES.get(done, ""),
                "error": ERRORS.get(error, ""),
                "viewed_at": viewed_at,
                "view": view,
            },
            headers=NO_STORE,
        )

    @app.get("/requests/{request_id}/photo", include_in_schema=False)
    async def photo(
        request_id: uuid.UUID, user: Clerk, view: Annotated[int | None, Query(ge=1)] = None
    ) -> Response:
        """The ID photo. `view`: the audit entry of the request page showing it, which the
        photo is added to (one view, one entry); fetched on its own it gets an entry of its own."""
        row = await load_row(request_id)
        if row is None or row["photo_id"] is None:
            return PlainTextResponse("写真はありません。", status_code=404)
        async with pool.acquire() as conn, conn.transaction():
            found = await dashboard.photos.get(row["photo_id"], conn=conn)
            if found is None:
                return PlainTextResponse("写真はありません（削除済み）。", status_code=404)
            await record_view(
                conn,
                user,
                "view_id_photo",
                request_stream(request_id),
                {"number": row["number"], "photo_id": str(row["photo_id"])},
                department=DEPARTMENT,
                part_of=view,
            )
        content_type, data = found
        return Response(
            data,
            media_type=content_type,
            headers={
                "cache-control": "no-store, private",
                "x-content-type-options": "nosniff",
                "content-disposition": "inline",
            },
        )

    # --- decisions -------------------------------------------------------------------------

    async def decided(request: Request, request_id: uuid.UUID, action: Any, done: str) -> Response:
        return await routes.decided(
            request, f"/requests/{request_id}", action, done, caught_up=staff.caught_up
        )

    @app.post("/requests/{request_id}/approve", include_in_schema=False, dependencies=CHECKED)
    async def approve(request: Request, request_id: uuid.UUID, user: Clerk) -> Response:
        return await decided(request, request_id, dashboard.desk.approve(user, request_id), "approved")

    @app.post("/requests/{request_id}/reject", include_in_schema=False, dependencies=CHECKED)
    async def reject(
        request: Request,
        request_id: uuid.UUID,
        user: Clerk,
        reason: Annotated[str, Form(max_length=64)] = "",
        note: Annotated[str, Form(max_length=500)] = "",
    ) -> Response:
        return await decided(
            request, request_id, dashboard.desk.reject(user, request_id, reason, note), "rejected"
        )

    @app.post("/requests/{request_id}/issue", include_in_schema=False, dependencies=CHECKED)
    async def issue(
        request: Request, request_id: uuid.UUID, user: Clerk, serial: Annotated[str, Form(max_length=64)] = ""
    ) -> Response:
        return await decided(request, request_id, dashboard.desk.issue(user, request_id, serial), "issued")

    @app.post("/requests/{request_id}/mail", include_in_schema=False, dependencies=CHECKED)
    async def mail(
        request: Request,
        request_id: uuid.UUID,
        user: Clerk,
        tracking: Annotated[str, Form(max_length=64)] = "",
    ) -> Response:
        return await decided(request, request_id, dashboard.desk.mail(user, request_id, tracking), "mailed")

    # --- the department's administrators ---------------------------------------------------

    @app.get("/audit", include_in_schema=False)
    async def audit(
        request: Request,
        user: Admin,
        before: Annotated[int | None, Query(ge=1)] = None,
        actor: Annotated[str, Query(max_length=64)] = "",
        action: Annotated[str, Query(max_length=64)] = "",
        since: Annotated[str, Query(alias="from", max_length=32)] = "",
        until: Annotated[str, Query(alias="to", max_length=32)] = "",
        done: str = "",
        error: str = "",
    ) -> Response:
        filters = {
            "actor": actor.strip(),
            "action": action.strip(),
            "from": since.strip(),
            "to": until.strip(),
        }
        period = _period(filters["from"], filters["to"])
        entries: list[AuditEntry] = []
        if period is None:
            error = "invalid_dates"
        else:
            entries = await read_audit(
                pool,
                department=DEPARTMENT,
                limit=AUDIT_PAGE_SIZE,
                before_id=before,
                actor=filters["actor"] or None,
                action=filters["action"] or None,
                since=period[0],
                until=period[1],
            )
        found = await projections.request_numbers(
            pool, [rid for e in entries if (rid := REQUESTS.id_of(e.subject)) is not None]
        )
        numbers = {request_stream(request_id): number for request_id, number in found.items()}
        people = await actor_names(pool, department=DEPARTMENT)
        kept = {k: v for k, v in filters.items() if v}
        return templates.TemplateResponse(
            request,
            "certificates/audit.html",
            {
                "user": user,
                "page": "audit",
                "entries": [(e, _subject(e, numbers), describe(e, catalogue)) for e in entries],
                "action_labels": ACTION_LABELS,
                "people": [(u, f"{n}（{u}）") for u, n in sorted(people.items(), key=lambda i: (i[1], i[0]))],
                "filters": filters,
                "filtered": bool(kept),
                "older": urlencode({**kept, "before": entries[-1].id})
                if len(entries) == AUDIT_PAGE_SIZE
                else None,
                "newest": urlencode(kept) if before else None,
                "notice": NOTICES.get(done, ""),
                "error": ERRORS.get(error, ""),
            },
        )

    async def forget_target(number: str, request_id: uuid.UUID | None) -> dict[str, Any] | str:
        """The request whose applicant is to be forgotten (by its id, or the number a resident
        quotes), or the code of the error to show."""
        if request_id is not None:
            row = await load_row(request_id)
            return row if row is not None else "unknown_number"
        normalised = _request_number(number)
        if normalised is None:
            return "invalid_number"
        rows = await projections.requests_numbered(pool, normalised)
        if len({r["user_id"] for r in rows}) > 1:
            return "ambiguous_number"
        return rows[0] if rows else "unknown_number"

    @app.get("/residents/forget", include_in_schema=False)
    async def forget_confirm(
        request: Request,
        user: Admin,
        number: Annotated[str, Query(max_length=64)] = "",
        request_id: Annotated[uuid.UUID | None, Query(alias="request")] = None,
    ) -> Response:
        """The confirm step: which request, and every request of the same applicant it affects."""
        found = await forget_target(number, request_id)
        if isinstance(found, str):
            return redirect_back(request, "/audit", error=found)
        affected = await projections.applicant_requests(pool, found["user_id"])
        return templates.TemplateResponse(
            request,
            "certificates/forget.html",
            {
                "user": user,
                "page": "audit",
                "r": found,
                "affected": [{**a, "status_label": status_label(a["status"])} for a in affected],
            },
            headers=NO_STORE,
        )

    @app.post("/residents/forget", include_in_schema=False, dependencies=CHECKED)
    async def forget(
        request: Request, user: Admin, request_id: Annotated[uuid.UUID | None, Form()] = None
    ) -> Response:
        """Crypto-shred the applicant of a request (after the confirm step)."""
        row = await load_row(request_id) if request_id is not None else None
        if row is None:
            return redirect_back(request, "/audit", error="unknown_number")
        await dashboard.desk.forget(user, row["user_id"], number=row["number"])
        return redirect_back(request, "/audit", done="forgotten")

    # --- the staff API ---------------------------------------------------------------------

    @app.get("/api/requests")
    async def api_requests(
        user: Clerk, status: Annotated[str | None, Query(max_length=32)] = None
    ) -> list[dict[str, Any]]:
        rows = await projections.requests_in(pool, status)
        return [{k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in r.items()} for r in rows]

    return app


def _jst(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Japan time, whatever the server's zone."""
    return value.astimezone(JST).strftime(fmt) if value else ""


def _shown(field: str, value: str | None) -> str:
    """A personal field as the request page shows it ("－": never given)."""
    if value is None:
        return "－"
    if value == FORGOTTEN:
        return "（消去済み）"
    if field == "birth_date":
        try:
            born = date.fromisoformat(value)
        except ValueError:
            return value
        return f"{born.year}年{born.month}月{born.day}日"
    return value


FIELD_NAMES = {
    "name": "氏名",
    "birth_date": "生年月日",
    "address": "住所",
    "phone": "電話番号",
    "seal_number": "印鑑登録証の番号",
}


def _extra_fields(records: Sequence[RecordedEvent]) -> tuple[tuple[ExtraField, ...], dict[str, str]]:
    """The extra fields a request asks (as it started) and the latest encrypted answer to each."""
    asked: tuple[ExtraField, ...] = ()
    tokens: dict[str, str] = {}
    for recorded in records:
        match recorded.envelope.event():
            case RequestStarted(extra_fields=fields):
                asked = fields
            case RequesterDetailGiven(field=field, value=value) if field in EXTRA_FIELDS:
                tokens[field] = value
    return asked, tokens


def describe(entry: AuditEntry, catalogue: Catalogue) -> str:
    """An audit entry's detail in words."""
    detail = entry.detail
    match entry.action:
        case "view_personal_data":
            fields = [FIELD_NAMES.get(f, f) for f in detail.get("fields", [])]
            if detail.get("photo_id"):  # the photo the page showed (see `photo`)
                fields.append("本人確認書類の写真")
            return "閲覧した項目：" + "・".join(fields)
        case "view_id_photo":
            return "本人確認書類の写真を表示"
        case "reject_identity":
            reason = catalogue.rejection_reason(str(detail.get("reason", "")))
            return f"理由：{reason.label if reason else detail.get('reason', '')}"
        case "issue_certificate":
            return f"交付番号：{detail.get('serial', '')}"
        case "mail_certificate":
            return f"追跡番号：{detail.get('tracking_number', '')}"
        case "forget_resident":
            return f"削除した写真：{detail.get('photos_deleted', 0)}枚"
        case _:
            return "、".join(f"{k}: {v}" for k, v in detail.items() if k != "actor_name")


REQUEST_NUMBER = re.compile(r"C-[0-9A-F]{8}")
DASHES = str.maketrans({"ー": "-", "−": "-", "‐": "-"})


def _request_number(text: str) -> str | None:
    """A request number as typed (full-width, lower case, without 「C-」), or None."""
    # NFKC makes full-width letters and 「－」 plain; an IME may also give 「ー」 or 「−」.
    number = unicodedata.normalize("NFKC", text).strip().upper().translate(DASHES)
    if re.fullmatch(r"[0-9A-F]{8}", number):
        number = f"C-{number}"
    return number if REQUEST_NUMBER.fullmatch(number) else None


def _period(since: str, until: str) -> tuple[datetime | None, datetime | None] | None:
    """[first day 00:00, day after the last 00:00) in Japan time from the form's dates (either
    may be empty), or None when a date is malformed or the period runs backwards."""
    try:
        first = date.fromisoformat(since) if since else None
        last = date.fromisoformat(until) if until else None
    except ValueError:
        return None
    if first and last and first > last:
        return None

    def midnight(day: date | None) -> datetime | None:
        return datetime(day.year, day.month, day.day, tzinfo=JST) if day else None

    return midnight(first), midnight(last + timedelta(days=1) if last else None)


def _subject(entry: AuditEntry, numbers: dict[str, str]) -> str:
    """What an entry is about, in words: a request by its number."""
    if entry.subject in numbers:
        return f"申請 {numbers[entry.subject]}"
    if entry.action == "forget_resident" and entry.detail.get("number"):
        return f"申請 {entry.detail['number']} の申請者"
    return entry.subject


__all__ = ["Dashboard", "create_app"]
