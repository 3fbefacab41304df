"""The reservations service (予約) as the runtime and the other services see it (imports only the runtime)."""

from __future__ import annotations

from cityhall.runtime.declarations import Dashboard, DemoAccount, Department, Tile
from cityhall.runtime.service import ServiceSpec

MOUNT = "/staff/reservations"
FRONT_DESK = "reservations"
"""予約受付: the desk that books for phone callers and sees every resource's calendar."""
DEPARTMENTS = (
    Department(FRONT_DESK, "予約受付"),
    Department("kosodate", "子育て支援課"),
    Department("kenko", "健康推進課"),
    Department("shimin", "市民相談課"),
    Department("kominkan", "中央公民館"),
    Department("environment", "環境課", placeholder=True),
)
"""The front desk and the departments whose resources residents book (each resource in the
catalogue names one; its clerks see that resource's calendar). 環境課 (`environment`), whose
clerks work the bulky-waste pickups, is reports' department: declared here as a stand-in for a
run without reports."""
ROLES = tuple(d.role for d in DEPARTMENTS)

service = ServiceSpec(
    name="reservations",
    mount=MOUNT,
    build="cityhall.reservations.app:build",
    migrations=("cityhall.web", "cityhall.reservations"),
    order=50,
    domains=("reservations",),
    tiles=(Tile(1, "予約", "窓口・健診・施設", "予", "#14a38b", "reservations"),),
    departments=DEPARTMENTS,
    demo_accounts=(
        DemoAccount("resv-clerk", "予約受付係 目黒", (FRONT_DESK,)),
        DemoAccount("kosodate-clerk", "子育て支援課 青木", ("kosodate",)),
        DemoAccount("kenko-clerk", "健康推進課 森", ("kenko",)),
        DemoAccount("shimin-clerk", "市民相談課 田村", ("shimin",)),
        DemoAccount("kominkan-clerk", "中央公民館 小川", ("kominkan",)),
        DemoAccount("gomi-clerk", "環境課 粗大ごみ係 松本", ("environment",)),
    ),
    dashboards=(
        Dashboard(
            key="reservations",
            title="予約",
            path=f"{MOUNT}/",
            roles=ROLES,
            description="相談・保育・健診・教室・施設・粗大ごみ収集の予約カレンダーと参加者の管理",
            order=30,
        ),
    ),
)
