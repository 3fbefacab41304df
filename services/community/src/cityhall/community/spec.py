"""The community service (電子回覧板) as the runtime and the other services see it (imports only the runtime).

No tile (the menu is full): residents reach it by typing 回覧板 (the gateway's guide answers with
its button). Its staff pages are at /staff/community/ (協働推進課); its officers' pages, at
/community/, are a second app of the same service (`Running.mounts`) with sign-ins of their own.
"""

from cityhall.runtime.declarations import Dashboard, DemoAccount, Department
from cityhall.runtime.service import ServiceSpec

MOUNT = "/staff/community"
OFFICERS_MOUNT = "/community"

service = ServiceSpec(
    name="community",
    mount=MOUNT,
    build="cityhall.community.app:build",
    migrations=("cityhall.web", "cityhall.community"),
    order=50,
    domains=("community",),
    departments=(Department("kyodo", "協働推進課"),),
    demo_accounts=(
        DemoAccount("kyodo-clerk", "協働推進課 目黒", ("kyodo",)),
        DemoAccount("kyodo-admin", "協働推進課長 渋谷", ("kyodo", "kyodo-admin")),
    ),
    dashboards=(
        Dashboard("community", "電子回覧板", f"{MOUNT}/", ("kyodo",), "町内会・自治会と役員の登録", 60),
        Dashboard(
            "community-audit",
            "電子回覧板の閲覧記録",
            f"{MOUNT}/audit",
            ("kyodo-admin",),
            "職員と役員の閲覧・操作の記録",
            61,
        ),
    ),
)
