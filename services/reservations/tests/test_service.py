"""Residents book, list, cancel, race for the last seats and wait for one in LINE; clerks see the
attendees and cancel. Through the kit's harness: the runtime's composition, notify, the emulator."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta
from typing import Any

import httpx

from cityhall.events.testing import wait_for
from cityhall.line.japanese import JST
from cityhall.line.testing import Resident, content, find_postback, find_uri
from cityhall.reservations import projections
from cityhall.reservations.events import BookingMade, WaitlistJoined

from .conftest import KENKO, KOMINKAN, Harness

WEDNESDAY = datetime(2026, 12, 9, tzinfo=JST).date()


def starting(message: dict[str, Any], prefix: str) -> str:
    """The postback data of the first button whose label starts with `prefix`."""
    found = re.search(r'"label": "' + re.escape(prefix) + r'[^"]*", "data": "([^"]+)"', content(message))
    if found is None:
        found = re.search(r'"data": "([^"]+)"[^}]*"label": "' + re.escape(prefix), content(message))
    assert found is not None, f"no button {prefix!r} in {content(message)[:800]}"
    return found.group(1)


async def to_time(resident: Resident, category: str, resource: str, day: str) -> dict[str, Any]:
    """予約 → category → resource → day: the message with the times."""
    categories = await resident.tap("domain=reservations&action=menu", expect="ご希望の種類")
    resources = await resident.tap(find_postback(categories, category), expect="ご希望のものをお選びください")
    mark = await resident.send("postback", postback_data=find_postback(resources, resource))
    carousel = await resident.expect("予約日を選ぶ", since=mark)
    return await resident.tap(starting(carousel, day), expect="ご希望の時間")


async def to_summary(
    resident: Resident, category: str, resource: str, day: str, time: str, answers: list[str]
) -> str:
    """Through to the summary; the 確定 button's data."""
    times = await to_time(resident, category, resource, day)
    asked = await resident.tap(starting(times, time), expect="数字でお送りください")
    assert asked
    for i, answer in enumerate(answers):
        expect = "予約内容の確認" if i == len(answers) - 1 else "数字でお送りください"
        summary = await resident.say(answer, expect=expect)
    return find_postback(summary, "確定")


async def events_of(harness: Harness, type_: str) -> list[Any]:
    store = harness.composed.service("reservations").context.require_store()
    return [r for r in await store.read_all(limit=5000) if r.type == type_]


async def test_a_resident_books_gets_the_calendar_file_lists_and_cancels(harness: Harness) -> None:
    resident = harness.resident()
    confirm = await to_summary(
        resident, "健診・予防接種", "乳幼児健診・予防接種", "12月9日（水）", "13:00", ["18"]
    )
    booked = await resident.tap(confirm, expect="予約番号は R-")
    number = re.search(r"R-[0-9A-F]{8}", content(booked))
    assert number is not None
    card = await resident.expect("予約完了")
    assert "母子健康手帳" in content(card) and "保健センター 1階 健診室" in content(card)
    [made] = await events_of(harness, BookingMade.TYPE)
    assert made.envelope.data["answers"]["child_age"].startswith("pd1:")  # sealed, not "18"

    # The calendar file, at a signed link; a forged signature is refused.
    url = find_uri(card, "カレンダーに追加")
    async with httpx.AsyncClient(timeout=10) as browser:

        async def served() -> bool:
            return (await browser.get(url)).status_code == 200

        await wait_for(served, timeout=20, message="the .ics once the booking is in the read model")
        ics = await browser.get(url)
        assert ics.headers["content-type"].startswith("text/calendar")
        assert "BEGIN:VEVENT" in ics.text and "DTSTART:20261209T040000Z" in ics.text
        assert (await browser.get(url[:-4] + "0000")).status_code == 403

    # A double tap is the same booking; someone else's tap on it is refused.
    await resident.tap(confirm, expect=f"すでに承っています（予約番号 {number.group(0)}）")
    other = harness.resident()
    await other.tap(confirm, expect="お受けできません")
    assert len(await events_of(harness, BookingMade.TYPE)) == 1

    listed = await resident.tap("domain=reservations&action=list", expect="これからのご予約は1件")
    assert listed
    bookings = await resident.expect("ご予約一覧")
    cancel = find_postback(bookings, "キャンセル")
    await other.tap(cancel, expect="お受けできません")
    asked = await resident.tap(cancel, expect="キャンセルしますか")
    await resident.tap(find_postback(asked, "キャンセルする"), expect="キャンセルしました")
    await resident.tap(find_postback(asked, "キャンセルする"), expect="すでにキャンセルされています")
    await resident.say("予約確認", expect="現在、ご予約はありません")


