"""The staff console kit: what every department's dashboard is built from.

    from cityhall.web import WebConfig, StaffUser, install, require_role, csrf_protect, create_templates

    config = WebConfig.from_context(context)        # in the service's build(context)
    app = FastAPI()
    install(app, config)                            # auth state, error pages, /static-kit, CSRF cookie
    templates = create_templates(Path(__file__).parent / "templates")

    @app.get("/")
    async def home(request: Request, user: StaffUser = Depends(require_role("certificates"))):
        return templates.TemplateResponse(request, "home.html", {"user": user})

    @app.post("/things/{id}/approve", dependencies=[Depends(csrf_protect)])
    async def approve(id: str, user: StaffUser = Depends(require_role("certificates"))): ...

See libs/web/README.md for the whole surface.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from cityhall.web.audit import AUDIT_PAGE_SIZE, AuditEntry, actor_names, read_audit, record_view
from cityhall.web.auth import (
    SESSION_COOKIE,
    StaffAuth,
    StaffUser,
    current_user,
    department_label,
    departments,
    hash_password,
    require_role,
    require_user,
    verify_password,
)
from cityhall.web.config import ConfigError, OidcSettings, WebConfig
from cityhall.web.csrf import CSRF_FIELD, CSRF_HEADER, CsrfCookieMiddleware, csrf_protect, csrf_token
from cityhall.web.dashboards import Dashboard
from cityhall.web.errors import error_response, install_error_handlers
from cityhall.web.live import LiveUpdates, sse_event
from cityhall.web.negotiation import wants_json
from cityhall.web.templates import KIT_STATIC, STATIC_KIT_PATH, create_environment, create_templates


def install(app: FastAPI, config: WebConfig | StaffAuth) -> StaffAuth:
    """Make `app` a staff app: auth for the dependencies, error pages, the kit's static files at
    `/static-kit` (inside the app's mount), and the pre-login CSRF cookie. Returns the auth."""
    auth = config if isinstance(config, StaffAuth) else StaffAuth(config)
    app.state.cityhall_web = auth
    install_error_handlers(app)
    app.mount(STATIC_KIT_PATH, StaticFiles(directory=KIT_STATIC), name="static-kit")
    app.add_middleware(CsrfCookieMiddleware)
    return auth


__all__ = [
    "AUDIT_PAGE_SIZE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "AuditEntry",
    "ConfigError",
    "Dashboard",
    "LiveUpdates",
    "OidcSettings",
    "StaffAuth",
    "StaffUser",
    "WebConfig",
    "actor_names",
    "create_environment",
    "create_templates",
    "csrf_protect",
    "csrf_token",
    "current_user",
    "department_label",
    "departments",
    "error_response",
    "hash_password",
    "install",
    "read_audit",
    "record_view",
    "require_role",
    "require_user",
    "sse_event",
    "verify_password",
    "wants_json",
]
