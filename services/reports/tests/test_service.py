"""A resident reports a pothole in LINE with a photo and a location; a second resident is offered
the first report and subscribes to it; 道路管理課 accepts, works and resolves it with an
after-photo; both residents are told at each step; the reporter rates it. Through the kit's
harness: the runtime's composition, notify, the LINE emulator."""

from __future__ import annotations

import io
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

from PIL import Image

from cityhall.events.testing import wait_for
from cityhall.line.testing import Resident, find_postback
from cityhall.reports.events import ReportFiled, ReportSubscribed

from .conftest import CLERK, PARKS, Harness

HALL = {"title": "位置情報", "address": "ポケット市本町1丁目付近", "latitude": 35.6604, "longitude": 139.535}
NEAR_HALL = HALL | {"latitude": 35.66045}  # about 6 m north
COMMENT = "横断歩道の手前に深い穴があります。自転車が転びそうです。"


def jpeg(colour: tuple[int, int, int] = (90, 90, 90)) -> bytes:
    image = Image.new("RGB", (800, 600), colour)
    exif = Image.Exif()
    exif[0xA431] = "SERIAL-777"
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


async def to_location(resident: Resident) -> dict[str, Any]:
    asked = await resident.tap("domain=reports&action=menu", expect="通報の種類")
    photo = await resident.tap(find_postback(asked, "道路の穴・陥没"), expect="写真を1〜3枚")
    assert "110" in str(photo) and "0299-00-1301" in str(photo)
    got = await resident.send_photo(jpeg(), expect="写真を受け取りました（1/3枚）")
    return await resident.tap(find_postback(got, "次へ"), expect="位置情報でお送りください")


async def file(resident: Resident, location: dict[str, Any] = HALL) -> tuple[str, uuid.UUID]:
    await to_location(resident)
    mark = await resident.send("location", location=location)
    comment = await resident.expect("補足", since=mark)
    summary = await resident.say(COMMENT, expect="通報内容の確認")
    assert find_postback(comment, "なし")
    send = find_postback(summary, "送信")
    receipt = await resident.tap(send, expect="受付番号")
    number = re.search(r"R-[0-9A-F]{8}", str(receipt))
    assert number is not None
    report_id = re.search(r"r=([0-9a-f]{32})", send)
    assert report_id is not None
    return number.group(0), uuid.UUID(hex=report_id.group(1))


