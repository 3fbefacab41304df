"""Bulky-waste pickup in LINE through the harness, with the simulated payment provider: search the
price list, choose items and the district's day, pay, get the 受付番号, cancel with a refund; an
unpaid pickup released at the hold's end; forged and replayed notices; the staff's day list."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta
from typing import Any

from cityhall.events.testing import wait_for
from cityhall.line.japanese import JST
from cityhall.line.testing import Resident, content, find_postback, find_uri
from cityhall.payment_protocol import SIGNATURE_HEADER, sign
from cityhall.payment_simulator.testing import press
from cityhall.reservations.bulky.events import PickupPaid, PickupRefunded, RefundDue
from cityhall.reservations.events import BookingCancelled, BookingMade
from cityhall.reservations.testing import to_pickup_summary
from cityhall.web import StaffUser

from .conftest import PickupHarness

GOMI = StaffUser("gomi-clerk", "環境課 粗大ごみ係 松本", frozenset({"environment"}))
CALLBACK = "/staff/reservations/payments/callback"


async def events_of(harness: PickupHarness, *types: str) -> list[Any]:
    store = harness.composed.service("reservations").context.require_store()
    return [r.envelope for r in await store.read_all(limit=5000) if r.type in types]


async def to_summary(resident: Resident) -> dict[str, Any]:
    """本町's pickup on Monday 14 December (not Tuesday: 本町 is collected on Mondays) of two
    sofas and a bicycle (typed in hiragana): the summary."""
    items = [("ソファ", "ソファ（2人掛け以上）", "2点"), ("じてんしゃ", "自転車", "1点")]
    return await to_pickup_summary(resident, "本町", items, "12月14日（月）")


async def pay(url: str, outcome: str = "pay") -> None:
    """What the resident does on the provider's checkout page the 支払う button opens."""
    assert (await press(url, outcome)).status_code == 200


def secret(harness: PickupHarness) -> str:
    return (harness.composed.system.settings.data_dir / "payments-secret").read_text().strip()


