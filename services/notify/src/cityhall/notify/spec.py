"""The notify service as the runtime and the other services see it (imports only the runtime)."""

from __future__ import annotations

from cityhall.runtime.declarations import DemoAccount, Department, Tile
from cityhall.runtime.service import ServiceSpec

service = ServiceSpec(
    name="notify",
    mount="/staff/notify",
    build="cityhall.notify.app:build",
    migrations=("cityhall.notify",),
    order=30,
    domains=("notify",),
    tiles=(
        Tile(4, "配信設定", "お知らせの受け取り", "信", "#7a5ac8", "notify", "settings"),
        Tile(7, "使い方", "このアカウントの使い方", "使", "#3d7a9e", "notify", "howto"),
    ),
    departments=(Department("notify", "広報・お知らせ"),),
    demo_accounts=(DemoAccount("notify-clerk", "広報係 世田谷", ("notify",)),),
)
