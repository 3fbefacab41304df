"""The staff portal (ServiceSpec "staff-portal", mounted at /staff): login, logout, dashboards.

Pages: `GET /staff/` (the dashboards this person may open), `GET|POST /staff/login`,
`POST /staff/logout`; `GET /staff/api/me` (who am I, JSON); `GET /staff/api/session-epochs/<user>`
(for the other services, with the service key: `cityhall.web.sessions`). In the embedded run
it creates the demo accounts and prints them in the banner.
"""

from __future__ import annotations

import hmac
import logging
import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, FastAPI, Form, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from cityhall.runtime.service import Running, ServiceContext
from cityhall.web import install
from cityhall.web.audit import record_view
from cityhall.web.auth import (
    StaffUser,
    client_address,
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
from cityhall.web.sessions import EPOCHS_PATH, SERVICE_KEY_HEADER, SessionEpochs, service_key
from cityhall.web.templates import kit_templates

log = logging.getLogger("cityhall.web.portal")

PORTAL_DEPARTMENT = "staff-portal"
LOGIN_FAILED = "ユーザー名またはパスワードが正しくありません。"


def login_throttled(wait: timedelta) -> str:
    return f"ログインの失敗が続いたため、少しお待ちいただいています。{math.ceil(wait.total_seconds())}秒ほどおいてから、もう一度お試しください。"


def create_portal(
    config: WebConfig,
    accounts: Accounts,
    *,
    dashboards: Sequence[Dashboard] = (),
    throttle: LoginThrottle | None = None,
) -> FastAPI:
    app = FastAPI(title="Staff portal", docs_url=None, redoc_url=None, openapi_url=None)
    epochs = SessionEpochs(accounts.session_epoch, config.session_check_seconds)
    config = replace(config, session_epochs=epochs)  # the portal reads its own table
    auth = install(app, config)
    templates = kit_templates()
    throttle = throttle or LoginThrottle(accounts.pool)
    key = service_key(config.session_secret)

    async def audit_failure(action: str, username: str, detail: dict[str, object]) -> None:
        await accounts.pool.execute(
            """INSERT INTO audit_log (actor, department, action, subject, detail)
               VALUES ('anonymous', $1, $2, $3, $4::jsonb)""",
            PORTAL_DEPARTMENT,
            action,
            username[:64],
            detail,
        )

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
        address = client_address(request, config)
        wait = await throttle.wait(username, address)
        if wait > timedelta(0):
            await audit_failure(
                "login_throttled", username, {"address": address, "wait_seconds": wait.total_seconds()}
            )
            response = login_page(
                request, next_url=target, error=login_throttled(wait), username=username, status=429
            )
            response.headers["Retry-After"] = str(math.ceil(wait.total_seconds()))
            return response
        user = await accounts.authenticate(username, password) if username and password else None
        if user is None:
            await throttle.failed(username, address)
            await audit_failure("login_failed", username, {"address": address})
            return login_page(request, next_url=target, error=LOGIN_FAILED, username=username, status=401)
        await throttle.succeeded(username, address)
        await record_view(
            accounts.pool, user, "login", user.username, {"address": address}, department=PORTAL_DEPARTMENT
        )
        response = RedirectResponse(target, status_code=303)
        auth.login(request, response, user, epoch=await accounts.session_epoch(user.username) or 0)
        return response

    @app.post("/logout", include_in_schema=False, dependencies=[Depends(csrf_protect)])
    async def logout(request: Request, user: Annotated[StaffUser | None, Depends(current_user)]) -> Response:
        if user is not None:
            await accounts.end_sessions(user.username)  # a copy of the cookie is refused from now on
            epochs.forget(user.username)
            await record_view(accounts.pool, user, "logout", user.username, department=PORTAL_DEPARTMENT)
        response = RedirectResponse(f"{config.login_url}?logged_out=1", status_code=303)
        staff_auth(request).logout(request, response)
        return response

    @app.get(EPOCHS_PATH + "/{username}", include_in_schema=False)
    async def session_epoch(request: Request, username: str) -> Response:
        """For the services that check sessions (`cityhall.web.sessions.portal_loader`)."""
        if not hmac.compare_digest(request.headers.get(SERVICE_KEY_HEADER, ""), key):
            return JSONResponse({"detail": "service key required"}, status_code=401)
        epoch = await accounts.session_epoch(username)
        if epoch is None:
            return JSONResponse({"detail": "no such account, or disabled"}, status_code=404)
        return JSONResponse({"epoch": epoch})

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
    if context.mode == "embedded" and context.settings.profile == "development":
        # Demo logins with printed passwords are a development tool too: never beside a real channel.
        demo = await ensure_demo_accounts(accounts, context.settings.data_dir)
        banner.append("  Demo staff logins  : (user / password / department)")
        banner += [f"    {a.username:<13} {a.password:<14} {a.display_name}" for a in demo]
    app = create_portal(config, accounts, dashboards=discover_dashboards())
    return Running(app=app, banner=banner)
