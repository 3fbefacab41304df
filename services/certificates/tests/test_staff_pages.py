"""The staff pages' finer points: one audit entry per view of a request page, clerks named by
their names in a request's history, the audit log's filters and pages, and erasing an
applicant's personal data found by a request number, after a confirm step."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from urllib.parse import unquote

from cityhall.certificates.events import request_stream
from cityhall.certificates.projections import JST
from cityhall.web import AUDIT_PAGE_SIZE, record_view

from .conftest import ADMIN, CLERK, Harness
from .test_service import ADDRESS, NAME, paid_request

AUDIT = "/staff/certificates/audit"
FORGET = "/staff/certificates/residents/forget"
ROW = re.compile(r'<tr data-action="([a-z_]+)"')


def rows(html: str) -> list[str]:
    return ROW.findall(html)


async def test_one_view_of_a_request_page_is_one_audit_entry_and_the_history_names_clerks(
    harness: Harness,
) -> None:
    _resident, request_id = await paid_request(harness)
    await harness.cert.desk.approve(CLERK, request_id)
    await harness.wait_status(request_id, "approved")
    clerk, _ = harness.staff(CLERK)
    page = await clerk.get(f"/staff/certificates/requests/{request_id}")
    # What the browser does next: load the photo the page shows.
    src = re.search(r'<img src="([^"]+)"[^>]*class="id-photo"', page.text)
    assert src, "the page shows the photo"
    photo = await clerk.get(src.group(1).replace("&amp;", "&"))
    assert photo.status_code == 200 and photo.content.startswith(b"\xff\xd8")
    views = await harness.pool.fetch(
        "SELECT action, detail FROM audit_log WHERE subject = $1 AND action LIKE 'view%'",
        request_stream(request_id),
    )
    assert [v["action"] for v in views] == ["view_personal_data"]
    assert views[0]["detail"]["photo_id"] and set(views[0]["detail"]["fields"]) == {
        "name",
        "birth_date",
        "address",
        "phone",
    }
    admin, _ = harness.staff(ADMIN)
    audit = await admin.get(AUDIT)
    assert rows(audit.text).count("view_personal_data") == 1 and "view_id_photo" not in rows(audit.text)
    assert "住所・電話番号・本人確認書類の写真" in audit.text
    assert 'data-field="seal_number"' not in page.text  # a 住民票 asks no 印鑑登録証 number

    # The history names the clerk, not the account id.
    assert "本人確認を承認（証明書係 市川）" in page.text and "（cert-clerk）" not in page.text
    # An account the log knows nothing of (say, removed with its entries) shows by its id.
    await harness.pool.execute("DELETE FROM audit_log WHERE actor = 'cert-clerk'")
    again = await admin.get(f"/staff/certificates/requests/{request_id}")
    assert "本人確認を承認（cert-clerk）" in again.text


async def test_the_audit_log_filters_by_person_action_and_period_and_pages(harness: Harness) -> None:
    for i in range(AUDIT_PAGE_SIZE + 5):
        await record_view(harness.pool, CLERK, "view_personal_data", f"s-{i}", department="certificates")
    await record_view(harness.pool, ADMIN, "approve_identity", "s-0", department="certificates")
    admin, _ = harness.staff(ADMIN)

    first = await admin.get(AUDIT)
    assert first.status_code == 200 and len(rows(first.text)) == AUDIT_PAGE_SIZE
    assert '<option value="cert-clerk">証明書係 市川（cert-clerk）</option>' in first.text
    older = re.search(r'href="([^"]+)" rel="next">さらに古い記録', first.text)
    assert older
    second = await admin.get(unquote(older.group(1)).replace("&amp;", "&"))
    assert len(rows(second.text)) == 6 and "さらに古い記録" not in second.text
    assert "最新の記録へ" in second.text

    by_admin = await admin.get(AUDIT, params={"actor": "cert-admin"})
    assert rows(by_admin.text) == ["approve_identity"]
    assert 'value="cert-admin" selected' in by_admin.text  # the form keeps the filter
    by_action = await admin.get(AUDIT, params={"action": "approve_identity", "actor": ""})
    assert rows(by_action.text) == ["approve_identity"]

    today = datetime.now(JST).date().isoformat()  # the entries' time is the database's
    paged = await admin.get(AUDIT, params={"actor": "cert-clerk", "from": "2020-01-01", "to": today})
    assert len(rows(paged.text)) == AUDIT_PAGE_SIZE
    kept = re.search(r'href="([^"]+)" rel="next"', paged.text)
    assert kept and "actor=cert-clerk" in kept.group(1) and "from=2020-01-01" in kept.group(1)
    past = await admin.get(AUDIT, params={"from": "2020-01-01", "to": "2020-01-31"})
    assert rows(past.text) == [] and "条件に合う記録はありません" in past.text
    backwards = await admin.get(AUDIT, params={"from": "2020-02-01", "to": "2020-01-01"})
    assert backwards.status_code == 200 and rows(backwards.text) == []
    assert "期間の日付を正しく入力してください" in backwards.text
    malformed = await admin.get(AUDIT, params={"from": "昨日"})
    assert "期間の日付を正しく入力してください" in malformed.text


async def test_erasure_by_request_number_after_a_confirm_step(harness: Harness) -> None:
    resident, request_id = await paid_request(harness)
    number = (await harness.request_row(request_id) or {})["number"]
    admin, csrf = harness.staff(ADMIN)
    audit = await admin.get(AUDIT)
    assert 'name="number"' in audit.text and "LINE ユーザー ID" not in audit.text

    # Typed the way people type it: lower case, full width, without 「C-」.
    typed = number.removeprefix("C-").lower().translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"})
    confirm = await admin.get(FORGET, params={"number": typed})
    assert confirm.status_code == 200, confirm.headers.get("location")
    assert f"申請 {number} の申請者の個人情報を消去しますか" in confirm.text
    assert "元に戻すことはできません" in confirm.text and "対象の申請（1件）" in confirm.text
    assert f'name="request_id" value="{request_id}"' in confirm.text
    # Nothing is erased by looking at the confirm step.
    page = await admin.get(f"/staff/certificates/requests/{request_id}")
    assert NAME in page.text
    assert f'href="/staff/certificates/residents/forget?request={request_id}"' in page.text
    from_page = await admin.get(FORGET, params={"request": str(request_id)})
    assert f"申請 {number} の申請者" in from_page.text

    # Clerks may not erase.
    clerk, clerk_csrf = harness.staff(CLERK)
    assert (await clerk.get(FORGET, params={"number": number})).status_code == 403
    refused = await clerk.post(FORGET, data={"csrf_token": clerk_csrf, "request_id": str(request_id)})
    assert refused.status_code == 403
    assert "消去する" not in (await clerk.get(f"/staff/certificates/requests/{request_id}")).text

    for bad, code in (("C-12", "invalid_number"), ("C-00000000", "unknown_number")):
        response = await admin.get(FORGET, params={"number": bad})
        assert response.status_code == 303 and f"error={code}" in response.headers["location"]
    told = await admin.get(f"{AUDIT}?error=invalid_number")
    assert "受付番号は「C-」と英数字8文字で入力してください" in told.text
    missing = await admin.post(FORGET, data={"csrf_token": csrf, "request_id": str(uuid.uuid4())})
    assert "error=unknown_number" in missing.headers["location"]

    done = await admin.post(FORGET, data={"csrf_token": csrf, "request_id": str(request_id)})
    assert "done=forgotten" in done.headers["location"]
    page = await admin.get(f"/staff/certificates/requests/{request_id}")
    assert NAME not in page.text and ADDRESS not in page.text and "（消去済み）" in page.text
    entry = await harness.pool.fetchrow(
        "SELECT subject, detail FROM audit_log WHERE action = 'forget_resident'"
    )
    assert entry["subject"] == f"resident-{resident.user_id}" and entry["detail"]["number"] == number
    log = await admin.get(AUDIT, params={"action": "forget_resident"})
    assert rows(log.text) == ["forget_resident"] and f"申請 {number} の申請者" in log.text