async def test_a_resident_searches_pays_gets_the_number_cancels_and_is_refunded(
    pickups: PickupHarness,
) -> None:
    resident = pickups.resident()
    summary = await to_summary(resident)
    assert "手数料の合計" in content(summary) and "2,500円" in content(summary)
    assert "本町2丁目3-4 コーポ101号室" in content(summary) and "090-1234-5678" in content(summary)
    assert "12月14日（月） 8時30分までに出す" in content(summary)  # the district's slot, the catalogue's hour
    confirm = find_postback(summary, "確定して支払う")
    link = await resident.tap(confirm, expect="手数料2,500円をお支払いください")
    card = await resident.expect("手数料のお支払い")
    booking_id = uuid.UUID(hex=re.search(r"d=([0-9a-f]{32})", confirm).group(1))  # type: ignore[union-attr]
    assert [e.data["booking_id"] for e in await events_of(pickups, BookingMade.TYPE)] == [str(booking_id)]
    assert "R-" not in content(link) + content(card)  # no 受付番号 before the fee is paid

    # A double tap before paying gives the same link, and no second booking.
    await resident.tap(confirm, expect="手数料2,500円をお支払いください")
    assert len(await events_of(pickups, BookingMade.TYPE)) == 1

    await pay(find_uri(card, "支払う"))
    receipt = await resident.expect("お支払いを確認しました。受付番号は R-")
    number = re.search(r"R-[0-9A-F]{8}", content(receipt))
    assert number is not None and f"処理券に受付番号 {number.group(0)}" in content(receipt)
    receipt = await resident.expect("粗大ごみ収集の受付完了")
    assert "本町2丁目3-4 コーポ101号室" in content(receipt) and "090-1234-5678" in content(receipt)
    await resident.tap(confirm, expect=f"お支払い済みです（受付番号 {number.group(0)}）")

    # A forged notice is refused; the genuine one replayed pays once.
    [paid] = await events_of(pickups, PickupPaid.TYPE)
    notice = json.dumps(
        {
            "notice_id": "nt_replayed", "kind": "paid", "checkout_id": "ignored",
            "reference": str(booking_id), "amount": 2500, "payment_id": paid.data["payment_id"],
            "at": "2026-12-07T00:40:00+00:00",
        }
    ).encode()  # fmt: skip
    client = pickups.composed.http()
    for signature in ({}, {SIGNATURE_HEADER: sign("not-the-secret", notice)}):
        assert (await client.post(CALLBACK, content=notice, headers=signature)).status_code == 400
    replayed = await client.post(
        CALLBACK, content=notice, headers={SIGNATURE_HEADER: sign(secret(pickups), notice)}
    )
    assert replayed.status_code == 200 and replayed.json()["detail"] == "already recorded"
    assert len(await events_of(pickups, PickupPaid.TYPE)) == 1
    assert await events_of(pickups, RefundDue.TYPE) == []

    # The day's list for 環境課: items, fee, paid; and its CSV.
    browser, _csrf = pickups.staff(GOMI)
    page = await browser.get("/staff/reservations/slots/sodai_honcho/202612140830")
    assert page.status_code == 200, page.text
    assert (
        "ソファ（2人掛け以上）×2、自転車×1" in page.text
        and "2,500円" in page.text
        and "支払済み" in page.text
    )
    assert "本町2丁目3-4 コーポ101号室" in page.text and "090-1234-5678" in page.text
    pool = pickups.composed.service("reservations").context.require_pool()
    audited = await pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'view_attendees'")
    assert audited == 1  # the address and phone are read as the booking's answers, and recorded
    exported = await browser.get("/staff/reservations/resources/sodai_honcho/export.csv?day=2026-12-14")
    assert "収集場所,当日の連絡先,品目,手数料,支払い" in exported.text
    assert (
        "本町2丁目3-4 コーポ101号室,090-1234-5678,ソファ（2人掛け以上）×2、自転車×1,2500,支払済み"
        in exported.text
    )
    assert "収集済み</button>" in page.text and "出席</button>" not in page.text  # collected, not attended

    # Cancel before the cutoff: the fee comes back through the provider.
    asked = await resident.tap(find_postback(receipt, "キャンセル"), expect="キャンセルしますか")
    await resident.tap(find_postback(asked, "キャンセルする"), expect="キャンセルしました")
    await resident.expect("手数料2,500円は、お支払いに使った方法でお返しします")

    async def refunded() -> bool:
        await pickups.sweep()
        return bool(await events_of(pickups, PickupRefunded.TYPE))

    await wait_for(refunded, timeout=20, message="the refund made through the provider")
    await resident.expect(f"受付番号 {number.group(0)} の2,500円の返金が完了しました")
    [refund] = await events_of(pickups, PickupRefunded.TYPE)
    assert refund.data["amount"] == 2500 and refund.data["payment_id"] == paid.data["payment_id"]
    assert await pickups.sweep() == 0  # refunded once
    page = await browser.get("/staff/reservations/slots/sodai_honcho/202612140830")
    assert "返金済み" in page.text


async def test_an_unpaid_pickup_is_released_and_a_late_payment_refunded(pickups: PickupHarness) -> None:
    resident = pickups.resident()
    summary = await to_summary(resident)
    await resident.tap(find_postback(summary, "確定して支払う"), expect="お支払いください")
    card = await resident.expect("手数料のお支払い")
    assert await pickups.sweep() == 0  # within the hold, nothing is released

    pickups.clock.advance(timedelta(minutes=31))
    assert await pickups.sweep() == 1
    await resident.expect(
        "お支払いが確認できなかったため、12月14日（月）の粗大ごみ収集のお申し込みを取り消しました"
    )
    [cancelled] = await events_of(pickups, BookingCancelled.TYPE)
    assert cancelled.data["by"] == "system"
    assert await pickups.sweep() == 0  # released once

    # Paying the stale checkout afterwards books nothing and gives the money back.
    await pay(find_uri(card, "支払う"))
    await resident.expect("お支払いの期限を過ぎていて")
    [due] = await events_of(pickups, RefundDue.TYPE)
    assert due.data["reason"] == "late" and due.data["amount"] == 2500
    assert await events_of(pickups, PickupPaid.TYPE) == []

    async def refunded() -> bool:
        await pickups.sweep()
        return bool(await events_of(pickups, PickupRefunded.TYPE))

    await wait_for(refunded, timeout=20, message="the late payment refunded")


