"""広聴広報課's dashboard at /staff/voice/: the opinions (live), one opinion (its view audited),
the answer (sent to the resident in LINE) and forgetting the resident."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Form, HTTPException, Request, Response
from fastapi.responses import RedirectResponse

from cityhall.events.decider import DomainError
from cityhall.line.japanese import datetime_ja
from cityhall.voice import projections
from cityhall.voice.domain import REFUSED
from cityhall.voice.events import CATEGORIES
from cityhall.voice.handlers import Voice
from cityhall.web import LiveUpdates, StaffAuth, StaffUser, create_templates, csrf_protect, install
from cityhall.web import require_role as role

Clerk = Annotated[StaffUser, Depends(role("voice"))]
Checked = [Depends(csrf_protect)]


def create_app(voice: Voice, auth: StaffAuth, live: LiveUpdates) -> FastAPI:
    app = FastAPI(title="voice", docs_url=None, redoc_url=None, openapi_url=None)
    install(app, auth)
    templates = create_templates(Path(__file__).parent / "templates")
    templates.env.globals["categories"] = CATEGORIES
    templates.env.globals["refusals"] = REFUSED
    templates.env.filters["jst"] = datetime_ja

    def back(request: Request, opinion_id: uuid.UUID, **outcome: str) -> Response:
        root = str(request.scope.get("root_path", "")).rstrip("/")
        query = "&".join(f"{k}={v}" for k, v in outcome.items())
        return RedirectResponse(f"{root}/opinions/{opinion_id}?{query}", status_code=303)

    @app.get("/", include_in_schema=False)
    async def home(request: Request, user: Clerk) -> Response:
        rows = await projections.opinions(voice.pool)
        return templates.TemplateResponse(request, "voice/home.html", {"user": user, "opinions": rows})

    @app.get("/fragments/opinions", include_in_schema=False)
    async def rows(request: Request, user: Clerk) -> Response:
        rows = await projections.opinions(voice.pool)
        return templates.TemplateResponse(request, "voice/_opinions.html", {"user": user, "opinions": rows})

    @app.get("/live", include_in_schema=False)
    async def stream(user: Clerk) -> Response:
        return live.response()

    @app.get("/opinions/{opinion_id}", include_in_schema=False)
    async def detail(
        request: Request, opinion_id: uuid.UUID, user: Clerk, done: str = "", error: str = ""
    ) -> Response:
        row = await voice.read(user, opinion_id)
        if row is None:
            raise HTTPException(404, "このご意見は見つかりません。")
        context = {"user": user, "o": row, "done": done, "error": error}
        return templates.TemplateResponse(
            request, "voice/opinion.html", context, headers={"cache-control": "no-store"}
        )

    @app.post("/opinions/{opinion_id}/answer", include_in_schema=False, dependencies=Checked)
    async def answer(
        request: Request, opinion_id: uuid.UUID, user: Clerk, text: Annotated[str, Form()]
    ) -> Response:
        try:
            await voice.answer(user, opinion_id, text)
        except DomainError as exc:
            return back(request, opinion_id, error=exc.reason)
        return back(request, opinion_id, done="answered")

    @app.post("/opinions/{opinion_id}/forget", include_in_schema=False, dependencies=Checked)
    async def forget(request: Request, opinion_id: uuid.UUID, user: Clerk) -> Response:
        row = await projections.opinion(voice.pool, opinion_id)
        if row is None:
            raise HTTPException(404, "このご意見は見つかりません。")
        await voice.forget(user, row["user_id"])
        return back(request, opinion_id, done="forgotten")

    return app
