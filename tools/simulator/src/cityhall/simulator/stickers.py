"""The stickers a resident can send from the simulator: a few of LINE's default stickers.

packageId and stickerId come from LINE's sticker list
(https://developers.line.biz/en/docs/messaging-api/sticker-list/); both packages are static
stickers. The page never fetches their pictures (it works offline): each shows an emoji
stand-in, which is the simulator's own and not the sticker's real picture.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PACKAGES = {"446": "ムーン スペシャル", "789": "サリー スペシャル"}


@dataclass(frozen=True)
class Sticker:
    package_id: str
    sticker_id: str
    stand_in: str

    def as_json(self) -> dict[str, Any]:
        return {
            "packageId": self.package_id,
            "stickerId": self.sticker_id,
            "standIn": self.stand_in,
            "label": f"{PACKAGES[self.package_id]} {self.sticker_id}",
        }


STICKERS = (
    Sticker("446", "1988", "😊"),
    Sticker("446", "1989", "😄"),
    Sticker("446", "1990", "😆"),
    Sticker("446", "1991", "😢"),
    Sticker("446", "1992", "😳"),
    Sticker("446", "1993", "🙇"),
    Sticker("789", "10855", "👋"),
    Sticker("789", "10856", "😍"),
    Sticker("789", "10857", "😴"),
    Sticker("789", "10858", "👍"),
)
_BY_ID = {(s.package_id, s.sticker_id): s for s in STICKERS}


def sticker(package_id: str, sticker_id: str) -> Sticker | None:
    return _BY_ID.get((package_id, sticker_id))


def stickers_json() -> dict[str, Any]:
    return {"stickers": [s.as_json() for s in STICKERS]}
