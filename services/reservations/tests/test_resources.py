"""A resource's settings, pure: the decider of its stream (seeded once, edited by its department,
never taking away a slot or seats residents hold) and the dashboard's form."""

from datetime import datetime, time
from typing import Any

import pytest

from cityhall.events.decider import DomainError
from cityhall.line.japanese import JST
from cityhall.reservations import catalogue, resources
from cityhall.reservations.events import (
    EditResource,
    Occupied,
    ResourceEdited,
    ResourceSeeded,
    SeedResource,
)


def _room() -> catalogue.Resource:
    found = catalogue.load().resource("kominkan_room")
    assert found is not None
    return found


ROOM = _room()
SUNDAY_5PM = datetime(2026, 12, 13, 17, 0, tzinfo=JST)


def seeded() -> resources.Settings:
    return resources.resource_decider.fold(
        resources.decide(SeedResource(settings=settings()), resources.Settings())
    )


def settings(**changes: Any) -> dict[str, Any]:
    return ROOM.model_copy(update=changes).model_dump(mode="json")


def edit(state: resources.Settings, *occupied: Occupied, **changes: Any) -> list[Any]:
    return resources.decide(
        EditResource(settings=settings(**changes), by="kominkan-clerk", occupied=list(occupied)), state
    )


def form(**changes: str) -> dict[str, str]:
    values = {
        "name": ROOM.name, "place": ROOM.place, "phone": ROOM.phone, "bring": "\n".join(ROOM.bring),
        "opening": resources.opening_text(ROOM), "q_people_min": "1", "q_people_max": "30",
        **{k: str(getattr(ROOM, k)) for k in resources.NUMBERS},
    }  # fmt: skip
    return values | changes


def test_the_file_seeds_a_resource_once() -> None:
    [event] = resources.decide(SeedResource(settings=settings()), resources.Settings())
    assert isinstance(event, ResourceSeeded) and event.code == "kominkan_room"
    state = seeded()
    assert state.resource == ROOM
    assert resources.decide(SeedResource(settings=settings(capacity=9)), state) == []


def test_an_edit_records_who_and_what_changed_and_an_unchanged_form_records_nothing() -> None:
    [event] = edit(seeded(), capacity=4, place="中央公民館 3階 大会議室")
    assert isinstance(event, ResourceEdited)
    assert event.by == "kominkan-clerk" and event.changed == ["place", "capacity"]
    after = resources.evolve(seeded(), event)
    assert after.resource is not None and after.resource.capacity == 4
    assert edit(seeded()) == []


def test_an_unknown_resource_or_a_fixed_setting_is_refused() -> None:
    with pytest.raises(DomainError) as unknown:
        edit(resources.Settings(), capacity=2)
    assert unknown.value.reason == "unknown_resource"
    with pytest.raises(DomainError) as fixed:
        edit(seeded(), department="kenko")
    assert fixed.value.reason == "not_editable"


def test_an_edit_that_takes_away_a_held_slot_is_refused_naming_it() -> None:
    held = Occupied(start=SUNDAY_5PM, taken=1, waiting=2, capacity=None)
    weekday_only = [catalogue.Opening(days=["mon", "tue"], start=time(9), end=time(21))]
    with pytest.raises(DomainError) as gone:
        edit(seeded(), held, opening=weekday_only)
    assert gone.value.reason == "slot_held"
    assert "12月13日（日）17:00" in str(gone.value) and "予約1件・空き待ち2人" in str(gone.value)
    with pytest.raises(DomainError) as moved:  # 90-minute slots no longer start at 17:00
        edit(seeded(), held, slot_minutes=90)
    assert moved.value.reason == "slot_held"
    # A slot nobody holds may go.
    assert edit(seeded(), Occupied(start=SUNDAY_5PM, taken=0, waiting=0, capacity=None), slot_minutes=120)


def test_seats_below_those_booked_are_refused_unless_the_slot_has_its_own_capacity() -> None:
    three = Occupied(start=SUNDAY_5PM, taken=3, waiting=0, capacity=None)
    with pytest.raises(DomainError) as below:
        edit(seeded(), three, capacity=2)
    assert below.value.reason == "below_booked"
    assert "12月13日（日）17:00" in str(below.value) and "3人" in str(below.value)
    assert edit(seeded(), three, capacity=3)
    own = Occupied(start=SUNDAY_5PM, taken=3, waiting=0, capacity=3)  # a clerk set this slot's seats
    assert edit(seeded(), own, capacity=2)


def test_the_form_round_trips_and_reads_full_width_numbers_and_japanese_weekdays() -> None:
    assert resources.read_form(ROOM, form()) == ROOM
    edited = resources.read_form(
        ROOM,
        form(capacity="３", opening="土日 10:00-12:00\n水 13:00〜15:00", bring="", q_people_max="20"),
    )
    assert edited.capacity == 3 and edited.bring == []
    assert [(r.days, r.start, r.end) for r in edited.opening] == [
        (["sat", "sun"], time(10), time(12)),
        (["wed"], time(13), time(15)),
    ]
    question = edited.question("people")
    assert question is not None and (question.min, question.max) == (1, 20)


@pytest.mark.parametrize(
    ("changes", "field", "says"),
    [
        ({"capacity": "0"}, "capacity", "1〜500"),
        ({"capacity": "たくさん"}, "capacity", "1〜500"),
        ({"reminder_hour": "24"}, "reminder_hour", "0〜23"),
        ({"name": ""}, "name", "1〜20文字"),
        ({"name": "あ" * 21}, "name", "1〜20文字"),
        ({"opening": "毎日 9:00-12:00"}, "opening", "1行目"),
        ({"opening": "月 12:00-9:00"}, "opening", "後に"),
        ({"opening": "月 25:00-26:00"}, "opening", "1行目"),
        ({"opening": ""}, "opening", "1行以上"),
        ({"opening": "月 9:00-12:00\n月 11:00-13:00"}, "opening", "月曜日の時間が重なっています"),
        ({"opening": "月 8:00-21:00"}, "opening", "1日12枠まで"),
        ({"q_people_min": "31"}, "q_people", "下限を上限以下"),
    ],
)
def test_a_bad_value_is_named_with_why(changes: dict[str, str], field: str, says: str) -> None:
    with pytest.raises(resources.SettingsInvalid) as bad:
        resources.read_form(ROOM, form(**changes))
    assert says in bad.value.errors[field]
