"""A resource for the town's residents only: LINE asks first, books a resident, and refuses
anyone else politely with whom to phone."""

from __future__ import annotations

from cityhall.line.testing import Resident, find_postback
from cityhall.reservations.events import BookingMade
from cityhall.reservations.testing import starting

from .conftest import Harness
from .test_service import events_of


async def asked(resident: Resident) -> dict[str, object]:
    categories = await resident.tap("domain=reservations&action=menu", expect="ご希望の種類")
    resources = await resident.tap(find_postback(categories, "相談"), expect="ご希望のものをお選びください")
    return await resident.tap(find_postback(resources, "法律相談"), expect="市内にお住まいですか")


async def test_only_residents_of_the_town_book_and_others_are_told_whom_to_ask(harness: Harness) -> None:
    outsider, resident = harness.resident(), harness.resident()
    question = await asked(outsider)
    await outsider.tap(find_postback(question, "いいえ"), expect="市民相談課 0299-00-1201")
    # The answer given, the old buttons are stale: no way round the question.
    await outsider.tap(find_postback(question, "はい"), expect="有効期限")

    question = await asked(resident)
    mark = await resident.send("postback", postback_data=find_postback(question, "はい"))
    carousel = await resident.expect("予約日を選ぶ", since=mark)
    times = await resident.tap(starting(carousel, "12月10日（木）"), expect="ご希望の時間")
    await resident.tap(starting(times, "13:00"), expect="来所される人数")
    summary = await resident.say("1", expect="予約内容の確認")
    await resident.tap(find_postback(summary, "確定"), expect="予約番号は R-")
    [made] = await events_of(harness, BookingMade.TYPE)
    assert made.envelope.data["user_id"] == resident.user_id
