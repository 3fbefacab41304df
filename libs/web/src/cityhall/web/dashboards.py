"""The staff dashboards the portal links to.

A service declares its dashboards in its `ServiceSpec` (`dashboards=(Dashboard(...), ...)`, see
`cityhall.runtime.registry`), so the portal lists them without importing the service:

    Dashboard(key="certificates", title="証明書の交付", path="/staff/certificates/",
              roles=("certificates",), description="住民票の写しなどの申請の確認・交付・発送")

A portal deployed apart from the services reads the specs of the packages installed beside it
(see deploy/README.md); it can also be told about dashboards with `CITYHALL_DASHBOARDS`, a JSON
list of objects with the same fields.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cityhall.runtime import registry
from cityhall.runtime.declarations import Dashboard
from cityhall.web.auth import StaffUser
from cityhall.web.config import WebEnv

__all__ = ["Dashboard", "dashboards_for", "departments_without_dashboard", "discover_dashboards"]


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
    """Dashboards the installed services declare and `CITYHALL_DASHBOARDS`, by order then title."""
    found = {d.key: d for d in registry.dashboards()}
    for raw in WebEnv.read(env).dashboards or []:
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
