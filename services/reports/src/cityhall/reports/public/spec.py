"""The public side of 通報 (imports only the runtime): `/reports/map`, the town's map of the reports
staff have moderated, anonymised, and Open311 GeoReport v2 at `/open311/v2/`. A service of its
own, apart from the one that holds residents' personal data: it reads `events.reports` into its
own table of public fields only, and sends posted requests to reports on `events.open311`."""

from __future__ import annotations

from cityhall.runtime.service import ServiceSpec

service = ServiceSpec(
    name="reports-public",
    mount="",  # its paths (/reports/...) join the root, as the gateway's /callback does
    build="cityhall.reports.public.app:build",
    migrations=("cityhall.reports.public",),
    order=40,
)
