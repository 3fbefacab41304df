"""The notify service as the runtime and the other services see it (imports only the runtime)."""

from __future__ import annotations

from cityhall.runtime.declarations import Dashboard, DemoAccount, Department, Tile
from cityhall.runtime.service import ServiceSpec

service = ServiceSpec(
    name="notify",
    mount="/staff/notices",
    moved_from=("/staff/notify",),  # the dashboard's first address: old links still work
    build="cityhall.notify.app:build",
    migrations=("cityhall.web", "cityhall.notify"),
    order=30,
    domains=("notify",),
    tiles=(
        Tile(4, "配信設定", "お知らせの受け取り", "信", "#7a5ac8", "notify", "settings"),
        Tile(7, "使い方", "このアカウントの使い方", "使", "#3d7a9e", "notify", "howto"),
    ),
    disaster_tiles=(
        Tile(1, "安否確認", "無事・支援が必要をお知らせ", "安", "#2f7d4f", "notify", "safety_now"),
        Tile(2, "災害情報", "市が発表した緊急情報", "報", "#c0392b", "notify", "alerts"),
    ),
    departments=(
        Department("notify", "広報・お知らせ"),
        Department("notify-author", "広報・お知らせ 作成"),
        Department("notify-approver", "広報・お知らせ 承認"),
        Department("bousai", "危機管理課"),
    ),
    demo_accounts=(
        DemoAccount("notify-clerk", "広報係 世田谷", ("notify",)),
        DemoAccount("notify-author", "広報係 目黒", ("notify-author",)),
        DemoAccount("notify-approver", "広報課長 大田", ("notify-approver",)),
        DemoAccount("notify-admin", "広報課 管理者 品川", ("notify-admin",)),
        DemoAccount("bousai", "危機管理課 防災係 港", ("bousai",)),
    ),
    dashboards=(
        Dashboard(
            key="notify",
            title="お知らせ配信",
            path="/staff/notices/",
            roles=("notify", "notify-author", "notify-approver", "notify-admin", "bousai"),
            description="お知らせ・緊急情報の作成、承認、送信の状況",
        ),
    ),
)
