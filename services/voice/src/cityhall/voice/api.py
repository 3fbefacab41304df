"""広聴広報課's dashboard at /staff/voice/: the opinions (live), one opinion (its view audited),
the answer (sent to the resident in LINE) and forgetting the resident."""

import uuid
from typing import Annotated

from fastapi import Depends, FastAPI, Form, Request, Response

from cityhall.line.japanese import datetime_ja
from cityhall.voice import messages as say
from cityhall.voice.domain import opinion_stream
from cityhall.voice.handlers import Voice
from cityhall.voice.projections import OPINIONS, opinions
from cityhall.web import StaffApp, StaffUser, require_role
from cityhall.web.personal import forget_resident, read_personal
from cityhall.web.routes import CHECKED, NO_STORE, decided, found, live_list, redirect_back

Clerk = Annotated[StaffUser, Depends(require_role("voice"))]


def create_app(voice: Voice, staff: StaffApp) -> FastAPI:
    app, templates, pool = staff.app, staff.templates, staff.pool
    templates.env.globals.update(categories=say.CATEGORIES, refusals=say.REFUSED)
    templates.env.filters["jst"] = datetime_ja
    live_list(staff, "voice", "voice/home.html", opinions=("voice/_opinions.html", lambda: opinions(pool)))

    @app.get("/opinions/{opinion_id}", include_in_schema=False)
    async def detail(
        request: Request, opinion_id: uuid.UUID, user: Clerk, done: str = "", error: str = ""
    ) -> Response:
        async with pool.acquire() as conn, conn.transaction():  # the read and its audit entry
            o = found(await OPINIONS.row(conn, opinion_id), say.REFUSED["not_submitted"])
            sealed, stream = {"text": o["text"], "answer": o["answer"]}, opinion_stream(opinion_id)
            o |= await read_personal(conn, voice.personal, user, "view_opinion", stream, sealed)
        context = {"user": user, "o": o, "done": done, "error": error}
        return templates.TemplateResponse(request, "voice/opinion.html", context, headers=NO_STORE)

    @app.post("/opinions/{opinion_id}/answer", include_in_schema=False, dependencies=CHECKED)
    async def answer(
        request: Request, opinion_id: uuid.UUID, user: Clerk, text: Annotated[str, Form()]
    ) -> Response:
        answered = voice.answer(user, opinion_id, text)
        return await decided(
            request, f"/opinions/{opinion_id}", answered, "answered", caught_up=staff.caught_up
        )

    @app.post("/opinions/{opinion_id}/forget", include_in_schema=False, dependencies=CHECKED)
    async def forget(request: Request, opinion_id: uuid.UUID, user: Clerk) -> Response:
        async with pool.acquire() as conn, conn.transaction():
            o = found(await OPINIONS.row(conn, opinion_id), say.REFUSED["not_submitted"])
            await forget_resident(conn, voice.personal, user, o["user_id"])
        return redirect_back(request, f"/opinions/{opinion_id}", done="forgotten")

    return app
