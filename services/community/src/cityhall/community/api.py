"""協働推進課's pages at /staff/community/: the associations (registered here, with their 町),
one association's officers (appointed with an invitation code shown once, removed) and members
(their names read with an audit entry; a member forgotten on request)."""

import uuid
from typing import Annotated

from fastapi import Depends, FastAPI, Form, Query, Request, Response

from cityhall.community import messages as say
from cityhall.community.handlers import AUDIT, Community
from cityhall.community.projections import ASSOCIATIONS, associations
from cityhall.events.decider import DomainError
from cityhall.line.japanese import datetime_ja
from cityhall.town import districts
from cityhall.web import AUDIT_PAGE_SIZE, StaffApp, StaffUser, read_audit, require_role
from cityhall.web.routes import CHECKED, NO_STORE, decided, found, redirect_back

Clerk = Annotated[StaffUser, Depends(require_role("kyodo"))]
Admin = Annotated[StaffUser, Depends(require_role("kyodo-admin"))]
DISTRICTS = {d.key: d.name for d in districts()}


def create_app(community: Community, staff: StaffApp) -> FastAPI:
    app, templates, pool = staff.app, staff.templates, staff.pool
    templates.env.globals.update(districts=DISTRICTS, refusals=say.REFUSED)
    templates.env.filters["jst"] = datetime_ja

    @app.get("/", include_in_schema=False)
    async def home(request: Request, user: Clerk, done: str = "", error: str = "") -> Response:
        context = {
            "user": user,
            "associations": await associations(pool),
            "new_id": uuid.uuid4(),  # the form's id: a double submit registers once
            "done": done,
            "error": error,
        }
        return templates.TemplateResponse(request, "community/home.html", context)

    @app.post("/associations", include_in_schema=False, dependencies=CHECKED)
    async def register(
        request: Request,
        user: Clerk,
        association_id: Annotated[uuid.UUID, Form()],
        name: Annotated[str, Form(max_length=200)],
        district: Annotated[str, Form(max_length=40)],
    ) -> Response:
        registered = community.register(user, association_id, name, district)
        return await decided(request, "/", registered, "registered", caught_up=staff.caught_up)

    async def association_page(
        request: Request, user: StaffUser, association_id: uuid.UUID, **shown: str
    ) -> Response:
        a = found(await ASSOCIATIONS.row(pool, association_id), say.REFUSED["no_association"])
        context = {
            "user": user,
            "a": a,
            "members": await community.members(user, association_id),
            "officers": await community.officers.listed(pool, association_id),
            "new_id": uuid.uuid4(),  # the appointment form's id: a double submit appoints once
            **shown,
        }
        return templates.TemplateResponse(request, "community/association.html", context, headers=NO_STORE)

    @app.get("/associations/{association_id}", include_in_schema=False)
    async def association(
        request: Request, association_id: uuid.UUID, user: Clerk, done: str = "", error: str = ""
    ) -> Response:
        return await association_page(request, user, association_id, done=done, error=error)

    @app.post("/associations/{association_id}/officers", include_in_schema=False, dependencies=CHECKED)
    async def appoint(
        request: Request,
        association_id: uuid.UUID,
        user: Clerk,
        officer_id: Annotated[uuid.UUID, Form()],
        name: Annotated[str, Form(max_length=200)],
    ) -> Response:
        # The code is shown once, on this answer (never in a URL, where logs would keep it).
        try:
            code = await community.appoint(user, association_id, officer_id, name)
        except DomainError as exc:
            return redirect_back(request, f"/associations/{association_id}", error=exc.reason)
        return await association_page(request, user, association_id, code=code, officer=name.strip())

    @app.post(
        "/associations/{association_id}/officers/{username}/remove",
        include_in_schema=False,
        dependencies=CHECKED,
    )
    async def remove(request: Request, association_id: uuid.UUID, username: str, user: Clerk) -> Response:
        removed = community.remove_officer(user, association_id, username)
        return await decided(request, f"/associations/{association_id}", removed, "removed")

    @app.post(
        "/associations/{association_id}/members/{member_id}/forget",
        include_in_schema=False,
        dependencies=CHECKED,
    )
    async def forget(
        request: Request, association_id: uuid.UUID, member_id: uuid.UUID, user: Clerk
    ) -> Response:
        forgotten = community.forget(user, member_id)
        return await decided(request, f"/associations/{association_id}", forgotten, "forgotten")

    @app.get("/audit", include_in_schema=False)
    async def audit(
        request: Request, user: Admin, action: str = "", before: Annotated[int | None, Query(ge=1)] = None
    ) -> Response:
        """Who saw or did what: clerks and officers alike (every view of members' names)."""
        chosen = action if action in say.AUDIT_ACTIONS else None
        entries = await read_audit(
            pool, department=AUDIT, limit=AUDIT_PAGE_SIZE, before_id=before, action=chosen
        )
        older = entries[-1].id if len(entries) == AUDIT_PAGE_SIZE else None
        context = {"user": user, "entries": entries, "action": chosen or "", "older": older}
        context["actions"] = say.AUDIT_ACTIONS
        return templates.TemplateResponse(request, "community/audit.html", context, headers=NO_STORE)

    return app
