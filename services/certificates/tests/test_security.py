"""Who may see what: staff login and department roles on every page and staff API, CSRF on every
decision, the ID photo only for the certificates role, each view in the audit log, and the
provider's callback accepted only with its signature."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from cityhall.certificates.events import request_stream
from cityhall.payment_protocol import SIGNATURE_HEADER, sign
from cityhall.web import StaffUser

from .conftest import ADMIN, CLERK, ROADS, Harness
from .test_service import paid_request

PAGES = [
    "/staff/certificates/",
    "/staff/certificates/fragments/queue",
    "/staff/certificates/fragments/stats",
    "/staff/certificates/requests/{id}",
    "/staff/certificates/requests/{id}/photo",
    "/staff/certificates/audit",
]
API = ["/staff/certificates/api/requests"]
POSTS = ["approve", "reject", "issue", "mail"]


@pytest.fixture
async def request_id(harness: Harness) -> uuid.UUID:
    _resident, rid = await paid_request(harness)
    return rid


async def test_unauthenticated_pages_redirect_to_login(harness: Harness, request_id: uuid.UUID) -> None:
    browser = harness.http()
    for page in PAGES:
        path = page.format(id=request_id)
        response = await browser.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/staff/login?next=/staff/certificates/"), path
    for path in API:
        assert (await browser.get(path)).status_code == 401
    for action in POSTS:
        response = await browser.post(f"/staff/certificates/requests/{request_id}/{action}", data={})
        assert response.status_code in (303, 403), action
    assert (await harness.request_row(request_id) or {})["status"] == "paid"


async def test_another_departments_staff_get_403(harness: Harness, request_id: uuid.UUID) -> None:
    roads, csrf = harness.staff(ROADS)
    for page in PAGES:
        path = page.format(id=request_id)
        response = await roads.get(path)
        assert response.status_code == 403, path
        assert "権限がありません" in response.text
    assert (await roads.get(API[0])).status_code == 403
    for action in POSTS:
        response = await roads.post(
            f"/staff/certificates/requests/{request_id}/{action}", data={"csrf_token": csrf}
        )
        assert response.status_code == 403, action
    assert (await harness.request_row(request_id) or {})["status"] == "paid"
    # Nothing was viewed, so nothing is in the audit log under their name.
    assert await harness.pool.fetchval("SELECT count(*) FROM audit_log WHERE actor = 'roads-clerk'") == 0


async def test_the_id_photo_url_needs_the_certificates_role(harness: Harness, request_id: uuid.UUID) -> None:
    url = f"/staff/certificates/requests/{request_id}/photo"
    anonymous = await harness.http().get(url)
    assert anonymous.status_code == 303 and not anonymous.content.startswith(b"\xff\xd8")
    roads, _ = harness.staff(ROADS)
    refused = await roads.get(url)
    assert refused.status_code == 403 and not refused.content.startswith(b"\xff\xd8")
    # A session with a forged signature is nobody.
    forged = harness.http()
    forged.cookies.set("cityhall_staff", "eyJ1IjoiY2VydC1jbGVyayJ9.forged.signature")
    assert (await forged.get(url)).status_code == 303
    # An admin-only person without the clerk role does not see photos either.
    admin_only = StaffUser("auditor", "監査 担当", frozenset({"certificates-admin"}))
    auditor, _ = harness.staff(admin_only)
    assert (await auditor.get(url)).status_code == 403
    clerk, _ = harness.staff(CLERK)
    allowed = await clerk.get(url)
    assert allowed.status_code == 200 and allowed.content.startswith(b"\xff\xd8")
    assert allowed.headers["cache-control"].startswith("no-store")


async def test_the_audit_log_records_each_view_and_admins_read_it(
    harness: Harness, request_id: uuid.UUID
) -> None:
    clerk, _ = harness.staff(CLERK)
    stream = request_stream(request_id)
    for _ in range(2):
        assert (await clerk.get(f"/staff/certificates/requests/{request_id}")).status_code == 200
    assert (await clerk.get(f"/staff/certificates/requests/{request_id}/photo")).status_code == 200
    rows = await harness.pool.fetch(
        "SELECT actor, action, detail, at FROM audit_log WHERE subject = $1 ORDER BY id", stream
    )
    assert [(r["actor"], r["action"]) for r in rows] == [
        ("cert-clerk", "view_personal_data"),
        ("cert-clerk", "view_personal_data"),
        ("cert-clerk", "view_id_photo"),
    ]
    detail = rows[0]["detail"]
    assert detail["actor_name"] == "証明書係 市川"
    assert set(detail["fields"]) == {"name", "birth_date", "address", "phone"}
    assert all(r["at"] is not None for r in rows)

    # Clerks cannot read the log; the department's admins can.
    assert (await clerk.get("/staff/certificates/audit")).status_code == 403
    admin, _ = harness.staff(ADMIN)
    page = await admin.get("/staff/certificates/audit")
    assert page.status_code == 200
    assert page.text.count("個人情報の閲覧") >= 2 and "本人確認書類の写真の閲覧" in page.text
    assert "証明書係 市川" in page.text


async def test_decisions_need_the_csrf_token(harness: Harness, request_id: uuid.UUID) -> None:
    clerk, csrf = harness.staff(CLERK)
    refused = await clerk.post(f"/staff/certificates/requests/{request_id}/approve", data={})
    assert refused.status_code == 403
    wrong = await clerk.post(
        f"/staff/certificates/requests/{request_id}/approve", data={"csrf_token": "x" * 64}
    )
    assert wrong.status_code == 403
    assert (await harness.request_row(request_id) or {})["status"] == "paid"
    accepted = await clerk.post(
        f"/staff/certificates/requests/{request_id}/approve", data={"csrf_token": csrf}
    )
    assert accepted.status_code == 303


async def test_errors_show_no_stack_trace(harness: Harness) -> None:
    clerk, _ = harness.staff(CLERK)
    missing = await clerk.get(f"/staff/certificates/requests/{uuid.uuid4()}")
    assert missing.status_code == 404 and "申請が見つかりません" in missing.text
    bad = await clerk.get("/staff/certificates/requests/not-a-uuid")
    assert bad.status_code == 400 and "Traceback" not in bad.text


async def test_a_forged_payment_callback_gets_400_and_changes_nothing(
    harness: Harness, request_id: uuid.UUID
) -> None:
    body = json.dumps(
        {
            "notice_id": "nt_x",
            "kind": "failed",
            "checkout_id": "co_x",
            "reference": str(request_id),
            "amount": 710,
            "at": "2025-04-01T00:00:00+00:00",
        }
    ).encode()
    client = harness.http()
    before = len(await harness.events(request_id))
    for headers in ({}, {SIGNATURE_HEADER: "f" * 64}, {SIGNATURE_HEADER: sign("guess", body)}):
        response = await client.post("/staff/certificates/payments/callback", content=body, headers=headers)
        assert response.status_code == 400
    # A signed body that is not a notice is refused too.
    junk = b'{"hello": "world"}'
    response = await client.post(
        "/staff/certificates/payments/callback",
        content=junk,
        headers={SIGNATURE_HEADER: sign(harness.provider.secret, junk)},
    )
    assert response.status_code == 400
    assert len(await harness.events(request_id)) == before


def memory_kib(field: str) -> int:
    """`VmRSS` (now) or `VmHWM` (the peak since the last reset) of this process, which also
    runs the test server."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/self/status")


def reset_peak_memory() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM starts again from VmRSS


async def test_a_100_mb_chunked_callback_gets_413_without_being_held(harness: Harness) -> None:
    url = urlsplit(harness.url)
    assert url.hostname is not None and url.port is not None
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    data = b"x" * (1024 * 1024)
    chunk = b"%x\r\n%s\r\n" % (len(data), data)
    reset_peak_memory()
    before = memory_kib("VmRSS")

    async def send() -> None:  # 100 MB, no Content-Length: the bound must be counted as it streams
        writer.write(
            b"POST /staff/certificates/payments/callback HTTP/1.1\r\nHost: %s\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" % url.netloc.encode()
        )
        for _ in range(100):
            writer.write(chunk)
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    sender = asyncio.create_task(send())
    try:
        status = await asyncio.wait_for(reader.readline(), timeout=30)
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await sender
        writer.close()
    assert status.split()[1] == b"413", status
    grown_mib = (memory_kib("VmHWM") - before) / 1024
    assert grown_mib < 8, f"the server held the body: memory grew by {grown_mib:.0f} MiB"
