"""A resident reports a pothole in LINE with a photo and a location; a second resident is offered
the first report and subscribes to it; 道路管理課 accepts, works and resolves it with an
after-photo; both residents are told at each step; the reporter rates it. Through the kit's
harness: the runtime's composition, notify, the LINE emulator."""

from __future__ import annotations

import asyncio
import io
import os
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx
from PIL import Image

from cityhall import town
from cityhall.events.testing import wait_for
from cityhall.line.content import LineContent
from cityhall.line.testing import Resident, find_postback
from cityhall.reports.events import ReportFiled, ReportSubscribed
from cityhall.reports.handlers import Reports
from cityhall.reports.public import app as public_app

from .conftest import ADMIN, CLERK, PARKS, Harness

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
    hero = re.search(r"https?://[^\"']+/reports/static-map\.png\?lat=[0-9.]+&lng=[0-9.]+", str(summary))
    assert hero is not None, summary  # the small map of the point
    assert find_postback(comment, "なし")
    send = find_postback(summary, "送信")
    receipt = await resident.tap(send, expect="受付番号")
    number = re.search(r"R-[0-9A-F]{8}", str(receipt))
    assert number is not None
    report_id = re.search(r"r=([0-9a-f]{32})", send)
    assert report_id is not None
    return number.group(0), uuid.UUID(hex=report_id.group(1))


async def projected(harness: Harness, report_id: uuid.UUID) -> None:
    pool = harness.composed.service("reports").context.require_pool()

    async def there() -> bool:
        return bool(
            await pool.fetchval("SELECT count(*) FROM reports_reports WHERE report_id = $1", report_id)
        )

    await wait_for(there, timeout=20, message="the report in the read model")


async def test_a_report_from_line_to_resolution_with_a_duplicate_subscriber(harness: Harness) -> None:
    reporter, neighbour = harness.resident(), harness.resident()
    number, report_id = await file(reporter)
    store = harness.composed.service("reports").context.require_store()
    [filed] = [r for r in await store.read_all(limit=1000) if r.type == ReportFiled.TYPE]
    assert COMMENT not in str(filed.envelope.data) and "本町1丁目" not in str(filed.envelope.data)
    pool = harness.composed.service("reports").context.require_pool()
    sealed = await pool.fetchval("SELECT sealed FROM report_photos LIMIT 1")
    assert b"SERIAL-777" not in sealed
    summary = next(m for m in await reporter.messages() if "static-map.png" in str(m))
    small_map = re.search(r"/reports/static-map\.png\?lat=[0-9.]+&lng=[0-9.]+", str(summary))
    assert small_map is not None
    drawn = await harness.composed.http().get(small_map.group(0))
    assert drawn.status_code == 200 and drawn.headers["content-type"] == "image/png"
    outside = await harness.composed.http().get("/reports/static-map.png?lat=35.6812&lng=139.7671")
    assert outside.status_code == 404

    # The neighbour reports the same hole a few metres away: offered the report, subscribes.
    await to_location(neighbour)
    mark = await neighbour.send("location", location=NEAR_HALL)
    offer = await neighbour.expect("この通報と同じですか？", since=mark)
    assert number in str(offer)
    await neighbour.tap(find_postback(offer, f"{number}と同じ"), expect="同じ件として承りました")
    assert len([r for r in await store.read_all(limit=1000) if r.type == ReportFiled.TYPE]) == 1
    assert len([r for r in await store.read_all(limit=1000) if r.type == ReportSubscribed.TYPE]) == 1
    assert await pool.fetchval("SELECT count(*) FROM report_photos") == 2  # the neighbour's draft photo went

    async def followed() -> bool:
        return bool(await pool.fetchval("SELECT count(*) FROM reports_subscriptions"))

    await wait_for(followed, timeout=20, message="the neighbour's subscription in the read model")
    history = await neighbour.tap("domain=reports&action=history", expect="これまでの通報")
    assert number in str(history) and "道路の穴・陥没" in str(history)  # the report they follow

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
    admin, _ = harness.staff(ADMIN)
    log = await admin.get("/staff/reports/audit")
    assert (
        log.status_code == 200
        and "通報の閲覧" in log.text
        and number in log.text
        and "道路管理課 品川" in log.text
    )
    assert (await clerk.get("/staff/reports/audit")).status_code == 403

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
    large = io.BytesIO()  # a phone's after-photo: well over the runtime's default 1 MB body
    Image.frombytes("RGB", (1400, 1400), os.urandom(1400 * 1400 * 3)).save(large, "JPEG", quality=95)
    assert large.tell() > 2 * 1024 * 1024
    assert "done=resolve" in await act(
        "resolve", note="穴を埋めて舗装しました。", files={"after_photo": ("after.jpg", large.getvalue())}
    )
    done = await reporter.expect("対応が完了しました", since=marks[0])
    assert "穴を埋めて舗装しました。" in str(done)
    messages = (await reporter.messages())[marks[0] :]
    [image] = [m for m in messages if m.get("type") == "image"]
    after = await harness.composed.http().get(urlsplit(image["originalContentUrl"]).path)
    preview = urlsplit(image["previewImageUrl"])
    small = await harness.composed.http().get(preview.path, params=preview.query)
    assert small.status_code == 200 and len(small.content) < len(after.content)
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

    await projected(harness, report_id)
    forgot = await clerk.post(f"/staff/reports/reports/{report_id}/forget", data={"csrf_token": csrf})
    assert forgot.status_code == 303
    page = await clerk.get(f"/staff/reports/reports/{report_id}")
    assert COMMENT not in page.text and "（消去済み）" in page.text and number in page.text
    assert await pool.fetchval("SELECT count(*) FROM report_photos") == 0
    history = await resident.tap("domain=reports&action=history", expect="これまでの通報")
    assert number in str(history)