async def test_giving_up_on_the_checkout_frees_the_day_at_once(pickups: PickupHarness) -> None:
    resident = pickups.resident()
    summary = await to_summary(resident)
    await resident.tap(find_postback(summary, "確定して支払う"), expect="お支払いください")
    card = await resident.expect("手数料のお支払い")
    await pay(find_uri(card, "支払う"), "cancel")
    await resident.expect(
        "お支払いが完了しなかったため、12月14日（月）の粗大ごみ収集のお申し込みを取り消しました"
    )
    [cancelled] = await events_of(pickups, BookingCancelled.TYPE)
    assert cancelled.data["by"] == "system"
    assert await pickups.sweep() == 0  # nothing left to release at the hold's end
    assert await events_of(pickups, PickupPaid.TYPE, RefundDue.TYPE) == []


async def test_a_resident_holds_at_most_the_catalogues_pickups_of_a_district(pickups: PickupHarness) -> None:
    resident = pickups.resident()
    summary = await to_summary(resident)
    await resident.tap(find_postback(summary, "確定して支払う"), expect="お支払いください")
    # The same day again: one pickup a day (the slot holds one seat per resident).
    again = await to_summary(resident)
    await resident.tap(find_postback(again, "確定して支払う"), expect="すでにご予約いただいています")
    for day in ("12月21日（月）",):  # sodai_honcho's max_active is 2; unpaid ones count while held
        items = [("ふとん", "布団（1枚）", "1点")]
        summary = await to_pickup_summary(resident, "本町", items, day)
        await resident.tap(find_postback(summary, "確定して支払う"), expect="お支払いください")
        for runner in pickups.composed.service("reservations").projections.values():
            await runner.catch_up()
    categories = await resident.tap("domain=reservations&action=menu", expect="ご希望の種類")
    districts = await resident.tap(find_postback(categories, "粗大ごみ収集"), expect="収集にうかがう地区")
    await resident.tap(find_postback(districts, "本町"), expect="お一人2件までです")
    await resident.tap(find_postback(districts, "北町"), expect="有効期限が切れています")  # that dialog ended
    categories = await resident.tap("domain=reservations&action=menu", expect="ご希望の種類")
    districts = await resident.tap(find_postback(categories, "粗大ごみ収集"), expect="収集にうかがう地区")
    await resident.tap(find_postback(districts, "北町"), expect="丁目・番地と、建物名")  # another district's


async def test_names_not_in_the_list_and_the_cutoff_are_answered(pickups: PickupHarness) -> None:
    resident = pickups.resident()
    categories = await resident.tap("domain=reservations&action=menu", expect="ご希望の種類")
    districts = await resident.tap(find_postback(categories, "粗大ごみ収集"), expect="収集にうかがう地区")
    # The district from where the resident lives (libs/town), confirmed with one tap.
    mark = await resident.send(
        "location", location={"latitude": 35.6667, "longitude": 139.535, "address": "北町"}
    )
    found = await resident.expect("送っていただいた場所は北町です", since=mark)
    assert "北町で申し込む" in content(found)
    mark = await resident.send("location", location={"latitude": 35.0, "longitude": 135.0, "address": "京都"})
    await resident.expect("市内の収集地区の外のようです", since=mark)
    await resident.tap(find_postback(districts, "西町"), expect="丁目・番地と、建物名")
    # The address and the phone are checked, each with what to send instead.
    mark = await resident.send(
        "location", location={"latitude": 35.66, "longitude": 139.53, "address": "西町"}
    )
    await resident.expect("丁目・番地と、建物名", since=mark)  # not typed: the question again
    await resident.say("コーポ西町", expect="番地の数字が見当たりませんでした")
    await resident.say(
        "西町５丁目１２－３ コーポ西町２０１", expect="収集場所は「西町５丁目１２－３ コーポ西町２０１」"
    )
    await resident.say("1234", expect="10けたか11けたの数字でお送りください")
    await resident.say("０９０－１２３４－５６７８", expect="出すものの名前")
    sofas = await resident.say("ソファ", expect="「ソファ」の品目")
    assert "ソファ（1人掛け）　500円" in content(sofas) and "ソファ（2人掛け以上）　1,000円" in content(sofas)
    await resident.say("テレビ", expect="家電リサイクル法の対象")
    await resident.say("宇宙船", expect="品目表に見つかりませんでした")
    # No item yet: the day is not offered.
    draft = re.search(r"d=([0-9a-f]{32})", content(districts)).group(1)  # type: ignore[union-attr]
    await resident.tap(f"domain=reservations&action=bk_days&d={draft}", expect="まず、出すものの名前")
    # A pickup is booked only through its own steps, with its fee: no plain booking, no waitlist.
    stale = "有効期限が切れています"
    await resident.tap(f"domain=reservations&action=res&d={draft}&r=sodai_nishi", expect=stale)
    await resident.tap(f"domain=reservations&action=wait&d={draft}&t=202612180830", expect=stale)
    await resident.tap(
        f"domain=reservations&action=book&d={draft}&r=sodai_nishi&t=202612180830", expect=stale
    )
    # A forged count is refused without changing the cart.
    await resident.tap(
        f"domain=reservations&action=bk_count&d={draft}&i=sofa_1&n=99", expect="有効期限が切れています"
    )

    # Past the cutoff (two days before the pickup), cancelling says whom to phone.
    other = pickups.resident()
    summary = await to_summary(other)
    await other.tap(find_postback(summary, "確定して支払う"), expect="お支払いください")
    card = await other.expect("手数料のお支払い")
    await pay(find_uri(card, "支払う"))
    await other.expect("受付番号は R-")
    receipt = await other.expect("粗大ごみ収集の受付完了")
    pickups.clock.advance(timedelta(days=5, hours=23))  # Sunday 13 December, 8:30
    await other.tap(find_postback(receipt, "キャンセル"), expect="環境課 粗大ごみ受付 0299-00-1530")
    assert await events_of(pickups, BookingCancelled.TYPE) == []


