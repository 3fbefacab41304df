"""The certificates service as the runtime and the other services see it.

Read by the gateway (domain, menu tile) and the staff portal (department, demo accounts,
dashboards) without importing the service: this module imports only the runtime.
"""

from __future__ import annotations

from cityhall.runtime.declarations import Dashboard, DemoAccount, Department, Tile
from cityhall.runtime.service import ServiceSpec

MOUNT = "/staff/certificates"

service = ServiceSpec(
    name="certificates",
    mount=MOUNT,
    build="cityhall.certificates.app:build",
    migrations=("cityhall.web", "cityhall.certificates"),
    order=50,
    domains=("certificates",),
    tiles=(Tile(0, "証明書", "住民票・印鑑登録証明", "証", "#1e6fd9", "certificates"),),
    departments=(Department("certificates", "市民課 証明書係"),),
    demo_accounts=(
        DemoAccount("cert-clerk", "証明書係 市川", ("certificates",)),
        DemoAccount("cert-admin", "証明書係長 渋谷", ("certificates", "certificates-admin")),
    ),
    dashboards=(
        Dashboard(
            key="certificates",
            title="証明書の交付",
            path=f"{MOUNT}/",
            roles=("certificates",),
            description="住民票の写しなどの申請の本人確認・発行・発送",
            order=10,
        ),
        Dashboard(
            key="certificates-audit",
            title="証明書の閲覧記録",
            path=f"{MOUNT}/audit",
            roles=("certificates-admin",),
            description="個人情報・本人確認書類の閲覧と判定の記録",
            order=11,
        ),
    ),
)
