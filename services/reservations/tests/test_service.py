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
from cityhall.line.testing import content, find_postback, find_uri
from cityhall.reservations import projections
from cityhall.reservations.events import BookingMade, WaitlistJoined
from cityhall.reservations.testing import starting, to_summary, to_time

from .conftest import KENKO, KOMINKAN, Harness

WEDNESDAY = datetime(2026, 12, 9, tzinfo=JST).date()


async def events_of(harness: Harness, type_: str) -> list[Any]:
    store = harness.composed.service("reservations").context.require_store()
    return [r for r in await store.read_all(limit=5000) if r.type == type_]


async def wait_booked(harness: Harness, count: int) -> None:
    """Until the read model holds `count` active bookings."""
    pool = harness.composed.service("reservations").context.require_pool()

    async def booked() -> bool:
        found = await pool.fetchval("SELECT count(*) FROM reservations_bookings WHERE status = 'booked'")
        return bool(found == count)

    await wait_for(booked, timeout=20, message=f"{count} bookings in the read model")


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
    confirms: list[str] = []
    for group in range(0, len(residents), 8):  # to the summary eight at a time; then the race, all at once
        confirms += await asyncio.gather(
            *(
                to_summary(r, "子育て・保育", "一時保育", "12月10日（木）", "9:00", ["20"])
                for r in residents[group : group + 8]
            )
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
    await second.expect("お返事の期限が過ぎたため")
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
    assert audited == 2  # one entry per booking shown (the first, cancelled, and this one)
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


async def test_clerks_move_book_for_callers_keep_capacity_and_close_a_day(harness: Harness) -> None:
    resident = harness.resident()
    confirm = await to_summary(
        resident, "健診・予防接種", "乳幼児健診・予防接種", "12月16日（水）", "13:00", ["7"]
    )
    await resident.tap(confirm, expect="予約番号は R-")
    [made] = await events_of(harness, BookingMade.TYPE)
    booking_id = made.envelope.data["booking_id"]
    pool = harness.composed.service("reservations").context.require_pool()

    async def booked(count: int) -> bool:
        return (
            await pool.fetchval("SELECT count(*) FROM reservations_bookings WHERE status = 'booked'") == count
        )

    await wait_for(lambda: booked(1), timeout=20, message="the booking in the read model")
    clerk, csrf = harness.staff(KENKO)
    day = await clerk.get("/staff/reservations/resources/kenshin?day=2026-12-16")
    assert day.status_code == 200 and "1 / 4" in day.text
    week = await clerk.get("/staff/reservations/resources/kenshin?day=2026-12-16&view=week")
    assert week.status_code == 200 and "12月16日（水）" in week.text and "12月14日（月）" in week.text

    # Book for a phone caller: answers out of range are refused and nothing is written.
    slot = "/staff/reservations/slots/kenshin/202612161300"
    form = {"name": "佐藤 花子", "phone": "090-0000-0000", "q_child_age": "99", "csrf_token": csrf}
    refused = await clerk.post(f"{slot}/book", data=form)
    assert "error=bad_answer" in refused.headers["location"]
    called = await clerk.post(f"{slot}/book", data=form | {"q_child_age": "9"})
    assert "done=booked" in called.headers["location"]
    await wait_for(lambda: booked(2), timeout=20, message="the caller's booking")
    page = await clerk.get(slot)
    assert "佐藤 花子" in page.text and "9か月" in page.text and "7か月" in page.text

    # Capacity never below the seats booked; above is fine.
    below = await clerk.post(f"{slot}/capacity", data={"seats": "1", "csrf_token": csrf})
    assert "error=below_booked" in below.headers["location"]
    assert "少なくできません" in (await clerk.get(below.headers["location"])).text
    raised = await clerk.post(f"{slot}/capacity", data={"seats": "6", "csrf_token": csrf})
    assert "done=capacity" in raised.headers["location"]

    async def capacity_shown() -> bool:
        return "予約 2 / 定員 6" in (await clerk.get(slot)).text

    await wait_for(capacity_shown, timeout=20, message="the new capacity on the slot's page")

    # Attended / no-show, then forgetting the caller shreds their name and answers.
    caller_id = await pool.fetchval(
        "SELECT booking_id FROM reservations_bookings WHERE booked_by = 'kenko-clerk'"
    )
    marked = await clerk.post(
        f"/staff/reservations/bookings/{caller_id}/attendance", data={"attended": "yes", "csrf_token": csrf}
    )
    assert "done=marked" in marked.headers["location"]

    async def attended() -> bool:
        return await pool.fetchval(
            "SELECT attended FROM reservations_bookings WHERE booking_id = $1", caller_id
        )

    await wait_for(attended, timeout=20, message="attendance in the read model")
    forgot = await clerk.post(f"/staff/reservations/bookings/{caller_id}/forget", data={"csrf_token": csrf})
    assert "done=forgotten" in forgot.headers["location"]
    shredded = await clerk.get(slot)
    assert "佐藤 花子" not in shredded.text and "（消去済み）" in shredded.text

    # Move the resident's booking; they are told, once, with the reason.
    mark = await resident.count()
    moved = await clerk.post(
        f"/staff/reservations/bookings/{booking_id}/move",
        data={"to": "202612161330", "reason": "医師の都合", "csrf_token": csrf},
    )
    assert "done=moved" in moved.headers["location"]
    told = await resident.expect("医師の都合", since=mark)
    assert "13:30" in content(told)
    await wait_for(lambda: booked(2), timeout=20, message="the move in the read model")
    assert await pool.fetchval(
        "SELECT start FROM reservations_bookings WHERE booking_id = $1", booking_id
    ) and (
        await pool.fetchval("SELECT status FROM reservations_bookings WHERE booking_id = $1", booking_id)
        == "cancelled"
    )

    # Close the day: every booked resident is told, and the day takes no booking.
    mark = await resident.count()
    closed = await clerk.post(
        "/staff/reservations/resources/kenshin/close-day",
        data={"day": "2026-12-16", "reason": "台風の接近のため", "csrf_token": csrf},
    )
    assert "done=closed" in closed.headers["location"]
    await resident.expect("台風の接近のため", since=mark)
    await wait_for(lambda: booked(0), timeout=20, message="the day's bookings cancelled")
    desk, _ = harness.staff(KOMINKAN)
    assert (await desk.get(slot)).status_code == 403


async def test_a_resident_changes_a_booking_to_another_time_in_one_step(harness: Harness) -> None:
    resident = harness.resident()
    confirm = await to_summary(resident, "施設", "公民館 会議室", "12月12日（土）", "10:00", ["6"])
    booked = await resident.tap(confirm, expect="予約完了")
    mark = await resident.send("postback", postback_data=find_postback(booked, "変更"))
    carousel = await resident.expect("予約日を選ぶ", since=mark)
    times = await resident.tap(starting(carousel, "12月13日（日）"), expect="ご希望の時間")
    await resident.tap(starting(times, "11:00"), expect="利用される人数")
    summary = await resident.say("6", expect="予約内容の確認")
    assert "変更前" in content(summary)
    changed = await resident.tap(find_postback(summary, "確定"), expect="新しいご予約")
    assert changed
    made = await events_of(harness, BookingMade.TYPE)
    cancelled = await events_of(harness, "cityhall.reservations.booking_cancelled.v1")
    assert len(made) == 2 and len(cancelled) == 1
    assert cancelled[0].envelope.data["booking_id"] == made[0].envelope.data["booking_id"]


async def test_a_clerk_raising_capacity_offers_a_seat_and_closing_ends_the_waitlist(harness: Harness) -> None:
    first, second, third = harness.resident(), harness.resident(), harness.resident()
    confirm = await to_summary(first, "施設", "公民館 会議室", "12月13日（日）", "15:00", ["3"])
    await first.tap(confirm, expect="予約番号は R-")
    pool = harness.composed.service("reservations").context.require_pool()

    async def booked() -> bool:
        return bool(await pool.fetchval("SELECT count(*) FROM reservations_bookings WHERE status = 'booked'"))

    await wait_for(booked, timeout=20, message="the booking in the read model")
    for resident in (second, third):
        times = await to_time(resident, "施設", "公民館 会議室", "12月13日（日）")
        full = await resident.tap(starting(times, "15:00 満"), expect="満席")
        await resident.tap(find_postback(full, "空き待ちに登録"), expect="利用される人数")
        await resident.say("2", expect="空き待ちに登録しました")

    clerk, csrf = harness.staff(KOMINKAN)
    slot = "/staff/reservations/slots/kominkan_room/202612131500"
    raised = await clerk.post(f"{slot}/capacity", data={"seats": "2", "csrf_token": csrf})
    assert "done=capacity" in raised.headers["location"]
    await second.expect("空きが出ました")
    assert await third.count("空きが出ました") == 0

    # The third leaves the waitlist from 予約確認.
    listed = await third.tap("domain=reservations&action=list", expect="空き待ちに登録中です")
    await third.tap(starting(listed, "取消 12/13 15:00"), expect="空き待ちを取り消しました")
    await third.tap(starting(listed, "取消 12/13 15:00"), expect="登録されていません")

    closed = await clerk.post(f"{slot}/close", data={"reason": "館内の停電のため", "csrf_token": csrf})
    assert "done=closed" in closed.headers["location"]
    await first.expect("館内の停電のため")  # booked: cancelled, with the reason
    await second.expect("空き待ちの登録は終了します")  # held an offer
    assert await third.count("空き待ちの登録は終了します") == 0  # had left
