"""notify's staff API at /staff/notices (JSON; /staff/notify redirects here).

Every route needs a staff session (or OIDC bearer token); POSTs need the CSRF token too.
- `GET /api/status`, `GET /api/deliveries?user_id=&request_id=&limit=` (role `notify`): the
  delivery pipeline in numbers, delivery records newest first;
- `POST /api/segments/count` (any notify role): the audience of a condition, live;
- `POST /api/notices` (`notify-author`): a draft; `POST /api/notices/{id}/approve`
  (`notify-approver`, not the author), `POST /api/notices/{id}/cancel` (author or approver);
  `GET /api/notices`, `GET /api/notices/{id}`: notices and their progress;
- `POST /api/images` (`notify-author`): an image for a notice (multipart `image`), served to LINE
  without a session at `/images/<id>.jpg` and `/images/<id>-preview.jpg`;
- `POST /api/preview` (any notify role): a composed notice as LINE messages in one language, and
  why it could not be sent as it is;
- `POST /api/residents/{user_id}/forget` (`notify-admin`): shred a resident's 配信設定 (audited);
- `GET /api/disaster-mode` (any notify role, `bousai`), `POST /api/disaster-mode` `{"on", "reason"}`
  (`bousai`): disaster mode, its switches (who, when, why); the page `/disaster` confirms a switch.
A refused request answers 422 with `{"error": <reason for staff>}`.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Form, HTTPException, Path, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile as StarletteUpload

from cityhall.events.db import Pool
from cityhall.events.decider import DomainError
from cityhall.line.content import MAX_BYTES as MAX_IMAGE_BYTES
from cityhall.line.japanese import JST, datetime_ja
from cityhall.line.render import RENDERER_DIR
from cityhall.notify import composer, projections, segments, sender, town
from cityhall.notify.composer import TEMPLATES, ComposeError, Content
from cityhall.notify.desk import Desk
from cityhall.notify.disaster import ROLE as BOUSAI
from cityhall.notify.disaster import Disaster
from cityhall.notify.dispatcher import Dispatcher
from cityhall.notify.domain import REFUSED
from cityhall.notify.images import ImageRefused
from cityhall.notify.newcomers import Newcomers
from cityhall.notify.preferences import INTERESTS, LANGUAGES
from cityhall.notify.safety import Safety
from cityhall.notify.safety import checks as safety_checks
from cityhall.notify.segments import SegmentError
from cityhall.web import StaffAuth, StaffUser, create_templates, csrf_protect, install, require_role

ROLE = "notify"
ADMIN = f"{ROLE}-admin"
AUTHOR, APPROVER = f"{ROLE}-author", f"{ROLE}-approver"
Clerk = Annotated[StaffUser, Depends(require_role(ROLE, ADMIN))]
Staff = Annotated[StaffUser, Depends(require_role(ROLE, AUTHOR, APPROVER, ADMIN, BOUSAI))]
Author = Annotated[StaffUser, Depends(require_role(AUTHOR, ADMIN))]
Approver = Annotated[StaffUser, Depends(require_role(APPROVER, ADMIN))]
Deciding = Annotated[StaffUser, Depends(require_role(AUTHOR, APPROVER, ADMIN))]
Admin = Annotated[StaffUser, Depends(require_role(ADMIN))]
Bousai = Annotated[StaffUser, Depends(require_role(BOUSAI))]
Checked = [Depends(csrf_protect)]


class CountRequest(BaseModel):
    condition: Any
    kind: Literal["campaign", "alert"] = "campaign"
    interest: str | None = None


class DraftRequest(BaseModel):
    notice_id: uuid.UUID | None = None
    kind: Literal["campaign", "alert"]
    title: str = Field(max_length=1000)
    condition: Any
    texts: dict[str, str]
    interest: str | None = None
    template: str | None = None
    fields: dict[str, dict[str, str]] = Field(default_factory=dict)
    image_id: uuid.UUID | None = None
    titles: dict[str, str] = Field(default_factory=dict)


class PreviewRequest(BaseModel):
    kind: Literal["campaign", "alert"] = "campaign"
    title: str = Field("", max_length=1000)
    texts: dict[str, str] = Field(default_factory=dict)
    template: str | None = None
    fields: dict[str, dict[str, str]] = Field(default_factory=dict)
    image_id: uuid.UUID | None = None
    titles: dict[str, str] = Field(default_factory=dict)
    lang: str = "ja"


class StepRequest(BaseModel):
    hour: int
    title: str = Field(max_length=1000)
    body: str = Field(max_length=20_000)


class SafetyRequest(BaseModel):
    title: str = Field(max_length=1000)
    condition: Any


class DisasterRequest(BaseModel):
    on: bool
    reason: str = Field(max_length=1000)


class ApproveRequest(BaseModel):
    send_at: datetime | None = None
    weekly: bool = False


def refused(reason: str) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=422)


HERE = FilePath(__file__).parent
UPLOAD_BODY = MAX_IMAGE_BYTES + 64 * 1024
"""An image of LINE's 10 MB and the form around it."""
IMAGE_NAME = re.compile(r"(?P<id>[0-9a-f-]{36})(?P<preview>-preview)?\.jpg")
STATUSES = {
    "draft": "承認待ち",
    "approved": "送信中・送信予定",
    "completed": "送信済み",
    "cancelled": "取り消し",
}
DONE = {"drafted": "下書きを保存しました。別の担当者の承認を待っています。", "approved": "承認しました。",
        "cancelled": "取り消しました。"}  # fmt: skip


