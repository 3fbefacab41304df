"""The portal's link to this service's dashboard (imported by the portal, so it imports nothing heavy)."""

from __future__ import annotations

from cityhall.web.dashboards import Dashboard

dashboard = Dashboard(
    key="certificates",
    title="証明書の交付",
    path="/staff/certificates/",
    roles=("certificates",),
    description="住民票の写しなどの申請の本人確認・発行・発送",
    order=10,
)
audit = Dashboard(
    key="certificates-audit",
    title="証明書の閲覧記録",
    path="/staff/certificates/audit",
    roles=("certificates-admin",),
    description="個人情報・本人確認書類の閲覧と判定の記録",
    order=11,
)
dashboards = [dashboard, audit]
