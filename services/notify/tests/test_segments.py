"""Pure: children's stages by day, the settings dialog's parsing, and segment conditions."""

from __future__ import annotations

from datetime import date

import pytest

from cityhall.notify.dialog import parse_date, parse_month
from cityhall.notify.preferences import Preferences, month_index, stage, stage_months
from cityhall.notify.segments import EVERYONE, Group, Leaf, SegmentError, Where, describe, parse, to_json

TODAY = date(2026, 12, 5)


@pytest.mark.parametrize(
    ("born", "expected"),
    [
        ((2027, 3), "pregnant"),
        ((2026, 12), "age0"),
        ((2026, 1), "age0"),
        ((2025, 12), "age1_2"),
        ((2023, 12), "age3_5"),
        ((2020, 3), "elementary"),  # born April 2019–March 2020: first grade from April 2026
        ((2019, 4), "elementary"),
        ((2020, 4), "age3_5"),  # six years old, still in nursery's oldest class
        ((2021, 3), "age3_5"),
        ((2014, 3), "junior_high"),  # first year of 中学校
        ((2014, 4), "elementary"),  # sixth grade
        ((2011, 4), "junior_high"),  # third year of 中学校
        ((2011, 3), None),  # finished 中学校
    ],
)
def test_stage_follows_the_japanese_school_year(born: tuple[int, int], expected: str | None) -> None:
    assert stage(month_index(*born), TODAY) == expected


def test_the_stage_moves_on_by_itself_in_april() -> None:
    child = month_index(2021, 6)
    assert stage(child, date(2028, 3, 31)) == "age3_5"
    assert stage(child, date(2028, 4, 1)) == "elementary"


def test_stage_months_select_exactly_the_children_at_that_stage() -> None:
    months = stage_months("age1_2", TODAY)
    assert months == list(range(month_index(2023, 12) + 1, month_index(2025, 12) + 1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2023年5月", (2023, 5)), ("２０２３年５月", (2023, 5)), ("2023/5", (2023, 5)), ("令和5年5月", (2023, 5)),
     ("2023年13月", None), ("そのうち", None)],
)  # fmt: skip
def test_birth_months_are_read_in_the_forms_residents_write(
    text: str, expected: tuple[int, int] | None
) -> None:
    assert parse_month(text) == (month_index(*expected) if expected else None)


def test_dates_are_read_and_impossible_ones_refused() -> None:
    assert parse_date("2026年4月1日") == date(2026, 4, 1)
    assert parse_date("令和8年4月1日") == date(2026, 4, 1)
    assert parse_date("2026/2/30") is None


def test_preferences_round_trip_and_codes() -> None:
    prefs = Preferences(district="minami", children=(month_index(2024, 1),), language="vi", quiet=(22, 7))
    prefs = prefs.toggled("event")
    assert Preferences.from_json(prefs.to_json()) == prefs
    codes = prefs.codes()
    assert (codes.district, codes.language) == (4, 5)
    assert 4 not in codes.interests and len(codes.interests) == 7


def test_a_condition_parses_describes_and_becomes_sql() -> None:
    data = {
        "all": [
            {"district": ["honcho", "minami"]},
            {"any": [{"interest": ["kosodate"]}, {"stage": ["age0"]}]},
        ]
    }
    condition = parse(data)
    assert to_json(condition) == data
    assert (
        describe(condition)
        == "（地域（町丁目）が本町・南町 かつ （お知らせの種類が子育て または お子さまの年齢区分が0歳））"
    )
    where = Where(TODAY, start=2)
    sql = where.sql(condition)
    assert (
        sql == "(district = ANY($2::smallint[]) AND (interests && $3::smallint[] OR children && $4::int[]))"
    )
    assert where.params[:2] == [[1, 4], [2]] and len(where.params[2]) == 12
    assert Where(TODAY).sql(EVERYONE) == "true"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"district": ["atlantis"]}, "地域（町丁目）に「atlantis」はありません"),
        ({"colour": ["red"]}, "「colour」という属性はありません"),
        ({"any": []}, "「いずれかを満たす」に条件がありません"),
        ({"district": []}, "値をひとつ以上"),
        ({"moved_in_within_days": 0}, "転入からの日数"),
        ({"district": ["honcho"], "school": ["中央小学校区"]}, "属性ひとつで"),
        ({"all": [{"all": [{"all": [{"all": [{"district": ["honcho"]}]}]}]}]}, "入れ子が深すぎます"),
        ([1, 2], "属性ひとつで"),
    ],
)
def test_bad_conditions_are_refused_with_a_reason(data: object, reason: str) -> None:
    with pytest.raises(SegmentError, match=reason):
        parse(data)


def test_an_alert_selects_on_location_only() -> None:
    assert parse({"school": ["東小学校区"]}, location_only=True) == Leaf("school", ("東小学校区",))
    with pytest.raises(SegmentError, match="お知らせの種類"):
        parse({"all": [{"district": ["kita"]}, {"interest": ["bosai"]}]}, location_only=True)
    with pytest.raises(SegmentError, match="地域を指定"):
        parse({"all": []}, location_only=True)
    assert isinstance(parse({"all": []}), Group)


def test_a_school_district_selects_its_districts() -> None:
    where = Where(TODAY)
    assert where.sql(parse({"school": ["東小学校区"]})) == "district = ANY($1::smallint[])"
    assert where.params == [[3, 4]]  # 東町 and 南町: the 学区 is derived, never stored
