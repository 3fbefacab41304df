"""The registry of staff dashboards the portal links to.

A service declares its dashboard under the entry-point group `cityhall.dashboards`, pointing
at a `Dashboard` in a module that imports nothing heavy (so the portal never imports the
service itself), e.g. in services/certificates/pyproject.toml:

    [project.entry-points."cityhall.dashboards"]
    certificates = "cityhall.certificates.dashboard:dashboard"

    # cityhall/certificates/dashboard.py
    from cityhall.web.dashboards import Dashboard
    dashboard = Dashboard(key="certificates", title="証明書の交付", path="/staff/certificates/",
                          roles=("certificates",), description="住民票の写しなどの申請の確認・交付・発送")

A portal deployed apart from the services (distributed mode) can also be told about
dashboards with `CITYHALL_DASHBOARDS`, a JSON list of objects with the same fields.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points

from cityhall.web.auth import StaffUser
from cityhall.web.config import WebEnv

log = logging.getLogger("cityhall.web.dashboards")

GROUP = "cityhall.dashboards"


@dataclass(frozen=True)
class Dashboard:
    key: str
    title: str
    """Japanese title shown on the portal."""
    path: str
    """Absolute path of the dashboard, e.g. "/staff/certificates/"."""
    roles: tuple[str, ...]
    """Any of these roles opens it."""
    description: str = ""
    order: int = 100

    def allows(self, user: StaffUser) -> bool:
        return user.has_role(*self.roles)


def _from_mapping(raw: Mapping[str, object]) -> Dashboard:
    roles = raw.get("roles") or raw.get("role")
    if isinstance(roles, str):
        roles = (roles,)
    if not isinstance(roles, list | tuple) or not roles:
        raise ValueError(f"dashboard {raw.get('key')!r} names no roles")
    return Dashboard(
        key=str(raw["key"]),
        title=str(raw["title"]),
        path=str(raw["path"]),
        roles=tuple(str(r) for r in roles),
        description=str(raw.get("description", "")),
        order=int(str(raw.get("order", 100))),
    )


def discover_dashboards(env: Mapping[str, str] | None = None) -> list[Dashboard]:
    """Dashboards from installed entry points and `CITYHALL_DASHBOARDS`, by order then title."""
    configured = WebEnv.read(env).dashboards or []
    found: dict[str, Dashboard] = {}
    for ep in entry_points(group=GROUP):
        try:
            value = ep.load()
        except Exception:
            log.exception("dashboard entry point %s failed to load; skipped", ep.name)
            continue
        for item in value if isinstance(value, list | tuple) else [value]:
            if isinstance(item, Dashboard):
                found[item.key] = item
            elif isinstance(item, Mapping):
                found[str(item["key"])] = _from_mapping(item)
            else:
                log.error("dashboard entry point %s is not a Dashboard; skipped", ep.name)
    for raw in configured:
        dashboard = _from_mapping(raw)
        found[dashboard.key] = dashboard
    return sorted(found.values(), key=lambda d: (d.order, d.title))


def dashboards_for(user: StaffUser, dashboards: Iterable[Dashboard]) -> list[Dashboard]:
    """The dashboards this person may open."""
    return [d for d in dashboards if d.allows(user)]


def departments_without_dashboard(user: StaffUser, dashboards: Iterable[Dashboard]) -> list[str]:
    """The person's departments with no dashboard they may open (its service is not built or
    not deployed yet), so the portal can say so instead of offering an empty choice. The
    generic `staff` role is no department of its own."""
    opened = [d for d in dashboards if d.allows(user)]
    return [
        department
        for department in user.departments
        if department != "staff"
        and not any(department in d.roles or f"{department}-admin" in d.roles for d in opened)
    ]
