"""The voice service (市民の声) as the runtime and the other services see it (imports only the runtime)."""

from cityhall.runtime.declarations import Dashboard, DemoAccount, Department, Tile
from cityhall.runtime.service import ServiceSpec

MOUNT = "/staff/voice"

service = ServiceSpec(
    name="voice",
    mount=MOUNT,
    build="cityhall.voice.app:build",
    migrations=("cityhall.web", "cityhall.voice"),
    order=50,
    domains=("voice",),
    tiles=(Tile(6, "市民の声", "ご意見・ご提案", "声", "#c2417a", "voice"),),
    departments=(Department("voice", "広聴広報課"),),
    demo_accounts=(DemoAccount("voice-clerk", "広聴広報課 杉並", ("voice",)),),
    dashboards=(
        Dashboard("voice", "市民の声", f"{MOUNT}/", ("voice",), "市民から寄せられたご意見の確認と回答", 20),
    ),
)
