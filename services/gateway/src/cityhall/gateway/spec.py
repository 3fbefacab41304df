"""The gateway as the runtime sees it (imports only the runtime).

Its tiles: the guide's, which the gateway answers itself, and stand-ins (`placeholder=True`) for
domains whose services are not built yet; the gateway tells residents those are being prepared.
A service that declares a tile at a stand-in's position replaces it.
"""

from __future__ import annotations

from cityhall.runtime.declarations import Tile
from cityhall.runtime.service import ServiceSpec

service = ServiceSpec(
    name="gateway",
    mount="",
    build="cityhall.gateway.app:build",
    migrations=("cityhall.gateway",),
    order=20,
    tiles=(
        Tile(1, "予約", "窓口・健診・施設", "予", "#14a38b", "reservations", placeholder=True),
        Tile(2, "通報", "道路・公園の不具合", "報", "#e8772e", "reports", placeholder=True),
        Tile(3, "防災/避難所", "避難所・防災情報", "災", "#d64545", "guide", "shelters"),
        Tile(5, "よくある質問", "手続きのご案内", "？", "#4f6379", "guide", "faq"),
    ),
    # The disaster menu's (disaster mode): 避難所 is the shelter page until a guide service
    # declares its shelter finder at position 0.
    disaster_tiles=(
        Tile(0, "避難所", "避難所の一覧と地図", "避", "#d64545", "guide", "shelters", placeholder=True),
        Tile(3, "問い合わせ", "災害の電話窓口", "電", "#4f6379", "guide", "disaster_contact"),
    ),
)
