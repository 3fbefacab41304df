"""Jinja2 for staff pages: the kit's Japanese layout plus each service's own templates.

`create_templates(folder)` gives a `Jinja2Templates` (autoescaping on) whose loader looks in
the service's folder first, then in the kit's (`kit/base.html`, `kit/error.html`,
`kit/forms.html`). Render with `templates.TemplateResponse(request, name, {"user": user, ...})`.

Globals available in every template (the `request` must be in the context, which
`TemplateResponse` does):
- `csrf_token()`: the CSRF token for this session (hidden input `csrf_token` in forms);
- `kit_static(path)`: URL of a kit asset (`htmx.min.js`, `kit.css`, `live.js`) in *this*
  app: each app that `install`s the kit serves them at `<its mount>/static-kit/`;
- `app_url(path)`: `path` under this app's mount (`app_url('/requests')` →
  `/staff/certificates/requests`);
- `portal_url(path)`: `path` under the portal (`portal_url('/logout')` → `/staff/logout`);
- `department_label(role)`: the Japanese name of a department role.
"""

from __future__ import annotations

import functools
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context

from cityhall.web.auth import department_label, staff_auth
from cityhall.web.csrf import csrf_token as _csrf_token

KIT_TEMPLATES = Path(__file__).parent / "templates"
KIT_STATIC = Path(__file__).parent / "static"
STATIC_KIT_PATH = "/static-kit"
"""Where `install` mounts the kit's static files inside each app."""


def _request(context: Context) -> Request:
    request = context.get("request")
    if not isinstance(request, Request):
        raise RuntimeError(
            "no request in the template context: render with TemplateResponse(request, ...) and import "
            'macros with context ({% import "kit/forms.html" as forms with context %})'
        )
    return request


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


@pass_context
def csrf_token(context: Context) -> str:
    return _csrf_token(_request(context))


@pass_context
def kit_static(context: Context, path: str) -> str:
    return f"{_root(_request(context))}{STATIC_KIT_PATH}/{path.lstrip('/')}"


@pass_context
def app_url(context: Context, path: str = "/") -> str:
    return f"{_root(_request(context))}/{path.lstrip('/')}"


@pass_context
def portal_url(context: Context, path: str = "/") -> str:
    return f"{staff_auth(_request(context)).config.portal_url}/{path.lstrip('/')}"


def format_datetime(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Local time of the server, e.g. 2025-04-01 09:30."""
    if value is None:
        return ""
    return value.astimezone().strftime(fmt)


def create_environment(*folders: str | Path) -> Environment:
    """A Jinja2 environment: `folders` first (a service's own templates), then the kit's."""
    loaders = [FileSystemLoader(str(f)) for f in folders]
    env = Environment(
        loader=ChoiceLoader([*loaders, FileSystemLoader(str(KIT_TEMPLATES))]),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    globals_: dict[str, Any] = {
        "csrf_token": csrf_token,
        "kit_static": kit_static,
        "app_url": app_url,
        "portal_url": portal_url,
        "department_label": department_label,
    }
    env.globals.update(globals_)
    env.filters["datetime"] = format_datetime
    return env


def create_templates(*folders: str | Path) -> Jinja2Templates:
    """`Jinja2Templates` over `create_environment(*folders)`."""
    return Jinja2Templates(env=create_environment(*folders))


@functools.cache
def kit_templates() -> Jinja2Templates:
    """The kit's own templates (error pages, the portal)."""
    return create_templates(Path(__file__).parent / "portal" / "templates")