async def test_the_public_map_shows_moderated_reports_only_and_nobody_who_reported(harness: Harness) -> None:
    resident = harness.resident()
    number, report_id = await file(resident)
    public = harness.composed.http()
    clerk, csrf = harness.staff(CLERK)

    await projected(harness, report_id)
    assert number not in (await public.get("/reports/map")).text  # not moderated yet
    accepted = await clerk.post(f"/staff/reports/reports/{report_id}/accept", data={"csrf_token": csrf})
    assert accepted.status_code == 303

    async def shown() -> bool:
        return number in (await public.get("/reports/map")).text

    await wait_for(shown, timeout=20, message="the accepted report on the public map")
    # A resident's photo goes public only blurred, and only when a clerk publishes it.
    assert "public-photos" not in (await public.get("/reports/map")).text
    pool = harness.composed.service("reports").context.require_pool()
    [photo_id] = await pool.fetchval("SELECT photos FROM reports_reports WHERE report_id = $1", report_id)
    published = await clerk.post(
        f"/staff/reports/reports/{report_id}/photos/{photo_id}/publish",
        data={"csrf_token": csrf, "regions": "10,10,30,20\n60,60,20,20"},
    )
    assert "done=published" in published.headers["location"]
    bad = await clerk.post(
        f"/staff/reports/reports/{report_id}/photos/{photo_id}/publish",
        data={"csrf_token": csrf, "regions": "left top"},
    )
    assert "error=no_regions" in bad.headers["location"]

    async def with_photo() -> bool:
        return "public-photos" in (await public.get("/reports/map")).text

    await wait_for(with_photo, timeout=20, message="the published photo on the public map")
    url = re.search(
        r'src="(/staff/reports/public-photos/[0-9a-f-]+\.jpg)\?thumbnail=true"',
        (await public.get("/reports/map")).text,
    )
    assert url is not None
    thumb = await public.get(url.group(1), params={"thumbnail": "true"})
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert await pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'publish_report_photo'") == 1
    page = await public.get("/reports/map")
    assert "道路の穴・陥没" in page.text and "確認済み" in page.text and "本町" in page.text
    assert resident.user_id not in page.text and COMMENT not in page.text
    assert "<polygon" in page.text and "tile.openstreetmap" not in page.text  # offline: the outline only
    data = (await public.get("/reports/map.json")).json()
    [feature] = [f for f in data["features"] if f["properties"]["number"] == number]
    assert feature["geometry"]["coordinates"] == [HALL["longitude"], HALL["latitude"]]
    assert set(feature["properties"]) == {"number", "category", "status", "district", "filed"}


