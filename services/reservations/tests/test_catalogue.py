"""The catalogue file and its calendar rules, with a fixed clock."""

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from cityhall.line.japanese import JST
from cityhall.reservations import catalogue
from cityhall.reservations.catalogue import CatalogueError, SlotRef

CATALOGUE = catalogue.load()
# A Monday morning, Japan time.
NOW = datetime(2026, 12, 7, 9, 30, tzinfo=JST)


def resource(code: str) -> catalogue.Resource:
    found = CATALOGUE.resource(code)
    assert found is not None
    return found


def test_the_seeded_catalogue_has_the_six_resources_in_known_categories() -> None:
    names = {r.name for r in CATALOGUE.resources}
    assert {
        "子育て相談",
        "法律相談",
        "一時保育",
        "乳幼児健診・予防接種",
        "離乳食教室",
        "公民館 会議室",
    } <= names
    assert CATALOGUE.departments() == {"kosodate", "shimin", "kenko", "kominkan", "environment"}


def test_opening_rules_cut_a_day_into_slots_and_closed_days_have_none() -> None:
    soudan = resource("kosodate_soudan")
    tuesday = CATALOGUE.slots_on(soudan, date(2026, 12, 8))
    assert len(tuesday) == 12  # 9-12 and 13-16, 30 minutes each
    assert tuesday[0] == datetime(2026, 12, 8, 9, 0, tzinfo=JST)
    assert datetime(2026, 12, 8, 12, 0, tzinfo=JST) not in tuesday  # lunch
    assert CATALOGUE.slots_on(soudan, date(2026, 12, 12)) == []  # Saturday
    assert CATALOGUE.slots_on(soudan, date(2026, 12, 29)) == []  # the year's end
    assert [s.hour for s in CATALOGUE.slots_on(resource("ichiji_hoiku"), date(2026, 12, 12))] == [9, 13]


def test_lead_time_horizon_and_the_past_decide_what_can_be_booked() -> None:
    soudan = resource("kosodate_soudan")
    refusal = CATALOGUE.refusal
    assert refusal(soudan, datetime(2026, 12, 7, 9, 0, tzinfo=JST), NOW) == "past"
    assert refusal(soudan, datetime(2026, 12, 8, 9, 0, tzinfo=JST), NOW) == "too_soon"  # under 24 hours
    assert refusal(soudan, datetime(2026, 12, 8, 10, 0, tzinfo=JST), NOW) is None
    assert refusal(soudan, datetime(2026, 12, 8, 10, 15, tzinfo=JST), NOW) == "no_slot"
    last = NOW.date() + timedelta(days=soudan.horizon_days)
    assert (
        refusal(soudan, datetime.combine(last, datetime.min.time(), JST).replace(hour=15, minute=30), NOW)
        is None
    )
    beyond = last + timedelta(days=1)
    while not CATALOGUE.slots_on(soudan, beyond):
        beyond += timedelta(days=1)
    assert refusal(soudan, CATALOGUE.slots_on(soudan, beyond)[0], NOW) == "too_far"
    days = CATALOGUE.bookable_days(soudan, NOW)
    assert days[0] == date(2026, 12, 8) and days[-1] <= last
    assert date(2026, 12, 12) not in days and date(2026, 12, 29) not in days


def test_cutoff_and_reminder_follow_the_resource() -> None:
    houritsu = resource("houritsu_soudan")
    start = datetime(2026, 12, 10, 13, 0, tzinfo=JST)
    assert CATALOGUE.changeable_until(houritsu, start) == datetime(2026, 12, 8, 13, 0, tzinfo=JST)
    assert CATALOGUE.reminder_at(houritsu, start) == datetime(2026, 12, 9, 18, 0, tzinfo=JST)


def test_questions_read_numbers_with_their_unit_and_full_width_digits() -> None:
    age = resource("rinyushoku").question("child_age")
    assert age is not None and age.eligible
    assert age.parse("７") == 7 and age.parse("7か月") == 7 and age.parse(" 10 ") == 10
    assert age.parse("七") is None and age.parse("-1") is None and age.parse("") is None
    assert age.within(5) and age.within(12) and not age.within(13)


def test_a_slot_is_named_by_its_resource_and_start() -> None:
    ref = SlotRef("kenshin", datetime(2026, 12, 9, 13, 30, tzinfo=JST))
    assert ref.stream == "slot-kenshin-202612091330"
    assert SlotRef.parse("kenshin", ref.stamp) == ref
    assert SlotRef.parse("kenshin", "202613011330") is None and SlotRef.parse("kenshin", "x") is None


def test_a_bad_catalogue_is_refused_with_where_and_why(tmp_path: Path) -> None:
    text = (Path(catalogue.__file__).parent / "catalogue.toml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('category = "facility"', 'category = "sports"'), encoding="utf-8")
    with pytest.raises(CatalogueError, match="unknown category sports"):
        catalogue.load(bad)
    bad.write_text(text.replace("slot_minutes = 60", "slot_minutes = 30"), encoding="utf-8")
    with pytest.raises(CatalogueError, match="slots on tue"):
        catalogue.load(bad)
    bad.write_text("categories = [", encoding="utf-8")
    with pytest.raises(CatalogueError, match="not TOML"):
        catalogue.load(bad)


ROOM_CSV = "date,start,seats,reason\n2026-12-09,09:00,3,\n2026-12-09,10:00,休止,館内の点検のため\n"


def test_a_slot_calendar_is_read_from_csv_with_a_bom_and_blank_lines() -> None:
    rows = catalogue.read_calendar(CATALOGUE, resource("kominkan_room"), "\ufeff" + ROOM_CSV + "\n")
    assert [(r.row, r.ref.stamp, r.seats, r.reason) for r in rows] == [
        (2, "202612090900", 3, ""),
        (3, "202612091000", None, "館内の点検のため"),
    ]


@pytest.mark.parametrize(
    ("text", "row", "why"),
    [
        ("day,start,seats\n2026-12-09,09:00,3\n", 1, "見出し"),
        ("date,start,seats\n", 0, "取り込む行がありません"),
        (ROOM_CSV + "2026-12-09,9時,3,\n", 4, "HH:MM"),
        (ROOM_CSV + "2026-12-07,09:00,3,\n", 4, "予約枠ではありません"),  # a Monday: closed
        (ROOM_CSV + "2026-12-09,09:30,3,\n", 4, "予約枠ではありません"),  # not a slot's start
        (ROOM_CSV + "2026-12-30,09:00,3,\n", 4, "予約枠ではありません"),  # the year's end
        (ROOM_CSV + "2026-12-09,09:00,4,\n", 4, "重複"),
        (ROOM_CSV + "2026-12-09,11:00,0,\n", 4, "1〜500"),
        (ROOM_CSV + "2026-12-09,11:00,501,\n", 4, "1〜500"),
        (ROOM_CSV + "2026-12-09,11:00\n", 4, "列の数"),
    ],
)
def test_a_bad_calendar_line_refuses_the_file_with_its_number_and_why(text: str, row: int, why: str) -> None:
    with pytest.raises(catalogue.CalendarImportError) as caught:
        catalogue.read_calendar(CATALOGUE, resource("kominkan_room"), text)
    assert caught.value.row == row and why in caught.value.reason
