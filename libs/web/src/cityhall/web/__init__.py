"""The staff console kit: what every department's dashboard is built from.

    from cityhall.web import WebConfig, StaffUser, install, require_role, csrf_protect, create_templates

    config = WebConfig.from_context(context)        # in the service's build(context)
    staff = staff_app("certificates", StaffAuth(config), pool, Path(__file__).parent / "templates",
                      projections=["certificate_requests"])
    app, templates = staff.app, staff.templates     # `install`ed: auth, error pages, /static-kit, CSRF

    @app.get("/")
    async def home(request: Request, user: StaffUser = Depends(require_role("certificates"))):
        return templates.TemplateResponse(request, "home.html", {"user": user})

    @app.post("/things/{id}/approve", dependencies=[Depends(csrf_protect)])
    async def approve(id: str, user: StaffUser = Depends(require_role("certificates"))): ...

The routes every dashboard has (`live_list`, `found`, `redirect_back`, `decided`) are in
`cityhall.web.routes`; audited reads of personal data and forgetting a resident in
`cityhall.web.personal`. See libs/web/README.md for the whole surface.
"""

from __future__ import annotations

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
from cityhall.web.csrf import CSRF_FIELD, CSRF_HEADER, csrf_protect, csrf_token
from cityhall.web.dashboards import Dashboard
from cityhall.web.errors import error_response
from cityhall.web.live import LiveUpdates, sse_event
from cityhall.web.negotiation import wants_json
from cityhall.web.staff import StaffApp, install, staff_app
from cityhall.web.templates import create_environment, create_templates

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
    "StaffApp",
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
    "staff_app",
    "verify_password",
    "wants_json",
]
