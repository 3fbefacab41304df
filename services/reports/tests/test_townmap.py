"""The town's SVG map: districts from the GeoJSON, and tiles only when a tile URL is given."""

import pytest

from cityhall.reports import townmap


def test_the_outline_and_the_districts_are_drawn_from_the_geojson() -> None:
    shapes = townmap.shapes()["shapes"]
    assert [s["kind"] for s in shapes].count("boundary") == 1
    assert {s["name"] for s in shapes if s["kind"] == "district"} == {"本町", "北町", "南町", "東町", "西町"}
    boundary = next(s for s in shapes if s["kind"] == "boundary")
    assert set(boundary["points"].split()) == {"600.0,0.0", "0.0,0.0", "0.0,480.0", "600.0,480.0"}


def test_tiles_cover_the_town_and_name_their_origin() -> None:
    tiles = townmap.tiles("https://tiles.example.jp/{z}/{x}/{y}.png")
    assert tiles and all(t["href"].startswith("https://tiles.example.jp/15/") for t in tiles)
    assert min(t["x"] for t in tiles) <= 0 and max(t["x"] + t["width"] for t in tiles) >= townmap.WIDTH
    assert min(t["y"] for t in tiles) <= 0 and max(t["y"] + t["height"] for t in tiles) >= townmap.HEIGHT
    assert townmap.tile_origin("https://tiles.example.jp/{z}/{x}/{y}.png") == "https://tiles.example.jp"
    with pytest.raises(ValueError):
        townmap.tile_origin("javascript:alert(1)")


def test_the_small_map_is_a_png_with_the_pin_where_the_point_is() -> None:
    import io

    from PIL import Image

    from cityhall.town import Point

    point = Point(35.6604, 139.535)
    with Image.open(io.BytesIO(townmap.png(point))) as image:
        assert image.format == "PNG" and image.size == (townmap.PNG_WIDTH, townmap.PNG_HEIGHT)
        x, y = townmap.to_svg(point.latitude, point.longitude)
        assert image.getpixel((round(x), round(y))) == (232, 119, 46)
        assert image.getpixel((5, 5)) != (232, 119, 46)
    assert townmap.static_map_path(35.66, 139.535) == "/reports/static-map.png?lat=35.660000&lng=139.535000"