async def test_the_photos_of_a_draft_never_sent_are_deleted_after_a_day(harness: Harness) -> None:
    resident = harness.resident()
    await to_location(resident)  # a photo stored, then the resident walks away
    pool = harness.composed.service("reports").context.require_pool()
    assert await pool.fetchval("SELECT count(*) FROM report_photos") == 2  # the photo and its thumbnail
    sent = harness.resident()
    _number, report_id = await file(sent)
    await projected(harness, report_id)
    await pool.execute("UPDATE report_photos SET created_at = created_at - interval '2 days'")
    context = harness.composed.service("reports").context
    reports = Reports(
        pool, context.require_store(), LineContent(None, "unused"), public_url=context.settings.public_url
    )
    assert await reports.purge_drafts() == 2
    assert await pool.fetchval("SELECT count(*) FROM report_photos WHERE report_id = $1", report_id) == 2


async def test_assign_note_move_and_reject_with_a_reason(harness: Harness) -> None:
    resident = harness.resident()
    number, report_id = await file(resident)
    await projected(harness, report_id)
    roads, roads_csrf = harness.staff(CLERK)
    parks, parks_csrf = harness.staff(PARKS)

    async def act(client: Any, csrf: str, action: str, **form: str) -> str:
        response = await client.post(
            f"/staff/reports/reports/{report_id}/{action}", data={"csrf_token": csrf, **form}
        )
        assert response.status_code == 303
        return str(response.headers["location"])

    assert "done=assign" in await act(roads, roads_csrf, "assign", to="品川")
    assert "done=note" in await act(roads, roads_csrf, "note", text="現地確認は明日")
    assert "error=no_assignee" in await act(roads, roads_csrf, "assign", to=" ")
    assert "error=same_department" in await act(roads, roads_csrf, "move", department="roads")
    assert "done=moved" in await act(roads, roads_csrf, "move", department="parks")
    pool = harness.composed.service("reports").context.require_pool()

    async def moved() -> bool:
        return (
            await pool.fetchval("SELECT department FROM reports_reports WHERE report_id = $1", report_id)
            == "parks"
        )

    await wait_for(moved, timeout=20, message="the report in 公園緑地課's queue")
    assert (await roads.get(f"/staff/reports/reports/{report_id}")).status_code == 403
    page = await parks.get(f"/staff/reports/reports/{report_id}")
    assert page.status_code == 200 and "品川" in page.text and "現地確認は明日" in page.text
    assert number in (await parks.get("/staff/reports/")).text
    mark = await resident.count()
    assert "error=no_reason" in await act(parks, parks_csrf, "reject", reason="")
    assert "done=reject" in await act(
        parks, parks_csrf, "reject", reason="私有地のため、市では対応できません。"
    )
    told = await resident.expect("対応しないこととなりました", since=mark)
    assert "私有地のため" in str(told) and number in str(told)
    assert "error=not_open" in await act(parks, parks_csrf, "start")
    assert await resident.count("現地確認は明日") == 0  # internal notes stay inside


async def test_a_clerk_merges_a_duplicate_and_its_reporter_follows_the_original(harness: Harness) -> None:
    first, second = harness.resident(), harness.resident()
    original, original_id = await file(first)
    copy, copy_id = await file(second, HALL | {"latitude": 35.6615})  # 120 m away: not offered
    await projected(harness, copy_id)
    clerk, csrf = harness.staff(CLERK)

    async def act(report_id: uuid.UUID, action: str, **form: str) -> str:
        response = await clerk.post(
            f"/staff/reports/reports/{report_id}/{action}", data={"csrf_token": csrf, **form}
        )
        return str(response.headers["location"])

    assert "error=not_filed" in await act(copy_id, "duplicate", of="R-00000000")
    assert "error=self_duplicate" in await act(copy_id, "duplicate", of=copy)
    mark = await second.count()
    assert "done=duplicate" in await act(copy_id, "duplicate", of=original.lower())
    told = await second.expect("同じ件として対応します", since=mark)
    assert original in str(told) and copy in str(told)
    assert "done=start" in await act(original_id, "start")
    await first.expect("対応中です", since=0)
    await second.expect(f"【通報 {original}】対応中です", since=mark)