_COLUMNS = """event_id, request_id, idempotency_key, requested_by, outcome, method, recipients, user_id,
              chunk, status, error, line_request_id, already_accepted, attempts, recorded_at"""


def create_api(
    pool: Pool,
    dispatcher: Dispatcher,
    desk: Desk,
    newcomers: Newcomers,
    safety: Safety,
    auth: StaffAuth,
    disaster: Disaster,
) -> FastAPI:
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

    app.mount("/static/line", StaticFiles(directory=RENDERER_DIR), name="notify-line")
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="notify-static")
    templates = create_templates(HERE / "templates")
    templates.env.globals["statuses"] = STATUSES
    templates.env.filters["jst"] = lambda value: datetime_ja(datetime.fromisoformat(value)) if value else ""
    interest_options = [(key, label) for key, (_code, label) in INTERESTS.items()]

    def page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
        return templates.TemplateResponse(
            request, name, context, status_code=status, headers={"cache-control": "no-store"}
        )

    def to_notice(request: Request, notice_id: uuid.UUID | str, **outcome: str) -> Response:
        root = str(request.scope.get("root_path", "")).rstrip("/")
        query = "&".join(f"{k}={v}" for k, v in outcome.items())
        return RedirectResponse(f"{root}/notices/{notice_id}?{query}", status_code=303)

    async def listed() -> list[dict[str, Any]]:
        rows = await projections.notices(pool)
        for row in rows[:50]:
            row["progress"] = await sender.stats(pool, uuid.UUID(row["notice_id"])) or None
        return rows[:50]

    @app.get("/", include_in_schema=False)
    async def home(request: Request, user: Staff) -> Response:
        context = {"user": user, "notices": await listed(), "disaster": await disaster.state()}
        return page(request, "notify/home.html", context)

    @app.get("/fragments/notices", include_in_schema=False)
    async def rows(request: Request, user: Staff) -> Response:
        return page(request, "notify/_notices.html", {"user": user, "notices": await listed()})

    all_languages = [(key, label) for key, (_code, label) in LANGUAGES.items()]
    field_keys: dict[str, tuple[str, bool, list[str]]] = {}  # key → label, required, templates using it
    for template in TEMPLATES.values():
        for f in template.fields:
            field_keys.setdefault(f.key, (f.label, f.required, []))[2].append(template.key)

    def composer_page(
        request: Request, user: StaffUser, form: dict[str, Any], error: str = "", status: int = 200
    ) -> Response:
        context = {
            "user": user, "form": form, "error": error, "interests": interest_options,
            "languages": all_languages, "attributes": segments.choices(),
            "templates": [("", "テキスト"), *((t.key, t.name) for t in TEMPLATES.values())],
            "field_keys": field_keys,
        }  # fmt: skip
        return page(request, "notify/new.html", context, status)

    @app.get("/notices/new", include_in_schema=False)
    async def new(request: Request, user: Author) -> Response:
        form = {"kind": "campaign", "condition": {"all": []}, "interest": "bosai", "notice_id": uuid.uuid4(),
                "texts": {}, "titles": {}, "fields": {}, "template": ""}  # fmt: skip
        return composer_page(request, user, form)

    @app.post("/notices", include_in_schema=False, dependencies=Checked, max_body_size=UPLOAD_BODY)
    async def create(request: Request, user: Author) -> Response:
        sent = await request.form()

        def value(name: str, limit: int = 20_000) -> str:
            got = sent.get(name)
            return got[:limit] if isinstance(got, str) else ""

        kind, template = value("kind"), value("template")
        texts = {lang: value(f"text_{lang}") for lang in LANGUAGES if value(f"text_{lang}").strip()}
        used = TEMPLATES[template].fields if template in TEMPLATES else ()
        fields = {lang: {f.key: value(f"field_{lang}_{f.key}", 1000) for f in used} for lang in LANGUAGES}
        titles = {lang: value(f"title_{lang}", 1000) for lang in LANGUAGES if lang != "ja"}
        try:
            notice_id: uuid.UUID | None = uuid.UUID(value("notice_id")) if value("notice_id") else None
            image_id = uuid.UUID(value("image_id")) if value("image_id") else None
        except ValueError:
            notice_id, image_id = None, None
        form: dict[str, Any] = {"kind": kind, "title": value("title", 1000), "interest": value("interest"),
                "texts": texts, "titles": titles, "template": template, "fields": fields, "notice_id": notice_id or uuid.uuid4(),
                "image_id": image_id}  # fmt: skip
        try:
            parsed = json.loads(value("condition") or "{}")
        except ValueError:
            parsed = None
        form["condition"] = parsed if isinstance(parsed, dict) else {"all": []}
        if parsed is None or kind not in ("campaign", "alert"):
            return composer_page(request, user, form, "送り先の条件を読み取れませんでした。", 422)
        upload = sent.get("image")
        if isinstance(upload, StarletteUpload) and upload.filename:  # the form sent without the page's script
            try:
                form["image_id"] = image_id = (await desk.images.put(user, await upload.read())).image_id
            except ImageRefused as exc:
                return composer_page(request, user, form, str(exc), 422)
        try:
            notice_id = await desk.draft(
                user, kind="alert" if kind == "alert" else "campaign", title=form["title"], condition=parsed,
                texts=texts, interest=form["interest"] or None, notice_id=notice_id, template=template or None,
                fields=fields, image=image_id, titles=titles,
            )  # fmt: skip
        except DomainError as exc:
            if exc.reason == "exists" and notice_id is not None:
                return to_notice(request, notice_id, done="drafted")  # submitted twice: kept once
            return composer_page(request, user, form, str(exc), 422)
        return to_notice(request, notice_id, done="drafted")

    @app.post("/api/images", dependencies=Checked, max_body_size=UPLOAD_BODY)
    async def upload(user: Author, image: UploadFile) -> Any:
        try:
            stored = await desk.images.put(user, await image.read(MAX_IMAGE_BYTES + 1))
        except ImageRefused as exc:
            return refused(str(exc))
        picture = desk.images.picture(stored)
        return {"image_id": str(stored.image_id), "url": picture.url, "preview_url": picture.preview_url,
                "width": stored.width, "height": stored.height}  # fmt: skip

    @app.get("/images/{name}", include_in_schema=False)
    async def image(name: str) -> Response:
        """A notice's image as LINE and residents' phones fetch it: public, at an unguessable address."""
        matched = IMAGE_NAME.fullmatch(name)
        data = None
        if matched:
            data = await desk.images.data(uuid.UUID(matched["id"]), thumbnail=bool(matched["preview"]))
        if data is None:
            raise HTTPException(404, "この画像は見つかりません。")
        return Response(data, media_type="image/jpeg", headers={"cache-control": "public, max-age=86400"})

    @app.post("/api/preview", dependencies=Checked)
    async def preview(request: Request, _: Staff, body: PreviewRequest) -> Any:
        """The notice as a resident whose language is `lang` gets it, and why it cannot be sent as it is."""
        root = str(request.scope.get("root_path", "")).rstrip("/")
        texts = {lang: text for lang, text in body.texts.items() if text.strip()}
        texts.setdefault("ja", "")
        used = {f.key for f in TEMPLATES[body.template].fields} if body.template in TEMPLATES else set()
        fields = {
            lang: {k: v for k, v in values.items() if k in used} for lang, values in body.fields.items()
        }
        fields = {lang: values for lang, values in fields.items() if lang in texts}
        titles = {lang: t for lang, t in body.titles.items() if lang in texts and lang != "ja" and t.strip()}
        stored = await desk.images.find(body.image_id) if body.image_id else None
        content = Content(
            body.title.strip() or "（件名）", body.kind == "alert", {k: v or "（本文）" for k, v in texts.items()},
            body.template if body.template in TEMPLATES else None, fields,
            desk.images.picture(stored, root) if stored else None, titles,
        )  # fmt: skip
        error = None
        try:
            composer.check(content)
        except ComposeError as exc:
            error = str(exc)
        if body.template and body.template not in TEMPLATES:
            error = f"テンプレート「{body.template}」はありません。"
        if body.image_id and stored is None:
            error = "画像が見つかりません。もう一度選んでください。"
        shown = composer.messages(content, body.lang)
        return {"messages": [m.to_dict() for m in shown], "error": error}

    async def shown(notice_id: uuid.UUID) -> dict[str, Any]:
        found = await projections.notice(pool, notice_id)
        if found is None:
            raise HTTPException(404, "このお知らせは見つかりません。")
        return found

    @app.get("/notices/{notice_id}", include_in_schema=False)
    async def detail(
        request: Request, user: Staff, notice_id: uuid.UUID, done: str = "", error: str = ""
    ) -> Response:
        found = await shown(notice_id)
        condition = segments.parse(found["condition"])
        audience = await desk.count(found["condition"], kind=found["kind"], interest=found["interest"])
        root = str(request.scope.get("root_path", "")).rstrip("/")
        content = await desk.content(found, root)
        drawn = {lang: [m.to_dict() for m in composer.messages(content, lang)] for lang in found["texts"]}
        context = {
            "user": user, "n": found, "described": segments.describe(condition), "audience": audience,
            "drawn": drawn, "languages": {k: label for k, (_c, label) in LANGUAGES.items()},
            "interest_label": INTERESTS[found["interest"]][1] if found["interest"] else "",
            "progress": await sender.stats(pool, notice_id) or None, "done": DONE.get(done, ""),
            "error": REFUSED.get(error, ""),
        }  # fmt: skip
        return page(request, "notify/notice.html", context)

    @app.get("/fragments/notices/{notice_id}", include_in_schema=False)
    async def progress(request: Request, user: Staff, notice_id: uuid.UUID) -> Response:
        return page(
            request, "notify/_progress.html", {"user": user, "p": await sender.stats(pool, notice_id)}
        )

    @app.post("/notices/{notice_id}/approve", include_in_schema=False, dependencies=Checked)
    async def approve_form(
        request: Request,
        user: Approver,
        notice_id: uuid.UUID,
        send_at: Annotated[str, Form()] = "",
        weekly: Annotated[str, Form()] = "",
    ) -> Response:
        try:
            when = datetime.fromisoformat(send_at).replace(tzinfo=JST) if send_at else None
        except ValueError:
            when = None
        try:
            await desk.approve(user, notice_id, when, weekly=weekly == "1")
        except DomainError as exc:
            return to_notice(request, notice_id, error=exc.reason)
        return to_notice(request, notice_id, done="approved")

    @app.post("/notices/{notice_id}/cancel", include_in_schema=False, dependencies=Checked)
    async def cancel_form(request: Request, user: Deciding, notice_id: uuid.UUID) -> Response:
        try:
            await desk.cancel(user, notice_id)
        except DomainError as exc:
            return to_notice(request, notice_id, error=exc.reason)
        return to_notice(request, notice_id, done="cancelled")

    @app.post("/api/segments/count", dependencies=Checked)
    async def count(_: Staff, body: CountRequest) -> Any:
        try:
            counted = await desk.count(body.condition, kind=body.kind, interest=body.interest)
        except SegmentError as exc:
            return refused(str(exc))
        quota = await desk.quota()
        # the month's use comes from LINE: without it the cost is unknown
        cost = None if quota is None else desk.plan.cost(quota["used"] or 0, counted["count"])
        return {**counted, "quota": quota, "cost": cost}

    @app.post("/api/notices", dependencies=Checked)
    async def draft(user: Author, body: DraftRequest) -> Any:
        try:
            notice_id = await desk.draft(
                user, kind=body.kind, title=body.title, condition=body.condition, texts=body.texts,
                interest=body.interest, notice_id=body.notice_id, template=body.template, fields=body.fields,
                image=body.image_id, titles=body.titles,
            )  # fmt: skip
        except DomainError as exc:
            if exc.reason == "exists" and body.notice_id is not None:
                return {"notice_id": str(body.notice_id)}  # sent twice: kept once
            return refused(str(exc))
        return {"notice_id": str(notice_id)}

    @app.post("/api/notices/{notice_id}/approve", dependencies=Checked)
    async def approve(user: Approver, notice_id: uuid.UUID, body: ApproveRequest | None = None) -> Any:
        try:
            await desk.approve(
                user, notice_id, body.send_at if body else None, weekly=bool(body and body.weekly)
            )
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
        return {"notices": await projections.notices(pool)}

    @app.get("/api/notices/{notice_id}")
    async def notice(_: Staff, notice_id: uuid.UUID) -> Any:
        found = await projections.notice(pool, notice_id)
        if found is None:
            return JSONResponse({"error": "このお知らせは見つかりません。"}, status_code=404)
        progress = await sender.stats(pool, notice_id)
        if progress.get("finished_at"):
            progress["finished_at"] = progress["finished_at"].isoformat()
        return {**found, "progress": progress}

    @app.get("/api/newcomer-steps")
    async def steps(_: Staff) -> dict[str, Any]:
        rows = await newcomers.steps()
        return {"steps": [{**r, "updated_at": r["updated_at"].isoformat()} for r in rows]}

    @app.post("/api/newcomer-steps/{day}", dependencies=Checked)
    async def edit_step(user: Author, day: int, body: StepRequest) -> Any:
        try:
            await newcomers.edit(user, day, hour=body.hour, title=body.title, body=body.body)
        except DomainError as exc:
            return refused(str(exc))
        return await steps(user)

    @app.get("/newcomers", include_in_schema=False)
    async def newcomer_page(request: Request, user: Staff, done: str = "", error: str = "") -> Response:
        context = {"user": user, "steps": await newcomers.steps(), "done": done == "saved", "error": error}
        return page(request, "notify/newcomers.html", context)

    @app.post("/newcomers/{day}", include_in_schema=False, dependencies=Checked)
    async def newcomer_form(
        request: Request,
        user: Author,
        day: int,
        hour: Annotated[int, Form()],
        title: Annotated[str, Form(max_length=1000)],
        body: Annotated[str, Form(max_length=20_000)],
    ) -> Response:
        root = str(request.scope.get("root_path", "")).rstrip("/")
        try:
            await newcomers.edit(user, day, hour=hour, title=title, body=body)
        except DomainError:
            return RedirectResponse(f"{root}/newcomers?error=invalid", status_code=303)
        return RedirectResponse(f"{root}/newcomers?done=saved", status_code=303)

    @app.post("/api/safety-checks", dependencies=Checked)
    async def start_safety_check(user: Admin, body: SafetyRequest) -> Any:
        try:
            return {"check_id": str(await safety.start(user, body.title, body.condition))}
        except DomainError as exc:
            return refused(str(exc))

    @app.get("/api/safety-checks/{check_id}")
    async def safety_summary(_: Staff, check_id: uuid.UUID) -> Any:
        found = await safety.summary(check_id)
        if found is None:
            return JSONResponse({"error": "この安否確認は見つかりません。"}, status_code=404)
        progress = await sender.stats(pool, check_id)
        return {**found, "sent": progress.get("delivered", 0), "pending": progress.get("pending", 0)}

    @app.get("/api/safety-checks/{check_id}/help")
    async def needing_help(user: Admin, check_id: uuid.UUID) -> dict[str, Any]:
        return {"residents": await safety.needing_help(user, check_id)}

    @app.get("/safety", include_in_schema=False)
    async def safety_page(request: Request, user: Staff, error: str = "") -> Response:
        context = {
            "user": user, "checks": await safety_checks(pool), "error": error and "件名と送る地域を入力してください。",
            "districts": [(d.key, d.name) for d in town.DISTRICTS],
        }  # fmt: skip
        return page(request, "notify/safety.html", context)

    @app.post("/safety", include_in_schema=False, dependencies=Checked)
    async def safety_form(
        request: Request,
        user: Admin,
        title: Annotated[str, Form(max_length=1000)] = "",
        district: Annotated[list[str] | None, Form()] = None,
    ) -> Response:
        root = str(request.scope.get("root_path", "")).rstrip("/")
        try:
            check_id = await safety.start(user, title, {"district": district or []})
        except DomainError:
            return RedirectResponse(f"{root}/safety?error=invalid", status_code=303)
        return RedirectResponse(f"{root}/safety/{check_id}", status_code=303)

    @app.get("/safety/{check_id}", include_in_schema=False)
    async def safety_check_page(request: Request, user: Staff, check_id: uuid.UUID) -> Response:
        found = await safety_summary(user, check_id)
        if isinstance(found, Response):
            raise HTTPException(404, "この安否確認は見つかりません。")
        helping = await safety.needing_help(user, check_id) if user.has_role(ADMIN) else None
        return page(request, "notify/safety_check.html", {"user": user, "s": found, "helping": helping})

    @app.post("/api/residents/{user_id}/forget", dependencies=Checked)
    async def forget(user: Admin, user_id: Annotated[str, Path(max_length=64)]) -> dict[str, Any]:
        return {"forgotten": await desk.forget(user, user_id)}

    @app.get("/api/disaster-mode")
    async def disaster_mode(_: Staff) -> dict[str, Any]:
        state = await disaster.state()
        return {
            "on": state.on, "by": state.by, "reason": state.reason,
            "since": state.since.isoformat() if state.since else None, "switches": await disaster.history(),
        }  # fmt: skip

    @app.post("/api/disaster-mode", dependencies=Checked)
    async def switch_disaster_mode(user: Bousai, body: DisasterRequest) -> Any:
        try:
            changed = await disaster.switch(user, body.on, body.reason, datetime.now(JST))
        except DomainError as exc:
            return refused(str(exc))
        return {"on": body.on, "changed": changed}

    @app.get("/disaster", include_in_schema=False)
    async def disaster_page(request: Request, user: Bousai, error: str = "") -> Response:
        state = await disaster.state()
        context = {"user": user, "state": state, "history": await disaster.history(),
                   "error": error and "理由を200文字以内で入力してください。"}  # fmt: skip
        return page(request, "notify/disaster.html", context)

    @app.post("/disaster", include_in_schema=False, dependencies=Checked)
    async def disaster_form(
        request: Request,
        user: Bousai,
        on: Annotated[Literal["on", "off"], Form()],
        reason: Annotated[str, Form(max_length=1000)] = "",
    ) -> Response:
        root = str(request.scope.get("root_path", "")).rstrip("/")
        try:
            await disaster.switch(user, on == "on", reason, datetime.now(JST))
        except DomainError:
            return RedirectResponse(f"{root}/disaster?error=invalid", status_code=303)
        return RedirectResponse(f"{root}/", status_code=303)

    return app
