"""The staff portal (ServiceSpec "staff-portal", mounted at /staff): login, logout, dashboards.

Pages: `GET /staff/` (the dashboards this person may open), `GET|POST /staff/login`,
`POST /staff/logout`; `GET /staff/api/me` (who am I, JSON). In the embedded run it creates
the demo accounts and prints them in the banner.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Annotated

from fastapi import Depends, FastAPI, Form, Request, Response
from fastapi.responses import RedirectResponse

from cityhall.runtime.service import Running, ServiceContext
from cityhall.web import install
from cityhall.web.audit import record_view
from cityhall.web.auth import (
    StaffUser,
    current_user,
    department_label,
    require_user,
    safe_next,
    staff_auth,
)
from cityhall.web.config import WebConfig
from cityhall.web.csrf import csrf_protect
from cityhall.web.dashboards import (
    Dashboard,
    dashboards_for,
    departments_without_dashboard,
    discover_dashboards,
)
from cityhall.web.portal.accounts import Accounts, LoginThrottle, ensure_demo_accounts
from cityhall.web.templates import kit_templates

log = logging.getLogger("cityhall.web.portal")

PORTAL_DEPARTMENT = "staff-portal"
LOGIN_FAILED = "ユーザー名またはパスワードが正しくありません。"
LOGIN_THROTTLED = "ログインの失敗が続いたため、しばらくログインできません。15分ほどおいてからお試しください。"


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def create_portal(
    config: WebConfig,
    accounts: Accounts,
    *,
    dashboards: Sequence[Dashboard] = (),
    throttle: LoginThrottle | None = None,
) -> FastAPI:
    app = FastAPI(title="Staff portal", docs_url=None, redoc_url=None, openapi_url=None)
    auth = install(app, config)
    templates = kit_templates()
    throttle = throttle or LoginThrottle()
    home = f"{config.portal_url}/"

    def login_page(
        request: Request, *, next_url: str, error: str | None = None, username: str = "", status: int = 200
    ) -> Response:
        return templates.TemplateResponse(
            request,
            "portal/login.html",
            {
                "next": next_url,
                "error": error,
                "username": username,
                "logged_out": "logged_out" in request.query_params,
            },
            status_code=status,
        )

    @app.get("/", include_in_schema=False)
    async def portal(request: Request, user: Annotated[StaffUser, Depends(require_user)]) -> Response:
        return templates.TemplateResponse(
            request,
            "portal/home.html",
            {
                "user": user,
                "dashboards": dashboards_for(user, dashboards),
                "pending": [department_label(d) for d in departments_without_dashboard(user, dashboards)],
                "elsewhere": [d for d in dashboards if not d.allows(user)],
            },
        )

    @app.get("/login", include_in_schema=False)
    async def login_form(
        request: Request, user: Annotated[StaffUser | None, Depends(current_user)], next: str = ""
    ) -> Response:
        if user is not None and not next:
            return RedirectResponse(home, status_code=303)
        return login_page(request, next_url=safe_next(next, home))

    @app.post("/login", include_in_schema=False, dependencies=[Depends(csrf_protect)])
    async def login(
        request: Request,
        username: Annotated[str, Form(max_length=64)] = "",
        password: Annotated[str, Form(max_length=1024)] = "",
        next: Annotated[str, Form(max_length=2048)] = "",
    ) -> Response:
        username = username.strip().lower()
        target = safe_next(next, home)
        address = _client(request)
        if throttle.blocked(username, address):
            return login_page(request, next_url=target, error=LOGIN_THROTTLED, username=username, status=429)
        user = await accounts.authenticate(username, password) if username and password else None
        if user is None:
            throttle.failed(username, address)
            await accounts.pool.execute(
                """INSERT INTO audit_log (actor, department, action, subject, detail)
                   VALUES ('anonymous', $1, 'login_failed', $2, $3::jsonb)""",
                PORTAL_DEPARTMENT,
                username[:64],
                {"address": address},
            )
            return login_page(request, next_url=target, error=LOGIN_FAILED, username=username, status=401)
        throttle.succeeded(username, address)
        await record_view(
            accounts.pool, user, "login", user.username, {"address": address}, department=PORTAL_DEPARTMENT
        )
        response = RedirectResponse(target, status_code=303)
        auth.login(request, response, user)
        return response

    @app.post("/logout", include_in_schema=False, dependencies=[Depends(csrf_protect)])
    async def logout(request: Request, user: Annotated[StaffUser | None, Depends(current_user)]) -> Response:
        if user is not None:
            await record_view(accounts.pool, user, "logout", user.username, department=PORTAL_DEPARTMENT)
        response = RedirectResponse(f"{config.login_url}?logged_out=1", status_code=303)
        staff_auth(request).logout(request, response)
        return response

    @app.get("/api/me")
    async def me(user: Annotated[StaffUser, Depends(require_user)]) -> dict[str, object]:
        return {
            "username": user.username,
            "display_name": user.display_name,
            "roles": sorted(user.roles),
            "dashboards": [
                {"key": d.key, "title": d.title, "path": d.path} for d in dashboards_for(user, dashboards)
            ],
        }

    return app


async def build(context: ServiceContext) -> Running:
    config = WebConfig.from_context(context)
    accounts = Accounts(context.require_pool())
    banner = [f"  Staff portal       : {context.settings.public_url}{config.portal_url}/"]
    if context.mode == "embedded":
        demo = await ensure_demo_accounts(accounts, context.settings.data_dir)
        banner.append("  Demo staff logins  : (user / password / department)")
        banner += [f"    {a.username:<13} {a.password:<14} {a.display_name}" for a in demo]
    app = create_portal(config, accounts, dashboards=discover_dashboards())
    return Running(app=app, banner=banner)
