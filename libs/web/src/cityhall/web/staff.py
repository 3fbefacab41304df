"""A department's staff app in one call: what every dashboard starts with.

In the service's `build(ctx)`: `staff = staff_app(ctx, "voice", projections=[OPINIONS])`, then

- `staff.app`: the FastAPI app, `install`ed (sign-in, error pages, the kit's static files, CSRF);
- `staff.templates`: the service's templates over the kit's (`create_templates`);
- `staff.live`: live updates when the projections move (`LiveUpdates`; put `staff.live.close`
  in `Running.on_stop`);
- `await staff.caught_up()`: after a decision, wait until the read models show it, so the page
  the clerk is sent back to is not stale (`cityhall.web.routes.decided` does it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from cityhall.events.db import Pool
from cityhall.events.projection import Projection, caught_up
from cityhall.runtime.service import ServiceContext
from cityhall.web.auth import StaffAuth
from cityhall.web.config import WebConfig
from cityhall.web.csrf import CsrfCookieMiddleware
from cityhall.web.errors import install_error_handlers
from cityhall.web.live import LiveUpdates
from cityhall.web.templates import KIT_STATIC, STATIC_KIT_PATH, create_templates


def install(app: FastAPI, config: WebConfig | StaffAuth) -> StaffAuth:
    """Make `app` a staff app: auth for the dependencies, error pages, the kit's static files at
    `/static-kit` (inside the app's mount), and the pre-login CSRF cookie. Returns the auth."""
    auth = config if isinstance(config, StaffAuth) else StaffAuth(config)
    app.state.cityhall_web = auth
    install_error_handlers(app)
    app.mount(STATIC_KIT_PATH, StaticFiles(directory=KIT_STATIC), name="static-kit")
    app.add_middleware(CsrfCookieMiddleware)
    return auth


@dataclass
class StaffApp:
    app: FastAPI
    auth: StaffAuth
    templates: Jinja2Templates
    live: LiveUpdates
    pool: Pool
    projections: Sequence[str] = field(default_factory=tuple)

    async def caught_up(self, timeout: float = 3.0) -> bool:
        """Wait (briefly) until the app's projections show every event committed so far."""
        return await caught_up(self.pool, self.projections, timeout=timeout)


def staff_app(
    ctx: ServiceContext,
    name: str,
    *,
    projections: Sequence[str | Projection],
    templates: str | Path | None = None,
    web: WebConfig | None = None,
) -> StaffApp:
    """The staff app of service `name`: its pages from `templates` (default: the `templates`
    folder of the package `cityhall.<name>`), live updates and the caught-up check over the read
    models `projections` (those its pages read), auth from `web` (default: the context's)."""
    app = FastAPI(title=name, docs_url=None, redoc_url=None, openapi_url=None)
    auth = install(app, web or WebConfig.from_context(ctx))
    pool = ctx.require_pool()
    names = tuple(p if isinstance(p, str) else p.name for p in projections)
    folder = templates or Path(str(files(f"cityhall.{name}"))) / "templates"
    live = LiveUpdates(pool, projections=names)
    return StaffApp(app, auth, create_templates(folder), live, pool, names)
