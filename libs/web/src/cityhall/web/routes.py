"""Routes and answers every dashboard has (FastAPI resolves the routes' annotations when they are
defined: no `from __future__ import annotations` in this module).

- `live_list(staff, role, page, name=(fragment, rows))`: a page of lists that refresh themselves:
  `GET /` (the page), `GET /fragments/<name>` (each list alone) and `GET /live` (the SSE stream
  that tells the page when to re-fetch);
- `found(row, message)`: the row, or the kit's 404 page with `message`;
- `redirect_back(request, path, **outcome)`: the 303 after a form's POST, to `path` in this app
  with the outcome (`done=…` or `error=…`) in the query;
- `decided(request, path, decision, done, caught_up=...)`: run a staff decision; a refused one
  (`DomainError`) goes back with `error=<reason>`, a done one waits until the read models show
  it and goes back with `done=<done>`.
"""

from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import Depends, HTTPException, Request, Response
from fastapi.responses import RedirectResponse

from cityhall.events.decider import DomainError
from cityhall.web.auth import StaffUser, require_role
from cityhall.web.csrf import csrf_protect
from cityhall.web.staff import StaffApp

T = TypeVar("T")
Rows = Callable[[], Awaitable[Mapping[str, Any]]]
"""What one list of a page shows: its template context (e.g. `{"opinions": [...]}`)."""

CHECKED = [Depends(csrf_protect)]
"""`dependencies=` of every POST route: the CSRF check."""
NO_STORE = {"cache-control": "no-store"}
"""Headers of a page that shows personal data."""


def live_list(
    staff: StaffApp,
    role: str,
    page: str,
    *,
    context: Rows | None = None,
    **lists: tuple[str, Rows],
) -> None:
    """`GET /` renders `page` with every list's context (and `context`'s), `GET /fragments/<name>`
    renders the list's own template, `GET /live` streams the changes; each needs `role`."""
    app, templates = staff.app, staff.templates
    Person = Annotated[StaffUser, Depends(require_role(role))]

    @app.get("/", include_in_schema=False)
    async def whole(request: Request, user: Person) -> Response:
        shown: dict[str, Any] = {"user": user, **(await context() if context else {})}
        for _template, rows in lists.values():
            shown.update(await rows())
        return templates.TemplateResponse(request, page, shown)

    for name, (template, rows) in lists.items():
        app.add_api_route(
            f"/fragments/{name}", _fragment(staff, template, rows, Person), include_in_schema=False
        )

    @app.get("/live", include_in_schema=False)
    async def stream(user: Person) -> Response:
        return staff.live.response()


def _fragment(staff: StaffApp, template: str, rows: Rows, person: Any) -> Callable[..., Awaitable[Response]]:
    async def fragment(request: Request, user: person) -> Response:
        return staff.templates.TemplateResponse(request, template, {"user": user, **(await rows())})

    return fragment


def found(row: T | None, message: str) -> T:
    """`row`, or a 404 with `message` (the kit's error page) when there is none."""
    if row is None:
        raise HTTPException(404, message)
    return row


def redirect_back(request: Request, path: str, **outcome: str) -> Response:
    """See other: `path` under this app's mount, with `outcome` as its query."""
    root = str(request.scope.get("root_path", "")).rstrip("/")
    query = f"?{urlencode(outcome)}" if outcome else ""
    return RedirectResponse(f"{root}{path}{query}", status_code=303)


async def decided(
    request: Request,
    path: str,
    decision: Awaitable[object],
    done: str,
    *,
    caught_up: Callable[[], Awaitable[bool]] | None = None,
) -> Response:
    """Back to `path` after `decision`: `error=<reason>` when refused, else (once `caught_up`,
    so the page shows the decision) `done=<done>`."""
    try:
        await decision
    except DomainError as exc:
        return redirect_back(request, path, error=exc.reason)
    if caught_up is not None:
        await caught_up()
    return redirect_back(request, path, done=done)