async def test_the_day_before_says_what_where_and_by_when_and_the_address_is_forgotten_with_its_key(
    pickups: PickupHarness,
) -> None:
    resident = pickups.resident()
    summary = await to_summary(resident)
    await resident.tap(find_postback(summary, "確定して支払う"), expect="お支払いください")
    await pay(find_uri(await resident.expect("手数料のお支払い"), "支払う"))
    await resident.expect("粗大ごみ収集の受付完了")
    for runner in pickups.composed.service("reservations").projections.values():
        await runner.catch_up()
    pickups.clock.now = datetime(2026, 12, 13, 17, 59, tzinfo=JST)  # sodai_honcho's reminder_hour is 18
    assert await pickups.service.sweep() == 0
    pickups.clock.now = datetime(2026, 12, 13, 18, 0, tzinfo=JST)
    assert await pickups.service.sweep() == 1
    assert await pickups.service.sweep() == 0  # once
    told = content(await resident.expect("明日は粗大ごみの収集日です"))
    assert "12月14日（月）の朝8時30分までに" in told
    assert "・ソファ（2人掛け以上） ×2" in told and "・自転車 ×1" in told
    assert "収集場所：本町2丁目3-4 コーポ101号室" in told

    # Forgotten: the address and the phone read 消去済み on the day's list and in its CSV.
    browser, csrf = pickups.staff(GOMI)
    slot = "/staff/reservations/slots/sodai_honcho/202612140830"
    page = await browser.get(slot)
    booking_id = re.search(r"/bookings/([0-9a-f-]{36})/forget", page.text).group(1)  # type: ignore[union-attr]
    forgot = await browser.post(
        f"/staff/reservations/bookings/{booking_id}/forget", data={"csrf_token": csrf}
    )
    assert "done=forgotten" in forgot.headers["location"]
    page = await browser.get(slot)
    assert (
        "コーポ101号室" not in page.text and "090-1234-5678" not in page.text and "（消去済み）" in page.text
    )
    exported = await browser.get("/staff/reservations/resources/sodai_honcho/export.csv?day=2026-12-14")
    assert "コーポ101号室" not in exported.text and "（消去済み）,（消去済み）" in exported.text


async def test_a_clerk_cannot_book_a_pickup_for_a_phone_caller(pickups: PickupHarness) -> None:
    browser, csrf = pickups.staff(GOMI)
    slot = "/staff/reservations/slots/sodai_honcho/202612140830"
    page = await browser.get(slot)
    assert "電話での予約として登録できません" in page.text and '202612140830/book"' not in page.text
    form = {"name": "佐藤 花子", "phone": "090-0000-0000", "csrf_token": csrf}
    refused = await browser.post(f"{slot}/book", data=form)
    assert "error=pickup_by_phone" in refused.headers["location"]
    assert await events_of(pickups, BookingMade.TYPE) == []
