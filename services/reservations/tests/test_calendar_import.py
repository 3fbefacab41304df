"""A clerk imports a slot calendar from CSV: all of it or, at the first bad line, none of it."""

from __future__ import annotations

import httpx

from cityhall.events.testing import wait_for
from cityhall.reservations.events import CapacitySet, SlotClosed
from cityhall.reservations.testing import to_summary

from .conftest import KENKO, KOMINKAN, Harness
from .test_service import events_of, wait_booked

ROOM = "/staff/reservations/resources/kominkan_room"
SLOT = "/staff/reservations/slots/kominkan_room"


async def upload(clerk: httpx.AsyncClient, csrf: str, text: str) -> httpx.Response:
    files = {"file": ("slots.csv", text.encode("utf-8"), "text/csv")}
    return await clerk.post(f"{ROOM}/import", data={"csrf_token": csrf}, files=files)


async def test_a_bad_line_refuses_the_whole_file_and_a_good_file_sets_and_closes_slots(
    harness: Harness,
) -> None:
    clerk, csrf = harness.staff(KOMINKAN)
    # Two phone callers in the 15:00 slot, raised to two seats.
    raised = await clerk.post(f"{SLOT}/202612131500/capacity", data={"seats": "2", "csrf_token": csrf})
    assert "done=capacity" in raised.headers["location"]
    for name in ("佐藤 花子", "鈴木 一郎"):
        form = {"name": name, "phone": "090-0000-0000", "q_people": "4", "csrf_token": csrf}
        called = await clerk.post(f"{SLOT}/202612131500/book", data=form)
        assert "done=booked" in called.headers["location"]
    # A resident at 17:00.
    resident = harness.resident()
    confirm = await to_summary(resident, "施設", "公民館 会議室", "12月13日（日）", "17:00", ["3"])
    await resident.tap(confirm, expect="予約番号は R-")
    await wait_booked(harness, 3)
    before = len(await events_of(harness, CapacitySet.TYPE))

    # Line 3 would leave fewer seats than booked: refused, and line 2 is not written either.
    below = await upload(clerk, csrf, "date,start,seats\n2026-12-13,16:00,5\n2026-12-13,15:00,1\n")
    assert below.status_code == 422
    assert "3行目" in below.text and "少なくできません" in below.text and "何も反映していません" in below.text
    past = await upload(clerk, csrf, "date,start,seats\n2026-12-13,16:00,5\n2026-12-06,10:00,3\n")
    assert past.status_code == 422 and "3行目" in past.text and "すでに過ぎています" in past.text
    malformed = await upload(clerk, csrf, "date,start,seats\n2026-12-13,16:00,たくさん\n")
    assert malformed.status_code == 422 and "2行目" in malformed.text and "1〜500" in malformed.text
    assert len(await events_of(harness, CapacitySet.TYPE)) == before
    assert await events_of(harness, SlotClosed.TYPE) == []

    # Another department's clerk may not import into the room's calendar.
    other, other_csrf = harness.staff(KENKO)
    assert (await upload(other, other_csrf, "date,start,seats\n2026-12-13,16:00,5\n")).status_code == 403

    good = "date,start,seats,reason\n2026-12-13,16:00,5,\n2026-12-13,17:00,休止,館内の点検のため\n"
    imported = await upload(clerk, csrf, good)
    assert imported.status_code == 303 and "done=imported" in imported.headers["location"]
    await resident.expect("館内の点検のため")  # booked at 17:00: told, with the reason

    async def shown() -> bool:
        return "予約 0 / 定員 5" in (await clerk.get(f"{SLOT}/202612131600")).text

    await wait_for(shown, timeout=20, message="the imported capacity on the slot's page")
    [closed] = await events_of(harness, SlotClosed.TYPE)
    assert closed.envelope.data["by"] == KOMINKAN.username