async def test_bad_input_is_answered_and_changes_nothing(harness: Harness) -> None:
    resident = harness.resident()
    times = await to_time(resident, "健診・予防接種", "乳幼児健診・予防接種", "12月9日（水）")
    draft = re.search(r"d=([0-9a-f]{32})", content(times))
    assert draft is not None
    d = draft.group(1)
    await resident.tap(f"domain=reservations&action=time&d={d}&t=202612091317", expect="予約枠がありません")
    await resident.tap(f"domain=reservations&action=day&d={d}&v=20261201", expect="すでに過ぎています")
    await resident.tap(f"domain=reservations&action=time&d={d}&t=202612021300", expect="すでに過ぎています")
    await resident.tap(f"domain=reservations&action=time&d={d}&t=notatime", expect="予約枠がありません")
    await resident.say("こんにちは", expect="ボタンからお選びください")
    await resident.tap(starting(times, "13:30"), expect="月齢")
    await resident.say("じゅうはち", expect="数字でお送りください")
    await resident.say("60", expect="対象は")  # not eligible: outside 2-48 months
    await resident.tap(f"domain=reservations&action=book&d={d}&r=kenshin&t=202612091330", expect="有効期限")
    await resident.tap("domain=reservations&action=cancel&r=kenshin&t=202612091330&b=zz", expect="有効期限")
    assert await events_of(harness, BookingMade.TYPE) == []


async def test_forty_residents_race_for_three_seats(harness: Harness) -> None:
    residents = [harness.resident() for _ in range(40)]
    for resident in residents:
        resident.timeout = 90.0  # forty dialogs at once share two cores; the race is what is asserted
    confirms = await asyncio.gather(
        *(to_summary(r, "子育て・保育", "一時保育", "12月10日（木）", "9:00", ["20"]) for r in residents)
    )
    marks = await asyncio.gather(
        *(r.send("postback", postback_data=c) for r, c in zip(residents, confirms, strict=True))
    )
    answers = await asyncio.gather(*(r.expect("", since=m) for r, m in zip(residents, marks, strict=True)))
    told = [content(a) for a in answers]
    booked = [t for t in told if "予約番号は R-" in t]
    full = [t for t in told if "満席" in t]
    assert len(booked) == 3 and len(full) == 37
    assert all("空き待ちに登録" in t for t in full)
    assert len(await events_of(harness, BookingMade.TYPE)) == 3


