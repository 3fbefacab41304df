"""The staff portal as the runtime sees it (imports only the runtime).

Besides itself it declares the generic `staff` role, and stand-ins (`placeholder=True`) for the
departments that have staff and demo logins but no service yet (roads, reservations): a service
built for one of them declares its own department and accounts, which replace these.
"""

from __future__ import annotations

from cityhall.runtime.declarations import DemoAccount, Department
from cityhall.runtime.service import ServiceSpec

service = ServiceSpec(
    name="staff-portal",
    mount="/staff",
    build="cityhall.web.portal.app:build",
    migrations=("cityhall.web", "cityhall.web.portal"),
    order=200,
    departments=(
        Department("roads", "道路管理課", placeholder=True),
        Department("reservations", "予約受付", placeholder=True),
        Department("staff", "職員"),
    ),
    demo_accounts=(
        DemoAccount("roads-clerk", "道路管理課 品川", ("roads",), placeholder=True),
        DemoAccount("resv-clerk", "予約受付係 目黒", ("reservations",), placeholder=True),
    ),
)