async def test_a_report_from_line_to_resolution_with_a_duplicate_subscriber(harness: Harness) -> None:
    reporter, neighbour = harness.resident(), harness.resident()
    number, report_id = await file(reporter)
    store = harness.composed.service("reports").context.require_store()
    [filed] = [r for r in await store.read_all(limit=1000) if r.type == ReportFiled.TYPE]
    assert COMMENT not in str(filed.envelope.data) and "本町1丁目" not in str(filed.envelope.data)
    pool = harness.composed.service("reports").context.require_pool()
    sealed = await pool.fetchval("SELECT sealed FROM report_photos LIMIT 1")
    assert b"SERIAL-777" not in sealed

    # The neighbour reports the same hole a few metres away: offered the report, subscribes.
    await to_location(neighbour)
    mark = await neighbour.send("location", location=NEAR_HALL)
    offer = await neighbour.expect("この通報と同じですか？", since=mark)
    assert number in str(offer)
    await neighbour.tap(find_postback(offer, f"{number}と同じ"), expect="同じ件として承りました")
    assert len([r for r in await store.read_all(limit=1000) if r.type == ReportFiled.TYPE]) == 1
    assert len([r for r in await store.read_all(limit=1000) if r.type == ReportSubscribed.TYPE]) == 1
    assert await pool.fetchval("SELECT count(*) FROM report_photos") == 2  # the neighbour's draft photo went

    clerk, csrf = harness.staff(CLERK)

    async def listed() -> bool:
        return number in (await clerk.get("/staff/reports/")).text

    await wait_for(listed, timeout=20, message="the report in 道路管理課's queue")
    page = await clerk.get(f"/staff/reports/reports/{report_id}")
    assert page.status_code == 200 and COMMENT in page.text and "本町" in page.text
    [photo_id] = await pool.fetchval("SELECT photos FROM reports_reports WHERE report_id = $1", report_id)
    shown = await clerk.get(f"/staff/reports/reports/{report_id}/photos/{photo_id}")
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/jpeg"
    assert b"SERIAL-777" not in shown.content
    audited = await pool.fetch("SELECT action FROM audit_log WHERE actor = $1 ORDER BY id", CLERK.username)
    assert [r["action"] for r in audited] == ["view_report", "view_report_photo"]

    # Another department's clerk sees neither the report nor its photo.
    parks, _ = harness.staff(PARKS)
    assert (await parks.get(f"/staff/reports/reports/{report_id}")).status_code == 403
    assert (await parks.get(f"/staff/reports/reports/{report_id}/photos/{photo_id}")).status_code == 403

    async def act(action: str, **form: Any) -> str:
        files = form.pop("files", None)
        response = await clerk.post(
            f"/staff/reports/reports/{report_id}/{action}", data={"csrf_token": csrf, **form}, files=files
        )
        assert response.status_code == 303
        return str(response.headers["location"])

    marks = [await reporter.count(), await neighbour.count()]
    assert "done=accept" in await act("accept")
    await reporter.expect("内容を確認しました", since=marks[0])
    await neighbour.expect("内容を確認しました", since=marks[1])
    assert "error=not_new" in await act("accept")  # a double submit changes nothing
    assert "done=start" in await act("start")
    await neighbour.expect("対応中です", since=marks[1])
    assert "error=not_an_image" in await act(
        "resolve", note="x", files={"after_photo": ("a.pdf", b"%PDF-1.4")}
    )
    assert "done=resolve" in await act(
        "resolve", note="穴を埋めて舗装しました。", files={"after_photo": ("after.jpg", jpeg((20, 120, 20)))}
    )
    done = await reporter.expect("対応が完了しました", since=marks[0])
    assert "穴を埋めて舗装しました。" in str(done)
    messages = (await reporter.messages())[marks[0] :]
    [image] = [m for m in messages if m.get("type") == "image"]
    after = await harness.composed.http().get(urlsplit(image["originalContentUrl"]).path)
    assert after.status_code == 200 and after.headers["content-type"] == "image/jpeg"
    question = await reporter.expect("対応に満足されましたか？", since=marks[0])
    await reporter.tap(find_postback(question, "満足"), expect="ご回答ありがとうございました")
    await reporter.tap(find_postback(question, "不満"), expect="すでにご回答いただいています")

    async def rated() -> bool:
        return "100%" in (await clerk.get("/staff/reports/stats")).text

    await wait_for(rated, timeout=20, message="the answer in the satisfaction statistics")
    # Within 14 days the reporter can say it is not fixed: back in the queue.
    await reporter.tap(find_postback(question, "まだ直っていない"), expect="再度の対応を承りました")

    async def reopened() -> bool:
        return (
            await pool.fetchval("SELECT status FROM reports_reports WHERE report_id = $1", report_id)
            == "accepted"
        )

    await wait_for(reopened, timeout=20, message="the report reopened")


async def test_bad_input_is_refused_clearly_and_changes_nothing(harness: Harness) -> None:
    resident = harness.resident()
    await to_location(resident)
    mark = await resident.send("location", location={"latitude": 35.6812, "longitude": 139.7671})
    await resident.expect("区域外", since=mark)
    asked = await resident.tap("domain=reports&action=menu", expect="通報の種類")
    await resident.tap(find_postback(asked, "落書き"), expect="写真を1〜3枚")
    await resident.send_photo(
        b"%PDF-1.7 a document", expect="写真として読み取れませんでした", content_type="application/pdf"
    )
    await resident.send_photo(b"\xff\xd8\xff" + b"\x00" * (10 * 1024 * 1024), expect="10MBまで")
    pool = harness.composed.service("reports").context.require_pool()
    assert await pool.fetchval("SELECT count(*) FROM report_photos") == 0
    forged = f"domain=reports&action=send&r={uuid.uuid4().hex}"
    await resident.tap(forged, expect="有効期限")
    store = harness.composed.service("reports").context.require_store()
    assert not [r for r in await store.read_all(limit=1000) if r.type == ReportFiled.TYPE]


async def test_forgetting_the_reporter_shreds_comment_address_and_photos(harness: Harness) -> None:
    resident = harness.resident()
    number, report_id = await file(resident)
    clerk, csrf = harness.staff(CLERK)
    pool = harness.composed.service("reports").context.require_pool()

    async def projected() -> bool:
        return bool(
            await pool.fetchval("SELECT count(*) FROM reports_reports WHERE report_id = $1", report_id)
        )

    await wait_for(projected, timeout=20, message="the report projected")
    forgot = await clerk.post(f"/staff/reports/reports/{report_id}/forget", data={"csrf_token": csrf})
    assert forgot.status_code == 303
    page = await clerk.get(f"/staff/reports/reports/{report_id}")
    assert COMMENT not in page.text and "（消去済み）" in page.text and number in page.text
    assert await pool.fetchval("SELECT count(*) FROM report_photos") == 0
    history = await resident.tap("domain=reports&action=history", expect="これまでの通報")
    assert number in str(history)
