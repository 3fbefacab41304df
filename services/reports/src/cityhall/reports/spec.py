"""The reports service (通報) as the runtime and the other services see it (imports only the runtime).

Its departments are the ones its categories route to (`categories.DEPARTMENTS`, which also
holds their phone numbers); this module repeats only their roles and names, since it may not
import the service.
"""

from __future__ import annotations

from cityhall.runtime.declarations import Dashboard, DemoAccount, Department, Tile
from cityhall.runtime.service import ServiceSpec

MOUNT = "/staff/reports"
ROLES = ("roads", "parks", "environment")

service = ServiceSpec(
    name="reports",
    mount=MOUNT,
    build="cityhall.reports.app:build",
    migrations=("cityhall.web", "cityhall.reports"),
    order=50,
    domains=("reports",),
    tiles=(Tile(2, "通報", "道路・公園の不具合", "報", "#e8772e", "reports"),),
    departments=(
        Department("roads", "道路管理課"),
        Department("parks", "公園緑地課"),
        Department("environment", "環境課"),
    ),
    demo_accounts=(
        DemoAccount("roads-clerk", "道路管理課 品川", ("roads",)),
        DemoAccount("parks-clerk", "公園緑地課 世田谷", ("parks",)),
        DemoAccount("env-clerk", "環境課 練馬", ("environment",)),
    ),
    dashboards=(
        Dashboard(
            key="reports",
            title="通報",
            path=f"{MOUNT}/",
            roles=ROLES,
            description="道路・公園などの不具合の通報の受付と対応",
            order=30,
        ),
    ),
)
