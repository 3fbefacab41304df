"""certificates end to end on the EmbeddedBus: the resident's whole dialog through intents, the
replies at the real LINE emulator (delivered by notify), payment at the simulated provider, and
the clerk's decisions on the dashboard."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from cityhall.certificates.domain import Request
from cityhall.certificates.events import (
    DraftExpired,
    IdPhotoPurged,
    PaymentConfirmed,
    PaymentExpired,
    RefundCompleted,
    RequesterDetailGiven,
    RequestSubmitted,
    request_stream,
)
from cityhall.events.decider import DomainError
from cityhall.events.testing import wait_for
from cityhall.line.contracts import DialogClaimed, DialogReleased, OutboundMessageRequested
from cityhall.payment_protocol import SIGNATURE_HEADER, sign
from cityhall.payment_simulator.testing import press

from .conftest import ADMIN, CLERK, CLERK2, Harness, Resident, content, find_postback, find_uri, licence_photo

MENU = "domain=certificates&action=menu"
NAME, PHONE = "山田 花子", "080-2468-1357"
POSTAL_CODE, STREET = "140-0001", "4-5-6 さくら荘203"
ADDRESS = "〒140-0001 東京都品川区北品川4-5-6 さくら荘203"


def request_id_of(data: str) -> uuid.UUID:
    return uuid.UUID(hex=parse_qs(data)["r"][0])


async def draft(
    harness: Harness, resident: Resident, *, copies: str = "2通"
) -> tuple[uuid.UUID, dict[str, Any]]:
    """Menu → 住民票の写し → options → copies → purpose → details → ID → photo: the summary."""
    request_id = await up_to_the_photo(resident, copies=copies)
    summary = await resident.send_photo(licence_photo(), expect="申請内容の確認")
    return request_id, summary


async def up_to_the_photo(resident: Resident, *, copies: str = "2通") -> uuid.UUID:
    """A draft up to 「表面を撮影」: its request id."""
    carousel = await resident.tap(MENU, expect="申請できる証明書の一覧")
    assert "住民票記載事項証明書" in content(carousel) and "課税・非課税証明書" in content(carousel)
    start = find_postback(carousel, "申請する")  # the first bubble is 住民票の写し
    scope = await resident.tap(start, expect="記載する人の範囲")
    request_id = request_id_of(find_postback(scope, "本人のみ"))
    honseki = await resident.tap(find_postback(scope, "世帯全員"), expect="本籍・筆頭者")
    zokugara = await resident.tap(find_postback(honseki, "記載なし"), expect="続柄")
    copies_q = await resident.tap(find_postback(zokugara, "記載あり"), expect="部数")
    purpose = await resident.tap(find_postback(copies_q, copies), expect="使用目的")
    await resident.tap(find_postback(purpose, "就職・勤務先への提出"), expect="お名前")
    await resident.say(NAME, expect="生年月日")
    await resident.say("1985年4月12日", expect="住民登録のある住所の郵便番号")
    await resident.say(POSTAL_CODE, expect="東京都品川区北品川")
    await resident.say(STREET, expect="電話番号")
    document = await resident.say(PHONE, expect="本人確認書類の種類")
    await resident.tap(find_postback(document, "運転免許証"), expect="表面を撮影")
    return request_id


async def checkout_of(message: dict[str, Any]) -> str:
    """Where the message's 支払う button leads: through the town's server to the current checkout."""
    async with httpx.AsyncClient(timeout=20) as browser:
        hop = await browser.get(find_uri(message, "支払う"))
    assert hop.status_code == 303, hop.text
    assert hop.headers["cache-control"] == "no-store"
    return hop.headers["location"]


async def pay(harness: Harness, message: dict[str, Any] | str, outcome: str = "pay") -> httpx.Response:
    """What the resident does on the checkout page the link opens (or a checkout page kept open)."""
    url = message if isinstance(message, str) else await checkout_of(message)
    return await press(url, outcome)


async def outbound_texts(harness: Harness) -> str:
    return " ".join(json.dumps(e.data, ensure_ascii=False) for e in await harness.all_events())


# --- the resident's whole flow ------------------------------------------------------------------


async def test_a_resident_requests_pays_and_receives_a_juminhyo(harness: Harness) -> None:
    resident = harness.resident()
    request_id, summary = await draft(harness, resident)
    text = content(summary)
    # fee × copies + postage, with the options and masked personal fields
    assert "300円 × 2通 = 600円" in text and "710円" in text
    assert "世帯全員" in text and "記載あり" in text and "就職・勤務先への提出" in text
    assert "山＊＊＊" in text and "1985年＊月＊日" in text and "1357" in text and PHONE not in text

    confirm = find_postback(summary, "確定")
    link = await resident.tap(confirm, expect="お支払い額")
    assert "受付番号 C-" in content(link) and "710円" in content(link)
    # Tapping 確定 again: still one request.
    again = await resident.tap(confirm, expect="すでに確定しています")
    assert "C-" in content(again)
    submitted = [e for e in await harness.events(request_id) if isinstance(e, RequestSubmitted)]
    assert len(submitted) == 1

    paid_page = await pay(harness, link)
    assert "お支払いが完了しました" in paid_page.text
    received = await resident.expect("申請を受け付けました")
    number = re.search(r"受付番号：(C-[0-9A-F]{8})", content(received))
    assert number is not None
    row = await harness.wait_status(request_id, "paid")
    assert row["number"] == number.group(1) and row["amount"] == 710

    clerk, csrf = harness.staff(CLERK)
    page = await clerk.get(f"/staff/certificates/requests/{request_id}")
    assert page.status_code == 200
    assert NAME in page.text and ADDRESS in page.text and PHONE in page.text and "1985年4月12日" in page.text
    photo = await clerk.get(f"/staff/certificates/requests/{request_id}/photo")
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
    assert photo.content == licence_photo()

    approved = await clerk.post(
        f"/staff/certificates/requests/{request_id}/approve", data={"csrf_token": csrf}
    )
    assert approved.status_code == 303 and "done=approved" in approved.headers["location"]
    await resident.expect("本人確認が完了しました")
    await harness.wait_status(request_id, "approved")
    issued = await clerk.post(
        f"/staff/certificates/requests/{request_id}/issue",
        data={"csrf_token": csrf, "serial": "J-2025-000123"},
    )
    assert "done=issued" in issued.headers["location"]
    told = await resident.expect("を発行しました")
    assert "追跡番号をこのトークでお知らせします" in content(told) and number.group(1) in content(told)
    await harness.wait_status(request_id, "issued")
    mailed = await clerk.post(
        f"/staff/certificates/requests/{request_id}/mail",
        data={"csrf_token": csrf, "tracking": "1234-5678-9012"},
    )
    assert "done=mailed" in mailed.headers["location"]
    sent = await resident.expect("郵送しました")
    assert "追跡番号：1234-5678-9012" in content(sent) and number.group(1) in content(sent)
    row = await harness.wait_status(request_id, "mailed")
    assert row["serial"] == "J-2025-000123" and row["tracking_number"] == "1234-5678-9012"

    # The dialog was claimed when the flow started (the menu alone claims nothing) and released at 確定.
    dialogs = [e.event() for e in await harness.all_events(DialogClaimed, DialogReleased)]
    mine = [type(e).__name__ for e in dialogs if getattr(e, "user_id", "") == resident.user_id]
    assert mine == ["DialogReleased", "DialogClaimed", "DialogReleased", "DialogReleased"], mine
    assert (await resident.count()) > 0

    # Personal data never entered an event in clear; the photo never entered an event or the bus.
    stored = await outbound_texts(harness)
    for secret in (NAME, ADDRESS, PHONE, "1985-04-12"):
        assert secret not in stored
    photo_bytes = licence_photo()
    bus_values = await harness.bus.pool.fetch("SELECT value FROM messages")
    assert all(photo_bytes[100:164] not in bytes(r["value"]) for r in bus_values)
    assert all(photo_bytes[100:164].hex() not in json.dumps(e.data) for e in await harness.all_events())

    # Every resident-facing answer went through notify to the emulator exactly once.
    outbound = [
        e for e in await harness.all_events(OutboundMessageRequested) if resident.user_id in e.data["to"]
    ]
    keys = [e.data["idempotency_key"] for e in outbound]
    assert len(keys) == len(set(keys))


async def test_bad_answers_get_specific_messages_and_the_question_again(harness: Harness) -> None:
    resident = harness.resident()
    carousel = await resident.tap(MENU, expect="申請できる証明書の一覧")
    start = find_postback(carousel, "申請する")
    scope = await resident.tap(start, expect="記載する人の範囲")
    await resident.say("家族みんな", expect="表示されたボタンからお選びください")
    assert find_postback(scope, "本人のみ")
    # Typing a shown button's label is the same as tapping it.
    await resident.say("本人のみ", expect="本籍・筆頭者")
    zokugara = await resident.say("記載なし", expect="続柄")
    await resident.tap(find_postback(zokugara, "記載なし"), expect="部数")
    await resident.say("12通", expect="1〜10通の範囲")
    purpose = await resident.say("1", expect="使用目的")
    await resident.tap(find_postback(purpose, "その他"), expect="お名前")
    await resident.say("山田2号", expect="数字が含まれています")
    await resident.say("山田 太郎", expect="生年月日")
    await resident.say("1990年2月30日", expect="1990年2月30日という日付は存在しません")
    dob = await resident.say("令和2年2月29日", expect="住民登録のある住所の郵便番号")
    assert dob
    # The address: a date, a word or an unknown code is not a postal code; nothing is recorded.
    await resident.say("1985年4月12日", expect="郵便番号は7桁の数字で入力してください")
    await resident.say("中央", expect="郵便番号は7桁の数字で入力してください")
    await resident.say("000-0000", expect="郵便番号 000-0000 に当たる住所が見つかりませんでした")
    filled = await resident.say("〒１４０ー０００１", expect="東京都品川区北品川")
    assert "〒140-0001" in content(filled) and "番地・建物名・部屋番号" in content(filled)
    await resident.say("2024年1月1日", expect="日付のようです")
    await resident.say("のあたり", expect="番地が見当たりません")
    # 郵便番号を入力し直す goes back a step; then the town, retyped in full, is not doubled.
    await resident.tap(find_postback(filled, "郵便番号を入力し直す"), expect="住民登録のある住所の郵便番号")
    await resident.say("1400001", expect="東京都品川区北品川")
    await resident.say("東京都品川区北品川4-5-6 さくら荘203", expect="電話番号")
    await resident.say("090-ABCD-5678", expect="数字以外の文字が含まれています")
    document = await resident.say("０３−１２３４−５６７８", expect="本人確認書類の種類")
    assert find_postback(document, "マイナンバーカード")
    photo_q = await resident.say("マイナンバーカード", expect="表面を撮影")
    assert "マイナンバーカードの表面を撮影" in content(photo_q)
    await resident.send_photo(
        b"GIF89a" + b"\0" * 200, expect="写真として読み取れませんでした", content_type="image/jpeg"
    )
    await resident.send_photo(b"\xff\xd8\xff" + b"\0" * (10 * 1024 * 1024), expect="サイズが大きすぎます")
    await resident.say("これでいいですか", expect="本人確認書類の写真を送ってください")
    summary = await resident.send_photo(licence_photo("PNG"), expect="申請内容の確認")
    assert "410円" in content(summary)  # 300 × 1 + 110

    # 修正: change the copies, back to the summary with the new total.
    edit = await resident.tap(find_postback(summary, "修正"), expect="修正する項目")
    copies = await resident.tap(find_postback(edit, "部数"), expect="部数をお選びください")
    again = await resident.tap(find_postback(copies, "3通"), expect="申請内容の確認")
    assert "1,010円" in content(again)
    photos = await harness.pool.fetchval("SELECT count(*) FROM id_photos")
    assert photos == 1  # refused files were never stored
    # The address was recorded once, whole, from the postal code's town and the typed rest.
    request_id = request_id_of(find_postback(again, "確定"))
    given = [
        e
        for e in await harness.events(request_id)
        if isinstance(e, RequesterDetailGiven) and e.field == "address"
    ]
    assert len(given) == 1
    assert await harness.cert.personal.decrypt(given[0].value) == ADDRESS


async def test_a_seal_registration_certificate_is_for_the_registrant_with_the_cards_number(
    harness: Harness,
) -> None:
    resident = harness.resident()
    carousel = await resident.tap(MENU, expect="申請できる証明書の一覧")
    assert "印鑑登録証明書" in content(carousel) and "代理人による申請はできません" in content(carousel)
    start = "domain=certificates&action=start&c=inkan"
    assert start in content(carousel)
    copies = await resident.tap(start, expect="部数")  # no option asks whose certificate it is
    assert "記載する人" not in content(copies)
    told = await resident.expect("印鑑登録証明書の申請を始めます")
    assert "登録しているご本人のみ申請できます" in content(told)
    purpose = await resident.say("1", expect="使用目的")
    await resident.tap(
        find_postback(purpose, "不動産・登記の手続き"), expect="印鑑登録をしているご本人のお名前"
    )
    await resident.say(NAME, expect="生年月日")
    await resident.say("1985年4月12日", expect="郵便番号")
    await resident.say(POSTAL_CODE, expect="北品川")
    await resident.say(STREET, expect="電話番号")
    await resident.say(PHONE, expect="印鑑登録証")
    await resident.say("いんかん", expect="4〜10桁の数字")
    document = await resident.say("0012-3456", expect="本人確認書類の種類")
    await resident.tap(find_postback(document, "運転免許証"), expect="表面を撮影")
    summary = await resident.send_photo(licence_photo(), expect="申請内容の確認")
    assert "印鑑登録証の番号" in content(summary) and "＊＊＊＊＊＊56" in content(summary)
    assert "00123456" not in content(summary)
    review = await harness.http().get(find_uri(summary, "内容を確認する"))
    assert "印鑑登録証の番号" in review.text and "00123456" in review.text
    # The number is personal data: encrypted in the event like the other answers.
    request_id = request_id_of(find_postback(summary, "確定"))
    given = [
        e
        for e in await harness.events(request_id)
        if isinstance(e, RequesterDetailGiven) and e.field == "seal_number"
    ]
    assert len(given) == 1 and "00123456" not in given[0].value
    assert await harness.cert.personal.decrypt(given[0].value) == "00123456"
    assert "00123456" not in await outbound_texts(harness)
    # It can be corrected like the other answers.
    edit = await resident.tap(find_postback(summary, "修正"), expect="修正する項目")
    await resident.tap(find_postback(edit, "印鑑登録証の番号"), expect="印鑑登録証")
    again = await resident.say("00123457", expect="申請内容の確認")
    assert "＊＊＊＊＊＊57" in content(again)
    # The clerk needs the number before issuing: the request page shows the latest one, decrypted
    # in the same audited view as the other personal fields.
    await harness.wait_status(request_id, "drafting")
    clerk, _ = harness.staff(CLERK)
    page = await clerk.get(f"/staff/certificates/requests/{request_id}")
    assert '<dt>印鑑登録証の番号</dt><dd data-field="seal_number">00123457</dd>' in page.text
    assert "00123456" not in page.text
    views = await harness.pool.fetch(
        "SELECT detail FROM audit_log WHERE subject = $1 AND action = 'view_personal_data'",
        request_stream(request_id),
    )
    assert [v["detail"]["fields"] for v in views] == [
        ["name", "birth_date", "address", "phone", "seal_number"]
    ]
    admin, _ = harness.staff(ADMIN)
    assert "電話番号・印鑑登録証の番号" in (await admin.get("/staff/certificates/audit")).text


async def test_the_summary_opens_the_full_request_on_the_towns_server_for_15_minutes(
    harness: Harness,
) -> None:
    resident = harness.resident()
    request_id, summary = await draft(harness, resident)
    assert ADDRESS not in content(summary)  # LINE's servers see it masked
    url = find_uri(summary, "内容を確認する")
    assert url.startswith(harness.url) and resident.user_id not in url
    client = harness.http()
    page = await client.get(url)
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    for shown in (
        NAME,
        ADDRESS,
        PHONE,
        "1985年4月12日",
        "住民票の写し",
        "世帯全員",
        "2通",
        "710円",
        "運転免許証",
    ):
        assert shown in page.text, shown
    assert "<form" not in page.text  # to read, not to edit

    # Tampered: another request's id, a changed signature, a later expiry: 403, no data.
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    other = uuid.uuid4().hex
    for bad in (
        url.replace(request_id.hex, other),
        url.replace(query["s"][0], "0" * 32),
        url.replace(f"e={query['e'][0]}", f"e={int(query['e'][0]) + 3600}"),
        f"{harness.url}{parts.path}",
    ):
        refused = await client.get(bad)
        assert refused.status_code == 403 and "このリンクは使えません" in refused.text, bad
        assert ADDRESS not in refused.text and refused.headers["cache-control"] == "no-store"

    # Expired after 15 minutes: 410, and a new link is one message away.
    harness.clock.advance(timedelta(minutes=16))
    expired = await client.get(url)
    assert expired.status_code == 410 and "有効期限が切れています" in expired.text
    assert NAME not in expired.text and ADDRESS not in expired.text
    fresh = await resident.say("内容を確認する", expect="申請内容の確認")
    renewed = await client.get(find_uri(fresh, "内容を確認する"))
    assert renewed.status_code == 200 and ADDRESS in renewed.text


async def test_abort_discards_the_draft_and_releases_the_dialog(harness: Harness) -> None:
    resident = harness.resident()
    request_id, summary = await draft(harness, resident)
    await resident.tap(find_postback(summary, "中止"), expect="申請を中止しました")
    row = await harness.wait_status(request_id, "cancelled")
    assert row["submitted_at"] is None
    await resident.say("こんにちは", expect="入力途中の証明書の申請はありません")
    # The never-submitted request's photo goes at the next sweep.
    await harness.sweep()
    assert (
        await harness.pool.fetchval("SELECT count(*) FROM id_photos WHERE request_id = $1", request_id) == 0
    )
    assert any(isinstance(e, IdPhotoPurged) for e in await harness.events(request_id))


# --- payment ---------------------------------------------------------------------------------------


async def test_unpaid_requests_expire_after_30_minutes_and_the_resident_is_told(harness: Harness) -> None:
    resident = harness.resident()
    request_id, summary = await draft(harness, resident)
    await resident.tap(find_postback(summary, "確定"), expect="お支払い額")
    await harness.sweep()
    assert (await harness.request_row(request_id) or {})["status"] == "payment_pending"
    harness.clock.advance(timedelta(minutes=31))
    await harness.sweep()
    told = await resident.expect("お支払いの期限が過ぎたため")
    assert "C-" in content(told)
    assert any(isinstance(e, PaymentExpired) for e in await harness.events(request_id))


async def test_a_failed_payment_can_be_paid_again(harness: Harness) -> None:
    resident = harness.resident()
    request_id, summary = await draft(harness, resident)
    link = await resident.tap(find_postback(summary, "確定"), expect="お支払い額")
    dead = await checkout_of(link)
    failed = await pay(harness, dead, "fail")
    assert "お支払いができませんでした" in failed.text
    notice = await resident.expect("お支払いが完了しませんでした")
    # Before paying again, the first 支払う button says so instead of reopening the failed checkout.
    async with httpx.AsyncClient(timeout=20) as browser:
        page = await browser.get(find_uri(link, "支払う"))
    assert page.status_code == 200 and "もう一度支払う" in page.text
    mark = await resident.count()
    renewed = await resident.tap(find_postback(notice, "もう一度支払う"), expect="新しいお支払いのリンク")
    assert "申請内容を確定しました" not in content(renewed)
    second = await resident.expect("お支払い額", since=mark)
    current = await checkout_of(second)
    assert current != dead
    # The first message's 支払う button now leads to the current checkout too.
    assert await checkout_of(link) == current
    await pay(harness, link)
    await resident.expect("申請を受け付けました")
    await harness.wait_status(request_id, "paid")


async def test_a_forged_callback_gets_400_and_a_replayed_one_changes_nothing(harness: Harness) -> None:
    resident = harness.resident()
    request_id, summary = await draft(harness, resident)
    link = await resident.tap(find_postback(summary, "確定"), expect="お支払い額")
    await harness.wait_status(request_id, "payment_pending")
    state: Request = (await harness.cert.requests.load(request_stream(request_id)))[0]
    forged = json.dumps(
        {
            "notice_id": "nt_forged",
            "kind": "paid",
            "checkout_id": state.checkouts[-1],
            "reference": str(request_id),
            "amount": 710,
            "payment_id": "pay_forged",
            "at": "2025-04-01T00:00:00+00:00",
        }
    ).encode()
    client = harness.http()
    callback = "/staff/certificates/payments/callback"
    for headers in ({}, {SIGNATURE_HEADER: sign("not-the-secret", forged)}, {SIGNATURE_HEADER: "00"}):
        response = await client.post(callback, content=forged, headers=headers)
        assert response.status_code == 400
    assert (await harness.request_row(request_id) or {})["status"] == "payment_pending"
    assert not any(isinstance(e, PaymentConfirmed) for e in await harness.events(request_id))

    await pay(harness, link)
    await harness.wait_status(request_id, "paid")
    await wait_for(
        lambda: harness.sim_pool.fetchval("SELECT count(*) FROM notices WHERE delivered_at IS NOT NULL"),
        message="the provider's notice was delivered",
    )
    genuine = await harness.sim_pool.fetchval("SELECT body FROM notices WHERE delivered_at IS NOT NULL")
    before = len(await harness.events(request_id))
    replay = await client.post(
        callback,
        content=genuine.encode(),
        headers={SIGNATURE_HEADER: sign(harness.provider.secret, genuine.encode())},
    )
    assert replay.status_code == 200 and replay.json()["detail"] == "already recorded"
    assert len(await harness.events(request_id)) == before
    # notify delivers the receipt after the status changes; wait for it, then count it once
    await resident.expect("申請を受け付けました")
    received = [m for m in await resident.messages() if "申請を受け付けました" in content(m)]
    assert len(received) == 1


# --- the department's side -------------------------------------------------------------------------


async def paid_request(harness: Harness) -> tuple[Resident, uuid.UUID]:
    resident = harness.resident()
    request_id, summary = await draft(harness, resident)
    link = await resident.tap(find_postback(summary, "確定"), expect="お支払い額")
    await pay(harness, link)
    await resident.expect("申請を受け付けました")
    await harness.wait_status(request_id, "paid")
    return resident, request_id


async def test_reject_sends_the_reason_back_and_refunds(harness: Harness) -> None:
    resident, request_id = await paid_request(harness)
    clerk, csrf = harness.staff(CLERK)
    rejected = await clerk.post(
        f"/staff/certificates/requests/{request_id}/reject",
        data={"csrf_token": csrf, "reason": "photo_unreadable", "note": "明るい場所で撮り直してください。"},
    )
    assert "done=rejected" in rejected.headers["location"]
    told = await resident.expect("申請をお戻しします")
    assert "写真が不鮮明で読み取れませんでした" in content(
        told
    ) and "明るい場所で撮り直してください。" in content(told)
    assert "710円は自動で返金します" in content(told)
    await harness.wait_status(request_id, "rejected")
    await wait_for(
        lambda: harness.pool.fetchval("SELECT count(*) FROM certificate_refunds"), message="refund due"
    )
    await harness.sweep()
    await resident.expect("返金手続きが完了しました")
    assert any(isinstance(e, RefundCompleted) for e in await harness.events(request_id))
    assert await harness.sim_pool.fetchval("SELECT amount FROM refunds") == 710

    async def refunded_today() -> bool:
        return bool(
            await harness.pool.fetchval("SELECT fees_refunded FROM certificate_daily WHERE fees_refunded > 0")
        )

    await wait_for(refunded_today, message="the day's refunds count it")
    home = await clerk.get("/staff/certificates/")
    assert "返金" in home.text and "710円" in home.text


async def test_a_reject_without_a_reason_is_refused(harness: Harness) -> None:
    _resident, request_id = await paid_request(harness)
    clerk, csrf = harness.staff(CLERK)
    response = await clerk.post(
        f"/staff/certificates/requests/{request_id}/reject", data={"csrf_token": csrf, "reason": ""}
    )
    assert "error=reason_required" in response.headers["location"]
    page = await clerk.get(response.headers["location"])
    assert "差し戻しの理由を一覧から選んでください" in page.text
    assert (await harness.request_row(request_id) or {})["status"] == "paid"


async def test_two_clerks_approving_at_once_one_wins_the_other_sees_it_decided(harness: Harness) -> None:
    _resident, request_id = await paid_request(harness)
    results = await asyncio.gather(
        harness.cert.desk.approve(CLERK, request_id),
        harness.cert.desk.approve(CLERK2, request_id),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(refused) == 1 and refused[0].reason == "already_decided"
    # Through the dashboard, the late clerk is told.
    late, csrf = harness.staff(CLERK2)
    response = await late.post(
        f"/staff/certificates/requests/{request_id}/approve", data={"csrf_token": csrf}
    )
    page = await late.get(response.headers["location"])
    assert "すでに本人確認の判定が済んでいます" in page.text
    approvals = await harness.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'approve_identity' AND subject = $1",
        request_stream(request_id),
    )
    assert approvals == 1


async def test_cancel_before_issue_refunds(harness: Harness) -> None:
    resident, request_id = await paid_request(harness)
    status = await resident.tap("domain=certificates&action=status", expect="申請状況")
    assert "本人確認中" in content(status)
    confirm = await resident.tap(find_postback(status, "取り消す"), expect="取り消しますか")
    done = await resident.tap(find_postback(confirm, "取り消す"), expect="を取り消しました")
    assert "710円は返金します" in content(done)
    await harness.wait_status(request_id, "cancelled")
    await wait_for(
        lambda: harness.pool.fetchval("SELECT count(*) FROM certificate_refunds"), message="refund due"
    )
    await harness.sweep()
    await resident.expect("返金手続きが完了しました")
    after = await resident.tap("domain=certificates&action=status", expect="申請状況")
    assert "取り消し" in content(after) and "取り消す" not in content(after)


async def test_an_issued_certificate_cannot_be_cancelled(harness: Harness) -> None:
    resident, request_id = await paid_request(harness)
    await harness.cert.desk.approve(CLERK, request_id)
    await harness.cert.desk.issue(CLERK, request_id, "J-1")
    await harness.wait_status(request_id, "issued")
    await resident.tap(
        f"domain=certificates&action=cancel&r={request_id.hex}", expect="発送準備中のため取り消せません"
    )


async def test_a_resident_who_blocks_the_account_mid_flow_leaves_a_draft_that_expires(
    harness: Harness,
) -> None:
    resident = harness.resident()
    carousel = await resident.tap(MENU, expect="申請できる証明書の一覧")
    scope = await resident.tap(find_postback(carousel, "申請する"), expect="記載する人の範囲")
    request_id = request_id_of(find_postback(scope, "本人のみ"))
    (await harness.line.post(f"/_inspect/users/{resident.user_id}/block")).raise_for_status()
    count = await resident.count()
    harness.clock.advance(timedelta(minutes=31))
    await harness.sweep()
    await harness.wait_status(request_id, "expired")
    assert any(isinstance(e, DraftExpired) for e in await harness.events(request_id))

    async def session_gone() -> bool:
        sessions = await harness.pool.fetchval(
            "SELECT count(*) FROM dialog_sessions WHERE user_id = $1", resident.user_id
        )
        return sessions == 0

    await wait_for(session_gone, message="the dialog session is gone")
    released = [e for e in await harness.all_events(DialogReleased) if e.data["user_id"] == resident.user_id]
    assert released
    assert await resident.count() == count  # nothing reached a resident who blocked us


async def test_photos_are_deleted_after_the_retention_period(harness: Harness) -> None:
    _resident, request_id = await paid_request(harness)
    for step in (
        harness.cert.desk.approve(CLERK, request_id),
        harness.cert.desk.issue(CLERK, request_id, "J-1"),
        harness.cert.desk.mail(CLERK, request_id, "T-1"),
    ):
        await step
    await harness.wait_status(request_id, "mailed")
    await harness.sweep()
    assert (
        await harness.pool.fetchval("SELECT count(*) FROM id_photos WHERE request_id = $1", request_id) == 1
    )
    harness.clock.advance(timedelta(days=30, minutes=1))
    await harness.sweep()
    assert (
        await harness.pool.fetchval("SELECT count(*) FROM id_photos WHERE request_id = $1", request_id) == 0
    )
    assert any(isinstance(e, IdPhotoPurged) for e in await harness.events(request_id))
    clerk, _csrf = harness.staff(CLERK)
    assert (await clerk.get(f"/staff/certificates/requests/{request_id}/photo")).status_code == 404


async def test_forget_makes_the_residents_personal_fields_unreadable(harness: Harness) -> None:
    resident, request_id = await paid_request(harness)
    admin, csrf = harness.staff(ADMIN)
    # The admin finds the applicant by the request (see test_staff_pages for the confirm step).
    response = await admin.post(
        "/staff/certificates/residents/forget", data={"csrf_token": csrf, "request_id": str(request_id)}
    )
    assert "done=forgotten" in response.headers["location"]
    assert not await harness.pool.fetchval(
        "SELECT count(*) FROM subject_keys WHERE subject = $1", resident.user_id
    )
    page = await admin.get(f"/staff/certificates/requests/{request_id}")
    assert NAME not in page.text and ADDRESS not in page.text and "（消去済み）" in page.text
    assert (await admin.get(f"/staff/certificates/requests/{request_id}/photo")).status_code == 404
    audit = await admin.get("/staff/certificates/audit")
    assert "個人情報の消去" in audit.text


async def test_the_dashboard_shows_the_queue_and_todays_counts(harness: Harness) -> None:
    _resident, request_id = await paid_request(harness)
    clerk, _csrf = harness.staff(CLERK)
    number = (await harness.request_row(request_id) or {})["number"]

    async def listed() -> bool:
        fragment = await clerk.get("/staff/certificates/fragments/queue")
        return number in fragment.text

    await wait_for(listed, message="the request is in the queue")
    home = await clerk.get("/staff/certificates/")
    assert home.status_code == 200 and "本人確認待ち" in home.text and "目標 48時間以内" in home.text

    async def counted() -> bool:  # the daily counts are a projection of their own
        stats = await clerk.get("/staff/certificates/fragments/stats")
        return re.search(r'data-stat="paid">\s*1件', stats.text) is not None

    await wait_for(counted, message="today's counts include the payment")
    api = await clerk.get("/staff/certificates/api/requests", params={"status": "paid"})
    assert [r["number"] for r in api.json()] == [number]
    assert "name_token" not in api.text

    # The live stream announces a change when a projection moves.
    async with clerk.stream("GET", "/staff/certificates/live") as stream:
        lines = stream.aiter_lines()
        assert (await anext(lines)).startswith("retry:")
        await harness.cert.desk.approve(CLERK, request_id)

        async def update() -> str:
            async for line in lines:
                if line.startswith("event:"):
                    return line
            return ""

        assert await asyncio.wait_for(update(), 15) == "event: update"


async def test_the_provider_port_opens_checkouts_on_the_providers_pages(harness: Harness) -> None:
    # The provider's own API and pages are tested in tools/payment-simulator.
    client = harness.http()
    checkout = await harness.cert.provider.create_checkout(uuid.uuid4(), 410, "https://line.me/R/")
    same = await harness.cert.provider.create_checkout(uuid.UUID(int=0), 410, "https://line.me/R/")
    assert checkout.checkout_id != same.checkout_id
    page = await client.get(urlsplit(checkout.url).path)
    assert "410円を支払う" in page.text and "支払いをやめる" in page.text


async def test_a_payment_after_expiry_is_refunded_and_explained(harness: Harness) -> None:
    resident = harness.resident()
    request_id, summary = await draft(harness, resident)
    link = await resident.tap(find_postback(summary, "確定"), expect="お支払い額")
    still_open = await checkout_of(link)
    harness.clock.advance(timedelta(minutes=31))
    await harness.sweep()
    await resident.expect("お支払いの期限が過ぎたため")
    async with httpx.AsyncClient(timeout=20) as browser:
        page = await browser.get(find_uri(link, "支払う"))  # the button no longer leads to a checkout
    assert page.status_code == 200 and "お支払いの期限が過ぎたため" in page.text
    await pay(harness, still_open)  # the checkout page was still open
    told = await resident.expect("期限切れ・取り消しのあとにお支払いがあったため")
    assert "710円を返金します" in content(told)
    await wait_for(
        lambda: harness.pool.fetchval("SELECT count(*) FROM certificate_refunds"), message="refund due"
    )
    await harness.sweep()
    await resident.expect("返金手続きが完了しました")
    await harness.wait_status(request_id, "expired")


async def test_an_answer_to_a_request_that_closed_meanwhile_is_told_not_failed(harness: Harness) -> None:
    resident = harness.resident()
    carousel = await resident.tap(MENU, expect="申請できる証明書の一覧")
    scope = await resident.tap(find_postback(carousel, "申請する"), expect="記載する人の範囲")
    request_id = request_id_of(find_postback(scope, "本人のみ"))
    harness.clock.advance(timedelta(minutes=31))
    await harness.sweep()
    await resident.expect("入力の途中のまま30分以上たったため")
    # An old button: the request is over.
    await resident.tap(find_postback(scope, "本人のみ"), expect="以前のご案内")
    # A session that still pointed at it (the expiry notice not handled yet): told, not a failure.
    await harness.pool.execute(
        "INSERT INTO dialog_sessions (user_id, request_id, awaiting) VALUES ($1, $2, 'copies')",
        resident.user_id,
        request_id,
    )
    await resident.say("2", expect="すでに受付を終了しているため")
    assert (
        await harness.pool.fetchval(
            "SELECT count(*) FROM dialog_sessions WHERE user_id = $1", resident.user_id
        )
        == 0
    )
    dead = await harness.bus.pool.fetchval("SELECT count(*) FROM messages WHERE topic LIKE 'dlq.%'")
    assert dead == 0


class StalledContent:
    """LINE's content API not answering: every download hangs until the test lets it time out."""

    def __init__(self) -> None:
        self.waiting = 0
        self.time_out = asyncio.Event()

    async def download(self, message_id: str) -> bytes:
        self.waiting += 1
        await self.time_out.wait()
        raise TimeoutError(f"content of {message_id}")


