"""Open311 as this town speaks it, without I/O: codes, statuses, questions, keys, xml."""

from xml.etree import ElementTree as ET

import pytest

from cityhall.reports import open311
from cityhall.reports.categories import CATEGORIES


def test_every_category_has_its_own_code_and_statuses_map_to_open_or_closed() -> None:
    codes = [c.open311_code for c in CATEGORIES.values()]
    assert len(set(codes)) == len(codes)
    assert all(open311.by_code(code) is not None for code in codes) and open311.by_code("000") is None
    assert [open311.status(s) for s in ("open", "accepted", "in_progress")] == ["open"] * 3
    assert [open311.status(s) for s in ("resolved", "rejected", "duplicate")] == ["closed"] * 3


def test_answers_to_the_questions_are_checked() -> None:
    animal, light = CATEGORIES["animal"], CATEGORIES["streetlight"]
    assert open311.answers(animal, {"attribute[size]": "large"}) == ["【動物の大きさ】猫より大きい"]
    with pytest.raises(open311.Open311Error) as missing:
        open311.answers(animal, {})
    assert missing.value.code == 400
    with pytest.raises(open311.Open311Error):
        open311.answers(animal, {"attribute[size]": "huge"})
    assert open311.answers(light, {}) == []
    assert open311.answers(light, {"attribute[pole]": "A-12"}) == [
        "【街灯の柱の番号（柱に貼ってある札の番号）】A-12"
    ]


def test_keys_are_random_and_kept_as_hashes() -> None:
    one, two = open311.new_key(), open311.new_key()
    assert one != two and one.startswith("o311_")
    assert open311.key_hash(one) == open311.key_hash(one) != open311.key_hash(two)
    assert one not in open311.key_hash(one)


def test_xml_nests_as_the_spec_shows() -> None:
    root = ET.fromstring(open311.xml("services", "service", open311.services()))
    first = root.find("service")
    assert first is not None and first.findtext("metadata") in ("true", "false")
    definition = ET.fromstring(open311.xml_definition(open311.definition(CATEGORIES["animal"])))
    assert [v.findtext("key") for v in definition.findall("attributes/attribute/values/value")] == [
        "small",
        "large",
    ]
