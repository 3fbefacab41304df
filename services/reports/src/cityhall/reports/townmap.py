"""The town drawn as an SVG, for the staff queue, a report's page and the public map: the
boundary and the districts from `cityhall.town`'s GeoJSON (so it works offline), and, only when
a tile URL is configured, the raster tiles under them."""

from __future__ import annotations

import io
import math
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from PIL import Image, ImageDraw

from cityhall import town

WIDTH, HEIGHT = 600, 480
TILE_ZOOM = 15


def to_svg(lat: float, lng: float) -> tuple[float, float]:
    south, west, north, east = town.town().bounds
    return (lng - west) / (east - west) * WIDTH, (north - lat) / (north - south) * HEIGHT


def _centre(ring: list[list[float]]) -> tuple[float, float]:
    lats, lngs = [p[1] for p in ring[:-1]], [p[0] for p in ring[:-1]]
    return sum(lats) / len(lats), sum(lngs) / len(lngs)


@cache
def shapes() -> dict[str, Any]:
    """The town's boundary and districts as SVG polygons with their labels' positions."""
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "shapes": [
            {
                "kind": f["properties"]["kind"],
                "name": f["properties"]["name"],
                "points": " ".join(
                    "{:.1f},{:.1f}".format(*to_svg(lat, lng)) for lng, lat in f["geometry"]["coordinates"][0]
                ),
                "label": to_svg(*_centre(f["geometry"]["coordinates"][0])),
            }
            for f in town.geojson()["features"]
        ],
    }


def _tile_corner(x: int, y: int, zoom: int) -> tuple[float, float]:
    """The north-west corner of a Web Mercator tile, in degrees."""
    n = 2**zoom
    lng = x / n * 360.0 - 180.0
    lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / n))))
    return lat, lng


def _tile_of(lat: float, lng: float, zoom: int) -> tuple[int, int]:
    n = 2**zoom
    x = int((lng + 180.0) / 360.0 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def tiles(url_template: str, zoom: int = TILE_ZOOM) -> list[dict[str, Any]]:
    """The tiles that cover the town (`{z}/{x}/{y}` in `url_template`) placed on the SVG. Over a
    town a few kilometres wide the projection is linear to well under a pixel."""
    south, west, north, east = town.town().bounds
    x0, y0 = _tile_of(north, west, zoom)
    x1, y1 = _tile_of(south, east, zoom)
    placed = []
    for x in range(x0, x1 + 1):
        for y in range(y0, y1 + 1):
            left, top = to_svg(*_tile_corner(x, y, zoom))
            right, bottom = to_svg(*_tile_corner(x + 1, y + 1, zoom))
            placed.append(
                {
                    "href": url_template.format(z=zoom, x=x, y=y),
                    "x": left,
                    "y": top,
                    "width": right - left,
                    "height": bottom - top,
                }
            )
    return placed


def tile_origin(url_template: str) -> str:
    """The origin the tiles come from (for the page's Content-Security-Policy)."""
    parts = urlsplit(url_template)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not a tile URL: {url_template!r}")
    return f"{parts.scheme}://{parts.netloc}"


PNG_WIDTH, PNG_HEIGHT = 600, 480
"""The small map in LINE's summary (a Flex hero image, 5:4): the town and one pin."""


def static_map_path(lat: float, lng: float) -> str:
    """Where reports-public draws the small map of a point (LINE fetches it)."""
    return f"/reports/static-map.png?lat={lat:.6f}&lng={lng:.6f}"


def png(point: town.Point) -> bytes:
    """The town's districts and outline with a pin at `point`, as a PNG (no text: no font needed)."""
    image = Image.new("RGB", (PNG_WIDTH, PNG_HEIGHT), (246, 248, 245))
    draw = ImageDraw.Draw(image)
    scale = PNG_WIDTH / WIDTH
    for shape in shapes()["shapes"]:
        corners = [tuple(float(v) * scale for v in pair.split(",")) for pair in shape["points"].split()]
        if shape["kind"] == "district":
            draw.polygon(corners, fill=(238, 243, 234), outline=(154, 169, 184))
        else:
            draw.line([*corners, corners[0]], fill=(79, 99, 121), width=6)
    x, y = (v * scale for v in to_svg(point.latitude, point.longitude))
    draw.ellipse((x - 16, y - 16, x + 16, y + 16), fill=(232, 119, 46), outline=(255, 255, 255), width=5)
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()
