"""The sample town the location picker shows: an offline map, its preset places, and a
rough reverse geocoder (which district a point lies in), as LINE's picker adds an address.

The map is a plain SVG in the page (viewBox 0 0 MAP_WIDTH MAP_HEIGHT, north up); points
map linearly between it and the town's latitude/longitude bounds. No tile server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TOWN_NAME = "ポケット市"
NORTH, SOUTH = 35.6700, 35.6500
WEST, EAST = 139.5200, 139.5500
MAP_WIDTH, MAP_HEIGHT = 600, 480


def to_lat_lng(x: float, y: float) -> tuple[float, float]:
    lat = NORTH - (NORTH - SOUTH) * y / MAP_HEIGHT
    lng = WEST + (EAST - WEST) * x / MAP_WIDTH
    return round(lat, 6), round(lng, 6)


def to_map(lat: float, lng: float) -> tuple[float, float]:
    return (lng - WEST) / (EAST - WEST) * MAP_WIDTH, (NORTH - lat) / (NORTH - SOUTH) * MAP_HEIGHT


def contains(lat: float, lng: float) -> bool:
    return SOUTH <= lat <= NORTH and WEST <= lng <= EAST


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


def district(x: float, y: float) -> str:
    """Which district a map point lies in: 本町 in the middle, the four others around it."""
    dx, dy = x - MAP_WIDTH / 2, y - MAP_HEIGHT / 2
    if abs(dx) < 110 and abs(dy) < 80:
        return "本町"
    if abs(dy) * MAP_WIDTH >= abs(dx) * MAP_HEIGHT:
        return "北町" if dy < 0 else "南町"
    return "西町" if dx < 0 else "東町"


def address_of(lat: float, lng: float) -> str:
    """A plausible address for any point in town (district and 丁目), or the coordinates outside it."""
    if not contains(lat, lng):
        return f"北緯{lat:.5f} 東経{lng:.5f}"
    x, y = to_map(lat, lng)
    dx, dy = x - MAP_WIDTH / 2, y - MAP_HEIGHT / 2
    chome = min(5, 1 + int((dx * dx + dy * dy) ** 0.5 // 60))
    return f"{TOWN_NAME}{district(x, y)}{chome}丁目付近"


def town_json() -> dict[str, Any]:
    return {
        "name": TOWN_NAME,
        "bounds": {"north": NORTH, "south": SOUTH, "west": WEST, "east": EAST},
        "map": {"width": MAP_WIDTH, "height": MAP_HEIGHT},
        "places": [p.as_json() for p in PLACES],
    }
