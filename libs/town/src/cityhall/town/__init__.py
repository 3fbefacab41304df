"""The sample town, ポケット市: its boundary and districts, each with its 学区 (package data
`town.geojson`, the one place the town's geography is written) and the helpers every service
measures with.

Distances are in metres on a local flat projection of the town (an equirectangular projection at
the town's latitude): a town a few kilometres wide is off by far less than a GPS fix.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any, NamedTuple

from shapely.geometry import Point as _Point
from shapely.geometry import Polygon, shape
from shapely.prepared import PreparedGeometry, prep

EARTH_RADIUS_M = 6_371_008.8


class Point(NamedTuple):
    """A point as LINE's location message gives it (degrees, WGS 84)."""

    latitude: float
    longitude: float


@dataclass(frozen=True)
class District:
    key: str
    """Stable code (`honcho`, `kita`, …): what events, routing tables and settings store."""
    name: str
    """Its Japanese name (本町, 北町, …)."""
    polygon: Polygon
    school: str = ""
    """The 学区 (elementary school district) it belongs to."""

    def __contains__(self, point: Point) -> bool:
        return bool(self.polygon.covers(_Point(point.longitude, point.latitude)))


@dataclass(frozen=True)
class Town:
    name: str
    boundary: Polygon
    districts: tuple[District, ...]
    document: dict[str, Any]
    _prepared: PreparedGeometry

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(south, west, north, east) in degrees."""
        west, south, east, north = self.boundary.bounds
        return south, west, north, east


@cache
def town() -> Town:
    document = json.loads(files(__package__).joinpath("town.geojson").read_text(encoding="utf-8"))
    boundary: Polygon | None = None
    name = ""
    districts: list[District] = []
    for feature in document["features"]:
        props, geometry = feature["properties"], shape(feature["geometry"])
        if not isinstance(geometry, Polygon):
            raise ValueError(f"town.geojson: {props.get('key')} is not a polygon")
        if props["kind"] == "boundary":
            boundary, name = geometry, props["name"]
        elif props["kind"] == "district":
            districts.append(District(props["key"], props["name"], geometry, props.get("school", "")))
    if boundary is None:
        raise ValueError("town.geojson has no boundary feature")
    return Town(name, boundary, tuple(districts), document, prep(boundary))


def contains(point: Point) -> bool:
    """Whether the point lies in the town (on its boundary counts)."""
    return bool(town()._prepared.covers(_Point(point.longitude, point.latitude)))


def district_of(point: Point) -> District | None:
    """The district the point lies in; None outside the town."""
    if not contains(point):
        return None
    return next((d for d in town().districts if point in d), None)


def district(key: str) -> District | None:
    return next((d for d in town().districts if d.key == key), None)


def districts() -> tuple[District, ...]:
    return town().districts


def geojson() -> dict[str, Any]:
    """The boundary and the districts, as drawn by maps (a fresh copy: callers may annotate it)."""
    copied: dict[str, Any] = json.loads(json.dumps(town().document))
    return copied


@cache
def _origin() -> Point:
    centre = town().boundary.centroid
    return Point(centre.y, centre.x)


def to_metres(point: Point) -> tuple[float, float]:
    """(east, north) metres from the town's centre."""
    origin = _origin()
    x = (
        math.radians(point.longitude - origin.longitude)
        * EARTH_RADIUS_M
        * math.cos(math.radians(origin.latitude))
    )
    y = math.radians(point.latitude - origin.latitude) * EARTH_RADIUS_M
    return x, y


def distance_m(a: Point, b: Point) -> float:
    """Metres between two points of the town."""
    return float(_Point(to_metres(a)).distance(_Point(to_metres(b))))


def around(centre: Point, radius_m: float) -> tuple[Point, Point]:
    """The (south-west, north-east) corners of the square that holds the circle: a cheap first
    filter (an index range) before `distance_m` decides."""
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    dlng = dlat / math.cos(math.radians(centre.latitude))
    return (
        Point(centre.latitude - dlat, centre.longitude - dlng),
        Point(centre.latitude + dlat, centre.longitude + dlng),
    )