async def test_a_stalled_photo_download_stalls_no_one_else_and_its_sender_is_told(harness: Harness) -> None:
    stalled = harness.resident()
    await up_to_the_photo(stalled)
    content_api = StalledContent()
    harness.cert.dialog.content = content_api
    stored = await harness.line.post(
        "/_inspect/content", content=licence_photo(), headers={"content-type": "image/jpeg"}
    )
    mark = await stalled.send("image", message_id=stored.json()["messageId"])
    await wait_for(lambda: content_api.waiting == 1, timeout=20)

    # Other residents are answered, turn after turn, while the download hangs.
    others = [harness.resident() for _ in range(2)]
    await asyncio.gather(*(up_to_the_photo(other) for other in others))
    assert content_api.waiting == 1 and not content_api.time_out.is_set()
    assert len(await stalled.messages()) == mark, (
        "the stalled resident was answered before the download ended"
    )

    content_api.time_out.set()
    await stalled.expect("写真を受け取れませんでした。もう一度お送りください。", since=mark)


async def test_an_intent_that_fails_for_good_is_answered_with_an_apology(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a defect in the dialog")

    monkeypatch.setattr(harness.cert.dialog.dialog, "decide", broken)
    resident = harness.resident()
    mark = await resident.send("postback", postback_data=MENU)
    await resident.expect(
        "申し訳ありません。ただいま処理できませんでした。しばらくしてからもう一度お試しください。", since=mark
    )
