"""通報 across processes: signed webhooks → gateway → Kafka → reports (the photo downloaded from
the LINE emulator) → Kafka → notify → the emulator; a second resident offered the first report
subscribes to it; 道路管理課 accepts and resolves it on the dashboard and both residents are told.
A SIGKILL of reports while 送信 is in flight loses no report and files none twice.

Processes: the LINE emulator, `cityhall service gateway`, `notify`, `staff-portal` and `reports`,
each with its own database on the test Postgres, all on the test Kafka.
"""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from PIL import Image

from cityhall.events.testing import wait_for
from cityhall.line.testing import Resident, find_postback
from cityhall.web import StaffUser

from .harness import Deployment, LineClient

pytestmark = pytest.mark.timeout(600)

CLERK = StaffUser("roads-clerk", "道路管理課 品川", frozenset({"roads"}))
STREETLIGHT = {
    "title": "位置情報",
    "address": "ポケット市東町2丁目付近",
    "latitude": 35.6585,
    "longitude": 139.546,
}
NEARBY = STREETLIGHT | {"latitude": 35.65855}  # about 6 m north


def photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (40, 40, 60)).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture(scope="module")
def deployment(
    postgres_dsn: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    deployment = Deployment(postgres_dsn, kafka_bootstrap, tmp_path_factory.mktemp("reports"))
    for name in ("gateway", "notify", "staff-portal", "reports"):
        deployment.service(name)
    with deployment:
        yield deployment


async def to_location(resident: Resident) -> None:
    asked = await resident.tap("domain=reports&action=menu", expect="通報の種類")
    await resident.tap(find_postback(asked, "街灯の故障"), expect="写真を1〜3枚")
    got = await resident.send_photo(photo(), expect="写真を受け取りました（1/3枚）")
    await resident.tap(find_postback(got, "次へ"), expect="位置情報でお送りください")


async def summary(resident: Resident, location: dict[str, Any]) -> dict[str, Any]:
    await to_location(resident)
    mark = await resident.send("location", location=location)
    comment = await resident.expect("補足", since=mark)
    return await resident.tap(find_postback(comment, "なし"), expect="通報内容の確認")


async def query(deployment: Deployment, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(deployment.databases["reports"])
    try:
        rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
        return rows
    finally:
        await conn.close()


async def filed(deployment: Deployment) -> list[asyncpg.Record]:
    return await query(
        deployment, "SELECT stream FROM svc_reports.events WHERE type = 'cityhall.reports.report_filed.v1'"
    )


async def test_a_report_is_filed_offered_to_a_neighbour_and_resolved_from_the_dashboard(
    deployment: Deployment, line: LineClient
) -> None:
    reporter, neighbour = line.resident(), line.resident()
    confirm = await summary(reporter, STREETLIGHT)
    send = find_postback(confirm, "送信")
    receipt = await reporter.tap(send, expect="受付番号")
    number = re.search(r"R-[0-9A-F]{8}", str(receipt))
    assert number is not None
    await reporter.tap(send, expect="すでに受け付けています")

    async def projected() -> bool:  # the look-up reads the read model, which follows the events
        sql = "SELECT 1 FROM svc_reports.reports_reports WHERE number = $1"
        return bool(await query(deployment, sql, number.group(0)))

    await wait_for(projected, timeout=60, message="the report in the read model")
    await to_location(neighbour)
    mark = await neighbour.send("location", location=NEARBY)
    offer = await neighbour.expect("この通報と同じですか？", since=mark)
    await neighbour.tap(find_postback(offer, f"{number.group(0)}と同じ"), expect="同じ件として承りました")

    clerk, csrf = await deployment.clerk("reports", CLERK)
    found: list[str] = []

    async def listed() -> bool:
        page = (await clerk.get("/staff/reports/")).text
        found[:] = re.findall(r"/staff/reports/reports/([0-9a-f-]{36})", page)
        return number.group(0) in page and bool(found)

    try:
        await wait_for(listed, timeout=60, message="the report in 道路管理課's queue")
        report_id = uuid.UUID(found[0])
        marks = [await reporter.count(), await neighbour.count()]
        accepted = await clerk.post(f"/staff/reports/reports/{report_id}/accept", data={"csrf_token": csrf})
        assert accepted.status_code == 303 and "done=accept" in accepted.headers["location"]
        resolved = await clerk.post(
            f"/staff/reports/reports/{report_id}/resolve",
            data={"csrf_token": csrf, "note": "電球を交換しました。"},
            files={"after_photo": ("after.jpg", photo(), "image/jpeg")},
        )
        assert resolved.status_code == 303 and "done=resolve" in resolved.headers["location"]
        for resident, mark in zip((reporter, neighbour), marks, strict=True):
            await resident.expect("内容を確認しました", since=mark, timeout=60)
            await resident.expect("電球を交換しました。", since=mark, timeout=60)
            await resident.expect("対応に満足されましたか？", since=mark, timeout=60)
    finally:
        await clerk.aclose()
    assert len(await filed(deployment)) == 1


async def test_reports_sigkilled_while_send_is_in_flight_files_each_report_once(
    deployment: Deployment, line: LineClient
) -> None:
    residents = [line.resident() for _ in range(3)]
    sends = []
    for resident, shift in zip(residents, (0.0, 0.002, 0.004), strict=True):
        confirm = await summary(resident, STREETLIGHT | {"latitude": 35.652 + shift, "longitude": 139.525})
        sends.append(find_postback(confirm, "送信"))
    before = len(await filed(deployment))
    reports = deployment.services["reports"]
    marks = [await r.send("postback", postback_data=s) for r, s in zip(residents, sends, strict=True)]
    reports.kill()
    reports.start()
    for resident, mark in zip(residents, marks, strict=True):
        await resident.expect("受付番号", since=mark, timeout=90)
    assert len(await filed(deployment)) == before + 3
    for resident in residents:
        assert await resident.count("通報を受け付けました") == 1, resident.user_id
