"""The sample town the location picker shows: an offline map, its preset places, and a
rough reverse geocoder (the district a point lies in, from `cityhall.town`), as LINE's picker
adds an address.

The map is a plain SVG in the page (viewBox 0 0 MAP_WIDTH MAP_HEIGHT, north up); points
map linearly between it and the town's latitude/longitude bounds. No tile server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cityhall import town

TOWN_NAME = town.town().name
SOUTH, WEST, NORTH, EAST = town.town().bounds
MAP_WIDTH, MAP_HEIGHT = 600, 480


def to_lat_lng(x: float, y: float) -> tuple[float, float]:
    lat = NORTH - (NORTH - SOUTH) * y / MAP_HEIGHT
    lng = WEST + (EAST - WEST) * x / MAP_WIDTH
    return round(lat, 6), round(lng, 6)


def to_map(lat: float, lng: float) -> tuple[float, float]:
    return (lng - WEST) / (EAST - WEST) * MAP_WIDTH, (NORTH - lat) / (NORTH - SOUTH) * MAP_HEIGHT


@dataclass(frozen=True)
class Place:
    key: str
    title: str
    address: str
    x: float
    y: float
    icon: str
    """One kanji drawn in the marker (no emoji font is needed)."""

    def as_json(self) -> dict[str, Any]:
        lat, lng = to_lat_lng(self.x, self.y)
        return {
            "key": self.key,
            "title": self.title,
            "address": self.address,
            "latitude": lat,
            "longitude": lng,
            "x": self.x,
            "y": self.y,
            "icon": self.icon,
        }


PLACES = (
    Place("cityhall", "ポケット市役所", f"{TOWN_NAME}本町1-1-1", 300, 235, "役"),
    Place("station", "ポケット駅", f"{TOWN_NAME}北町2-3", 300, 95, "駅"),
    Place("park", "中央公園", f"{TOWN_NAME}東町1-5", 430, 260, "公"),
    Place("library", "市立図書館", f"{TOWN_NAME}西町1-8", 175, 250, "図"),
    Place("school", "第一小学校（指定避難所）", f"{TOWN_NAME}南町3-2", 200, 390, "学"),
    Place("hospital", "市民病院", f"{TOWN_NAME}北町4-1", 480, 110, "病"),
    Place("riverside", "河川敷グラウンド", f"{TOWN_NAME}西町5-12", 70, 140, "運"),
)


def address_of(lat: float, lng: float) -> str:
    """A plausible address for any point in town (district and 丁目), or the coordinates outside it."""
    found = town.district_of(town.Point(lat, lng))
    if found is None:
        return f"北緯{lat:.5f} 東経{lng:.5f}"
    x, y = to_map(lat, lng)
    dx, dy = x - MAP_WIDTH / 2, y - MAP_HEIGHT / 2
    chome = min(5, 1 + int((dx * dx + dy * dy) ** 0.5 // 60))
    return f"{TOWN_NAME}{found.name}{chome}丁目付近"


def town_json() -> dict[str, Any]:
    return {
        "name": TOWN_NAME,
        "bounds": {"north": NORTH, "south": SOUTH, "west": WEST, "east": EAST},
        "map": {"width": MAP_WIDTH, "height": MAP_HEIGHT},
        "places": [p.as_json() for p in PLACES],
    }
