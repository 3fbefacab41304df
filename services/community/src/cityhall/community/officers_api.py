"""The officers' pages at /community/ (a second app of the service, `Running.mounts`): sign-in
by a one-time link sent in LINE, logout; the association's members and requests (approve,
decline), its circulars (post one, see who has read it, remind the others). Every page that
shows members' names writes its audit entry in the transaction that reads them."""

import uuid
from dataclasses import replace
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Form, Request, Response
from fastapi.responses import RedirectResponse

from cityhall.community import messages as say
from cityhall.community.domain import CIRCULARS as CIRCULAR_STREAMS
from cityhall.community.handlers import AUDIT, Community
from cityhall.community.officers import ROLE, Officer
from cityhall.community.projections import ASSOCIATIONS, CIRCULARS, circulars, readers
from cityhall.community.spec import OFFICERS_MOUNT
from cityhall.web import StaffApp, StaffUser, WebConfig, install, record_view, require_role
from cityhall.web.auth import current_user, login_required, staff_auth
from cityhall.web.personal import read_personal
from cityhall.web.routes import CHECKED, NO_STORE, decided, found, redirect_back
from cityhall.web.sessions import SessionEpochs, table_loader

COOKIE = "cityhall_officer"


def officer_config(web: WebConfig, community: Community) -> WebConfig:
    """The kit's sessions for officers: their own cookie, path, salt and account store."""
    epochs = SessionEpochs(table_loader(community.pool, "community_officers"), web.session_check_seconds)
    return replace(
        web,
        cookie_name=COOKIE,
        cookie_path=OFFICERS_MOUNT,
        portal_url=OFFICERS_MOUNT,
        session_salt="cityhall.community.officer",
        session_epochs=epochs,
    )