async def test_the_queue_filters_maps_and_lists_overdue_reports_for_escalation(harness: Harness) -> None:
    old, old_id = await file(harness.resident())
    new, new_id = await file(harness.resident(), HALL | {"latitude": 35.6615})  # 120 m away
    await projected(harness, old_id)
    await projected(harness, new_id)
    pool = harness.composed.service("reports").context.require_pool()
    # Filed four days ago: past 道路の穴's three-day SLA (the read model's time, as a slow week would leave it).
    await pool.execute(
        "UPDATE reports_reports SET filed_at = filed_at - interval '4 days' WHERE report_id = $1", old_id
    )
    clerk, csrf = harness.staff(CLERK)
    page = (await clerk.get("/staff/reports/")).text
    escalation = page.split('<ul class="escalation">')[1].split("</ul>")[0]
    assert "期限超過（1件）" in page and old in escalation and new not in escalation
    rows = re.findall(r"<tr( class=\"overdue\")?>\s*<td><a [^>]+>(R-[0-9A-F]{8})</a>", page)
    assert rows == [(' class="overdue"', old), ("", new)]  # the oldest first, highlighted
    pins = re.findall(r'<circle class="pin( overdue-pin)?"[^>]*><title>(R-[0-9A-F]{8}) ', page)
    assert pins == [(" overdue-pin", old), ("", new)]  # the department's map of its open reports
    assert old in (await clerk.get("/staff/reports/fragments/queue")).text  # the live region's refresh

    async def listed(**filters: str) -> list[str]:
        page = await clerk.get("/staff/reports/", params=filters)
        return re.findall(r"<td><a [^>]+>(R-[0-9A-F]{8})</a>", page.text)

    # The live stream tells the open queue pages to refresh when a report changes.
    async with clerk.stream("GET", "/staff/reports/live") as stream:
        lines = stream.aiter_lines()
        assert (await anext(lines)).startswith("retry:")
        accepted = await clerk.post(f"/staff/reports/reports/{new_id}/accept", data={"csrf_token": csrf})
        assert "done=accept" in accepted.headers["location"]
        events = (line async for line in lines if line.startswith("event:"))
        assert await asyncio.wait_for(anext(events), 15) == "event: update"
    assert await listed(status="accepted") == [new]
    assert await listed(status="open") == [old]
    assert await listed(category="pothole") == [old, new]
    assert await listed(category="streetlight") == []
    district = await pool.fetchval("SELECT district FROM reports_reports WHERE report_id = $1", old_id)
    other = next(d.key for d in town.districts() if d.key != district)
    assert await listed(district=district) == [old, new]
    assert await listed(district=other) == []
    # Another department's clerk sees neither in their queue.
    parks, _ = harness.staff(PARKS)
    assert old not in (await parks.get("/staff/reports/")).text


async def test_the_public_map_draws_tiles_only_when_a_tile_url_is_configured(harness: Harness) -> None:
    pool = harness.composed.service("reports-public").context.require_pool()
    tiled = public_app.create_app(pool, "https://tile.openstreetmap.org/{z}/{x}/{y}.png")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(tiled), base_url="http://town") as client:
        page = await client.get("/reports/map")
    assert page.status_code == 200 and "<polygon" in page.text
    assert re.search(r'<image href="https://tile\.openstreetmap\.org/15/\d+/\d+\.png"', page.text)
    assert "img-src 'self' https://tile.openstreetmap.org" in page.headers["content-security-policy"]
    offline = await harness.composed.http().get("/reports/map")  # the composed run: no tile URL
    assert "<image" not in offline.text
    assert "tile.openstreetmap.org" not in offline.headers["content-security-policy"]