async def test_a_cancellation_offers_the_seat_in_turn_and_nobody_is_booked_unasked(harness: Harness) -> None:
    first, second, third = harness.resident(), harness.resident(), harness.resident()
    confirm = await to_summary(first, "施設", "公民館 会議室", "12月12日（土）", "10:00", ["12"])
    booked = await first.tap(confirm, expect="予約番号は R-")
    assert booked
    pool = harness.composed.service("reservations").context.require_pool()
    start = datetime(2026, 12, 12, 10, 0, tzinfo=JST)

    async def counted(booked: int) -> bool:
        rows = await projections.slot_counts(pool, "kominkan_room", start, start + timedelta(minutes=1))
        return bool(rows) and rows[0]["booked"] == booked

    await wait_for(lambda: counted(1), timeout=20, message="the booking in the read model")
    for resident, people in ((second, "3"), (third, "5")):
        times = await to_time(resident, "施設", "公民館 会議室", "12月12日（土）")
        full = await resident.tap(starting(times, "10:00 満"), expect="満席")
        await resident.tap(find_postback(full, "空き待ちに登録"), expect="利用される人数")
        await resident.say(people, expect="空き待ちに登録しました")
    assert len(await events_of(harness, WaitlistJoined.TYPE)) == 2

    mark = await second.count()
    await wait_for(lambda: counted(1), timeout=20, message="steady")
    listed = await first.tap("domain=reservations&action=list", expect="ご予約一覧")
    asked = await first.tap(find_postback(listed, "キャンセル"), expect="キャンセルしますか")
    await first.tap(find_postback(asked, "キャンセルする"), expect="キャンセルしました")
    offer = await second.expect("空きが出ました", since=mark)
    assert await third.count("空きが出ました") == 0

    # Unanswered for the hold (2 hours), the seat passes to the next.
    harness.clock.advance(timedelta(hours=2, minutes=1))

    async def swept() -> bool:
        return await harness.service.sweep() > 0

    await wait_for(swept, timeout=20, message="the lapsed offer swept")
    passed = await third.expect("空きが出ました")
    await second.tap(find_postback(offer, "予約する"), expect="有効期限が切れたか")
    taken = await third.tap(find_postback(passed, "予約する"), expect="予約番号は R-")
    await third.tap(find_postback(passed, "予約する"), expect="すでに承っています")
    made = await events_of(harness, BookingMade.TYPE)
    assert len(made) == 2 and made[-1].envelope.data["user_id"] == third.user_id
    number = re.search(r"R-[0-9A-F]{8}", content(taken))
    assert number is not None

    # The clerk sees the answer given when joining the waitlist (audited), then cancels.
    clerk, csrf = harness.staff(KOMINKAN)
    page = await clerk.get("/staff/reservations/slots/kominkan_room/202612121000")
    assert page.status_code == 200 and number.group(0) in page.text and "5人" in page.text
    audited = await pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'view_attendees'")
    assert audited == 1
    nurse, _ = harness.staff(KENKO)
    assert (await nurse.get("/staff/reservations/slots/kominkan_room/202612121000")).status_code == 403
    csv = await clerk.get("/staff/reservations/resources/kominkan_room/export.csv?day=2026-12-12")
    assert number.group(0) in csv.text and "利用人数" in csv.text
    booking_id = made[-1].envelope.data["booking_id"]
    mark = await third.count()
    cancelled = await clerk.post(
        f"/staff/reservations/bookings/{booking_id}/cancel",
        data={"reason": "設備点検のため", "csrf_token": csrf},
    )
    assert cancelled.status_code == 303 and "done=cancelled" in cancelled.headers["location"]
    await third.expect("設備点検のため", since=mark)


async def test_the_reminder_goes_the_day_before_at_the_catalogues_hour(harness: Harness) -> None:
    resident = harness.resident()
    confirm = await to_summary(resident, "施設", "公民館 会議室", "12月9日（水）", "14:00", ["8"])
    await resident.tap(confirm, expect="予約番号は R-")
    pool = harness.composed.service("reservations").context.require_pool()

    async def in_read_model() -> bool:
        return bool(await pool.fetchval("SELECT count(*) FROM reservations_bookings"))

    await wait_for(in_read_model, timeout=20, message="the booking in the read model")
    harness.clock.now = datetime(2026, 12, 8, 11, 59, tzinfo=JST)
    assert await harness.service.sweep() == 0
    harness.clock.now = datetime(2026, 12, 8, 12, 0, tzinfo=JST)
    assert await harness.service.sweep() == 1
    assert await harness.service.sweep() == 0
    await resident.expect("明日のご予約")