def create_officers_app(community: Community, staff: StaffApp, web: WebConfig) -> FastAPI:
    app = FastAPI(title="community officers", docs_url=None, redoc_url=None, openapi_url=None)
    auth = install(app, officer_config(web, community))
    templates, pool = staff.templates, staff.pool
    signed_in = require_role(ROLE)

    async def current_officer(request: Request, user: Annotated[StaffUser, Depends(signed_in)]) -> Officer:
        officer = await community.officers.get(pool, user.username)
        if officer is None:
            raise login_required(request)
        return officer

    Signed = Annotated[Officer, Depends(current_officer)]

    @app.get("/login", include_in_schema=False)
    async def login(request: Request, user: Annotated[StaffUser | None, Depends(current_user)]) -> Response:
        if user is not None:
            return RedirectResponse(f"{OFFICERS_MOUNT}/", status_code=303)
        context = {"logged_out": "logged_out" in request.query_params}
        return templates.TemplateResponse(request, "community/officer_login.html", context)

    @app.get("/signin/{token}", include_in_schema=False)
    async def signin_page(request: Request, token: str) -> Response:
        return templates.TemplateResponse(request, "community/officer_signin.html", {"token": token})

    @app.post("/signin/{token}", include_in_schema=False, dependencies=CHECKED)
    async def signin(request: Request, token: str) -> Response:
        redeemed = await community.officers.redeem_link(token)
        if redeemed is None:
            context = {"token": token, "failed": True}
            return templates.TemplateResponse(
                request, "community/officer_signin.html", context, status_code=400
            )
        officer, epoch = redeemed
        await record_view(pool, officer.user, "officer_login", officer.username, department=AUDIT)
        response = RedirectResponse(f"{OFFICERS_MOUNT}/", status_code=303)
        auth.login(request, response, officer.user, epoch=epoch)
        return response

    @app.post("/logout", include_in_schema=False, dependencies=CHECKED)
    async def logout(request: Request, user: Annotated[StaffUser | None, Depends(current_user)]) -> Response:
        if user is not None:
            await community.officers.end_sessions(user.username)  # a copied cookie is refused from now on
            epochs = auth.config.session_epochs
            if epochs is not None:
                epochs.forget(user.username)
        response = RedirectResponse(f"{OFFICERS_MOUNT}/login?logged_out=1", status_code=303)
        staff_auth(request).logout(request, response)
        return response

    @app.get("/", include_in_schema=False)
    async def home(request: Request, officer: Signed, done: str = "", error: str = "") -> Response:
        a = found(await ASSOCIATIONS.row(pool, officer.association_id), say.REFUSED["no_association"])
        context = {
            "user": officer.user,
            "a": a,
            "members": await community.members(officer.user, officer.association_id),
            "circulars": await circulars(pool, officer.association_id),
            "new_id": uuid.uuid4(),  # the form's id: a double submit posts once
            "done": done,
            "error": error,
        }
        return templates.TemplateResponse(request, "community/officer_home.html", context, headers=NO_STORE)

    @app.post("/members/{member_id}/{verdict}", include_in_schema=False, dependencies=CHECKED)
    async def decide(request: Request, member_id: uuid.UUID, verdict: str, officer: Signed) -> Response:
        if verdict not in ("approve", "decline"):
            return redirect_back(request, "/", error="not_pending")
        decision = community.decide_join(officer, member_id, verdict == "approve")
        return await decided(request, "/", decision, f"{verdict}d", caught_up=staff.caught_up)

    @app.post("/circulars", include_in_schema=False, dependencies=CHECKED)
    async def post(
        request: Request,
        officer: Signed,
        circular_id: Annotated[uuid.UUID, Form()],
        title: Annotated[str, Form(max_length=200)],
        text: Annotated[str, Form(max_length=4000)],
    ) -> Response:
        posted = community.post(officer, circular_id, title, text)
        return await decided(request, "/", posted, "posted", caught_up=staff.caught_up)

    async def readers_of(officer: Officer, circular_id: uuid.UUID) -> dict[str, Any]:
        """The circular (the officer's association's, else 404) and its recipients by name, who
        has read it and who has not: read with its audit entry."""
        c = await CIRCULARS.row(pool, circular_id)
        c = found(
            c if c and c["association_id"] == officer.association_id else None, say.REFUSED["no_circular"]
        )
        async with pool.acquire() as conn, conn.transaction():
            rows = await readers(conn, circular_id)
            names = await read_personal(
                conn,
                community.personal,
                officer.user,
                "view_readers",
                CIRCULAR_STREAMS.stream(circular_id),
                {r["member_id"].hex: r["name"] for r in rows if r["member_id"]},
                department=AUDIT,
            )
        shown = [{**r, "name": names.get(r["member_id"].hex, "") if r["member_id"] else ""} for r in rows]
        unread = [r for r in shown if r["read_at"] is None]
        return {"user": officer.user, "c": c, "unread": unread, "read": [r for r in shown if r not in unread]}

    @app.get("/circulars/{circular_id}", include_in_schema=False)
    async def circular(
        request: Request, circular_id: uuid.UUID, officer: Signed, done: str = "", error: str = ""
    ) -> Response:
        context = await readers_of(officer, circular_id) | {"done": done, "error": error}
        return templates.TemplateResponse(
            request, "community/officer_circular.html", context, headers=NO_STORE
        )

    @app.get("/circulars/{circular_id}/readers", include_in_schema=False)
    async def readers_fragment(request: Request, circular_id: uuid.UUID, officer: Signed) -> Response:
        """The page's lists alone, fetched again when the live stream says the reads moved."""
        context = await readers_of(officer, circular_id)
        return templates.TemplateResponse(request, "community/_readers.html", context, headers=NO_STORE)

    @app.get("/live", include_in_schema=False)
    async def live(officer: Signed) -> Response:
        return staff.live.response()

    @app.post("/circulars/{circular_id}/remind", include_in_schema=False, dependencies=CHECKED)
    async def remind(request: Request, circular_id: uuid.UUID, officer: Signed) -> Response:
        c = await CIRCULARS.row(pool, circular_id)
        c = found(
            c if c and c["association_id"] == officer.association_id else None, say.REFUSED["no_circular"]
        )
        reminded = community.remind(officer, circular_id, c["text"])
        return await decided(
            request, f"/circulars/{circular_id}", reminded, "reminded", caught_up=staff.caught_up
        )

    return app
