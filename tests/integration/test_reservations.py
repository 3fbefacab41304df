"""予約 across processes: signed webhooks → gateway → Kafka → reservations → Kafka → notify → the
LINE emulator. A resident books (a double tap is one booking); residents race for the last seat
(one gets it, the others are told at once and offered the waitlist); a cancellation offers the
seat to the resident waiting, who takes it with one tap; a clerk sees the attendees; the service
SIGKILLed in a burst of bookings loses none and doubles none.

Processes: the LINE emulator, `cityhall service gateway`, `notify`, `staff-portal` and
`reservations`, each with its own database on the test Postgres, all on the test Kafka. The
slots are chosen from the catalogue's rules and today's date (the processes run on the real clock).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import asyncpg
import pytest

from cityhall.events.testing import wait_for
from cityhall.line.testing import content, find_postback
from cityhall.reservations import catalogue
from cityhall.reservations.messages import day_label
from cityhall.reservations.testing import starting, to_summary, to_time
from cityhall.web import StaffUser

from .harness import Deployment, LineClient

pytestmark = pytest.mark.timeout(600)

CLERK = StaffUser("kominkan-clerk", "中央公民館 小川", frozenset({"kominkan"}))
ROOM = "公民館 会議室"


def slots(after_days: int) -> tuple[str, list[str]]:
    """A day of the room at least `after_days` days ahead (its label) and its times' labels."""
    booked = catalogue.load()
    room = booked.resource("kominkan_room")
    assert room is not None
    now = datetime.now(UTC)
    day = next(d for d in booked.bookable_days(room, now) if (d - now.date()).days >= after_days)
    starts = booked.bookable_slots(room, day, now)
    return day_label(day), [f"{s.hour}:{s.minute:02}" for s in starts]


@pytest.fixture(scope="module")
def deployment(
    postgres_dsn: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    deployment = Deployment(postgres_dsn, kafka_bootstrap, tmp_path_factory.mktemp("reservations"))
    for name in ("gateway", "notify", "staff-portal"):
        deployment.service(name)
    # Bulky waste's fees need the provider's secret (no fee is paid here: see test_bulky_waste.py).
    deployment.service("reservations", env={"CITYHALL_PAYMENTS_SECRET": "integration-payments-secret"})
    with deployment:
        yield deployment


async def test_a_resident_books_and_a_double_tap_is_one_booking(
    deployment: Deployment, line: LineClient
) -> None:
    day, times = slots(2)
    resident = line.resident()
    # Free text (the answer) reaches reservations because the tile claimed the dialog.
    confirm = await to_summary(resident, "施設", ROOM, day, times[0], ["10"])
    booked = await resident.tap(confirm, expect="予約番号は R-")
    number = re.search(r"R-[0-9A-F]{8}", content(booked))
    assert number is not None
    await resident.tap(confirm, expect=f"すでに承っています（予約番号 {number.group(0)}）")
    await resident.tap("domain=reservations&action=list", expect="これからのご予約は1件")


async def test_residents_racing_for_the_last_seat_one_gets_it_the_others_are_offered_the_waitlist(
    deployment: Deployment, line: LineClient
) -> None:
    day, times = slots(5)
    time = times[1]
    residents = [line.resident() for _ in range(8)]
    # To the summary one after another (a webhook burst there would only load the machine);
    # then everyone taps 確定 at once.
    confirms = [await to_summary(r, "施設", ROOM, day, time, ["4"]) for r in residents]
    marks = await asyncio.gather(
        *(r.send("postback", postback_data=c) for r, c in zip(residents, confirms, strict=True))
    )
    answers = await asyncio.gather(*(r.expect("", since=m) for r, m in zip(residents, marks, strict=True)))
    told = [content(a) for a in answers]
    winners = [r for r, t in zip(residents, told, strict=True) if "予約番号は R-" in t]
    full = [(r, a) for r, a, t in zip(residents, answers, told, strict=True) if "満席" in t]
    assert len(winners) == 1 and len(full) == 7
    [winner] = winners

    # One of those told the slot is full joins the waitlist; the winner cancels; the seat is offered.
    waiting, told_full = full[0]
    await waiting.tap(find_postback(told_full, "空き待ちに登録"), expect="空き待ちに登録しました")
    listed = await winner.tap("domain=reservations&action=list", expect="ご予約一覧")
    asked = await winner.tap(find_postback(listed, "キャンセル"), expect="キャンセルしますか")
    mark = await waiting.count()
    await winner.tap(find_postback(asked, "キャンセルする"), expect="キャンセルしました")
    offer = await waiting.expect("空きが出ました", since=mark)
    others = [r for r, _ in full[1:]]
    taken = await waiting.tap(find_postback(offer, "予約する"), expect="予約番号は R-")
    number = re.search(r"R-[0-9A-F]{8}", content(taken))
    assert number is not None
    assert [await r.count("空きが出ました") for r in others] == [0] * len(others)

    # The room's clerk sees the booking and the answer given when joining the waitlist.
    clerk, _csrf = await deployment.clerk("reservations", CLERK)
    stamp = re.search(r"t=(\d{12})", find_postback(offer, "予約する"))
    assert stamp is not None
    try:

        async def listed_for_clerk() -> bool:
            page = await clerk.get(f"/staff/reservations/slots/kominkan_room/{stamp.group(1)}")
            return number.group(0) in page.text and "4人" in page.text

        await wait_for(listed_for_clerk, timeout=60, message="the booking on the room's calendar")
    finally:
        await clerk.aclose()


async def test_a_time_in_the_past_is_refused_and_changes_nothing(
    deployment: Deployment, line: LineClient
) -> None:
    day, _times = slots(2)
    resident = line.resident()
    times = await to_time(resident, "施設", ROOM, day)
    draft = re.search(r"d=([0-9a-f]{32})", content(times))
    assert draft is not None
    past = f"domain=reservations&action=time&d={draft.group(1)}&t=202001051000"
    await resident.tap(past, expect="すでに過ぎています")
    await resident.tap(starting(times, _times[-1]), expect="利用される人数")


async def test_reservations_sigkilled_mid_burst_loses_no_booking_and_doubles_none(
    deployment: Deployment, line: LineClient
) -> None:
    classes = catalogue.load()
    kitchen = classes.resource("rinyushoku")  # 12 seats: everyone gets one
    assert kitchen is not None
    now = datetime.now(UTC)
    day = classes.bookable_days(kitchen, now)[0]
    [start] = classes.bookable_slots(kitchen, day, now)
    residents = [line.resident() for _ in range(10)]
    label, hour = day_label(day), f"{start.hour}:{start.minute:02}"
    confirms = [await to_summary(r, "教室・講座", "離乳食教室", label, hour, ["8", "1"]) for r in residents]
    reservations = deployment.services["reservations"]
    marks = [await r.send("postback", postback_data=c) for r, c in zip(residents, confirms, strict=True)]
    await residents[0].expect("", since=marks[0])
    reservations.kill()  # mid-burst: some decided and answered, some not yet
    reservations.start()
    for resident, mark in zip(residents, marks, strict=True):
        await resident.expect("予約番号は R-", since=mark)
    for resident in residents:
        assert await resident.count("ご予約を承りました") == 1
    conn = await asyncpg.connect(deployment.databases["reservations"])
    try:
        made = await conn.fetch(
            "SELECT data->>'user_id' AS user_id FROM svc_reservations.events WHERE type = $1"
            " AND data->>'resource' = 'rinyushoku'",
            "cityhall.reservations.booking_made.v1",
        )
    finally:
        await conn.close()
    assert sorted(r["user_id"] for r in made) == sorted(r.user_id for r in residents)
