"""The town's geography: the boundary, the districts and distances."""

import pytest

from cityhall.town import Point, around, contains, distance_m, district, district_of, districts, geojson

CITY_HALL = Point(35.6604, 139.535)


def test_a_point_in_town_is_in_exactly_one_district() -> None:
    assert contains(CITY_HALL)
    found = district_of(CITY_HALL)
    assert found is not None and found.name == "本町"
    assert sum(CITY_HALL in d for d in districts()) == 1
    north = Point(35.668, 139.535)
    assert (d := district_of(north)) is not None and d.key == "kita"
    assert (d := district_of(Point(35.66, 139.522))) is not None and d.name == "西町"


def test_a_point_outside_the_boundary_is_in_no_district() -> None:
    tokyo_station = Point(35.6812, 139.7671)
    assert not contains(tokyo_station)
    assert district_of(tokyo_station) is None


def test_the_districts_cover_the_town_without_overlap() -> None:
    union_area = sum(d.polygon.area for d in districts())
    boundary = next(f for f in geojson()["features"] if f["properties"]["kind"] == "boundary")
    assert boundary["properties"]["name"] == "ポケット市"
    from shapely.geometry import shape

    assert union_area == pytest.approx(shape(boundary["geometry"]).area)
    assert {d.name for d in districts()} == {"本町", "北町", "南町", "東町", "西町"}
    assert district("kita") is not None and district("nowhere") is None


def test_distances_are_in_metres() -> None:
    # 0.001° of latitude is about 111 m anywhere.
    assert distance_m(CITY_HALL, Point(CITY_HALL.latitude + 0.001, CITY_HALL.longitude)) == pytest.approx(
        111.2, abs=0.5
    )
    assert distance_m(CITY_HALL, CITY_HALL) == 0
    south_west, north_east = around(CITY_HALL, 50)
    assert distance_m(CITY_HALL, Point(north_east.latitude, CITY_HALL.longitude)) == pytest.approx(
        50, abs=0.5
    )
    assert distance_m(CITY_HALL, Point(CITY_HALL.latitude, south_west.longitude)) == pytest.approx(
        50, abs=0.5
    )
