"""Open311 GeoReport v2 against the spec (https://wiki.open311.org/GeoReport_v2): an admin issues a
key; a client lists the services, reads a definition, posts a request (form-encoded, with
`api_key`) that joins 道路管理課's queue, and reads it back as json and xml; every refusal is the
spec's list of `{code, description}` with its HTTP status and changes nothing; a revoked key is
refused."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree as ET

import httpx

from cityhall.events.testing import wait_for
from cityhall.reports.open311 import key_hash

from .conftest import ADMIN, CLERK, Harness

API = "/open311/v2"
HALL = {"lat": "35.6604", "long": "139.535"}


async def issue_key(harness: Harness) -> str:
    admin, csrf = harness.staff(ADMIN)
    page = await admin.post(
        "/staff/reports/open311/keys", data={"csrf_token": csrf, "name": "まちなおしアプリ"}
    )
    assert page.status_code == 200 and "APIキーを発行しました" in page.text
    found = re.search(r'<code class="api-key">([^<]+)</code>', page.text)
    assert found is not None
    key = found.group(1)
    public = harness.composed.service("reports-public").context.require_pool()

    async def known() -> bool:
        return bool(
            await public.fetchval("SELECT count(*) FROM open311_keys WHERE key_hash = $1", key_hash(key))
        )

    await wait_for(known, timeout=20, message="the key at reports-public")
    assert key not in str(await public.fetch("SELECT * FROM open311_keys"))  # its hash only
    return key


def error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    [item] = response.json()
    assert set(item) == {"code", "description"} and item["code"] == status
    return str(item["description"])


async def test_services_and_definitions_in_json_and_xml(harness: Harness) -> None:
    client = harness.composed.http()
    services = (await client.get(f"{API}/services.json")).json()
    assert len(services) == 8
    light = next(s for s in services if s["service_code"] == "002")
    assert light["service_name"] == "街灯の故障" and light["metadata"] is True and light["type"] == "realtime"
    xml = ET.fromstring((await client.get(f"{API}/services.xml")).content)
    assert xml.tag == "services" and len(xml.findall("service")) == 8
    assert xml.find("service/service_code") is not None
    definition = (await client.get(f"{API}/services/008.json")).json()
    [size] = definition["attributes"]
    assert size["code"] == "size" and size["required"] is True and size["datatype"] == "singlevaluelist"
    assert {v["key"] for v in size["values"]} == {"small", "large"}
    xml_definition = ET.fromstring((await client.get(f"{API}/services/008.xml")).content)
    assert xml_definition.findtext("attributes/attribute/code") == "size"
    assert "999" in error(await client.get(f"{API}/services/999.json"), 404)
    assert error(await client.get(f"{API}/services.yaml"), 404)


async def test_a_posted_request_joins_the_queue_and_reads_back(harness: Harness) -> None:
    key = await issue_key(harness)
    client = harness.composed.http()
    store = harness.composed.service("reports-public").context.require_store()
    before = len(await store.read_all(limit=10_000))

    async def post(**form: str) -> httpx.Response:
        return await client.post(f"{API}/requests.json", data=form)

    assert "api_key" in error(await post(service_code="001", **HALL), 403)
    assert "api_key" in error(await post(api_key="o311_wrong", service_code="001", **HALL), 403)
    assert "service_code" in error(await post(api_key=key, **HALL), 400)
    assert "999" in error(await post(api_key=key, service_code="999", **HALL), 404)
    assert "lat and long" in error(await post(api_key=key, service_code="001"), 400)
    assert "outside" in error(
        await post(api_key=key, service_code="001", lat="35.6812", long="139.7671"), 400
    )
    assert "attribute[size]" in error(await post(api_key=key, service_code="008", **HALL), 400)
    not_form = await client.post(f"{API}/requests.json", json={"api_key": key, "service_code": "001", **HALL})
    assert "form-encoded" in error(not_form, 400)
    assert len(await store.read_all(limit=10_000)) == before  # nothing recorded

    posted = await post(
        api_key=key,
        service_code="001",
        description="歩道の段差が崩れています",
        email="hanako@example.jp",
        first_name="花子",
        phone="090-0000-1111",
        **HALL,
    )
    assert posted.status_code == 201, posted.text
    [item] = posted.json()
    number = item["service_request_id"]
    assert re.fullmatch(r"R-[0-9A-F]{8}", number) and "110" in item["service_notice"]
    public = harness.composed.service("reports-public").context.require_pool()
    sealed = await public.fetchval("SELECT sealed FROM open311_contacts")
    assert "hanako@example.jp" not in sealed and "hanako@example.jp" not in str(
        await store.read_all(limit=10_000)
    )

    clerk, csrf = harness.staff(CLERK)

    async def queued() -> bool:
        return number in (await clerk.get("/staff/reports/")).text

    await wait_for(queued, timeout=20, message="the Open311 request in 道路管理課's queue")
    pool = harness.composed.service("reports").context.require_pool()
    report_id = await pool.fetchval("SELECT report_id FROM reports_reports WHERE number = $1", number)
    page = await clerk.get(f"/staff/reports/reports/{report_id}")
    assert "歩道の段差が崩れています" in page.text and "open311" in page.text
    assert "hanako" not in page.text

    async def readable() -> bool:
        return (await client.get(f"{API}/requests/{number}.json")).status_code == 200

    await wait_for(readable, timeout=20, message="the request at reports-public")
    [unmoderated] = (await client.get(f"{API}/requests/{number}.json")).json()
    assert (
        unmoderated["status"] == "open" and unmoderated["lat"] is None and unmoderated["description"] is None
    )
    assert number not in str((await client.get(f"{API}/requests.json")).json())

    accepted = await clerk.post(f"/staff/reports/reports/{report_id}/accept", data={"csrf_token": csrf})
    assert accepted.status_code == 303

    async def listed() -> bool:
        return number in str((await client.get(f"{API}/requests.json", params={"status": "open"})).json())

    await wait_for(listed, timeout=20, message="the accepted request listed")
    [shown] = [
        r for r in (await client.get(f"{API}/requests.json")).json() if r["service_request_id"] == number
    ]
    assert (shown["lat"], shown["long"], shown["agency_responsible"]) == (35.6604, 139.535, "道路管理課")
    assert shown["status_notes"] == "確認済み" and shown["requested_datetime"].endswith("Z")
    xml = ET.fromstring((await client.get(f"{API}/requests/{number}.xml")).content)
    assert xml.tag == "service_requests" and xml.findtext("request/service_request_id") == number
    assert xml.findtext("request/status") == "open"
    assert number not in str((await client.get(f"{API}/requests.json", params={"status": "closed"})).json())
    assert "status" in error(await client.get(f"{API}/requests.json", params={"status": "maybe"}), 400)
    assert "start_date" in error(
        await client.get(f"{API}/requests.json", params={"start_date": "yesterday"}), 400
    )
    assert error(await client.get(f"{API}/requests/R-00000000.json"), 404)
    xml_error = await client.get(f"{API}/requests/R-00000000.xml")
    assert xml_error.status_code == 404 and ET.fromstring(xml_error.content).findtext("error/code") == "404"

    # Forgetting who wrote it shreds the description here and the contact at reports-public.
    forgot = await clerk.post(f"/staff/reports/reports/{report_id}/forget", data={"csrf_token": csrf})
    assert forgot.status_code == 303
    assert "歩道の段差が崩れています" not in (await clerk.get(f"/staff/reports/reports/{report_id}")).text

    async def shredded() -> bool:
        return not await public.fetchval("SELECT count(*) FROM open311_contacts")

    await wait_for(shredded, timeout=20, message="the Open311 contact shredded at reports-public")
    assert await public.fetchval("SELECT count(*) FROM subject_keys WHERE subject LIKE 'open311-%'") == 0

    # A revoked key is refused.
    admin, admin_csrf = harness.staff(ADMIN)
    key_id = await pool.fetchval("SELECT key_id FROM reports_open311_keys WHERE name = 'まちなおしアプリ'")
    revoked = await admin.post(
        f"/staff/reports/open311/keys/{key_id}/revoke", data={"csrf_token": admin_csrf}
    )
    assert revoked.status_code == 303

    async def refused() -> bool:
        return (await post(api_key=key, service_code="001", **HALL)).status_code == 403

    await wait_for(refused, timeout=20, message="the revoked key refused")


async def test_requests_are_listed_newest_first_in_pages_within_90_days_by_default(harness: Harness) -> None:
    public = harness.composed.service("reports-public").context.require_pool()
    now = datetime.now(UTC)

    async def moderated(number: str, category: str, days_ago: float, status: str = "accepted") -> None:
        filed = now - timedelta(days=days_ago)
        await public.execute(
            """INSERT INTO public_reports (report_id, number, category, district, latitude, longitude,
                                           status, filed_at, updated_at, department)
               VALUES ($1, $2, $3, 'honcho', 35.6604, 139.535, $4, $5, $5, 'roads')""",
            uuid.uuid4(), number, category, status, filed,
        )  # fmt: skip

    for day in range(1, 6):
        await moderated(f"R-0000000{day}", "pothole", day)
    await moderated("R-000000AA", "pothole", 100)  # outside the default window
    await moderated("R-000000BB", "graffiti", 2.2, status="resolved")
    await moderated("R-000000CC", "pothole", 1, status="open")  # not moderated: never listed
    client = harness.composed.http()

    async def numbers(**params: str) -> list[str]:
        response = await client.get(f"{API}/requests.json", params=params)
        assert response.status_code == 200, response.text
        return [r["service_request_id"] for r in response.json()]

    assert await numbers() == [
        "R-00000001",
        "R-00000002",
        "R-000000BB",
        "R-00000003",
        "R-00000004",
        "R-00000005",
    ]
    assert await numbers(status="open", page_size="2") == ["R-00000001", "R-00000002"]
    assert await numbers(status="open", page_size="2", page="2") == ["R-00000003", "R-00000004"]
    assert await numbers(status="open", page_size="2", page="4") == []
    assert await numbers(status="closed") == ["R-000000BB"]
    xml = ET.fromstring((await client.get(f"{API}/requests.xml", params={"page_size": "3"})).content)
    assert xml.tag == "service_requests"
    assert [r.findtext("service_request_id") for r in xml.findall("request")] == [
        "R-00000001",
        "R-00000002",
        "R-000000BB",
    ]
    assert await numbers(service_code="006") == ["R-000000BB"]
    old = (now - timedelta(days=120)).isoformat()
    assert "R-000000AA" in await numbers(start_date=old)
    window = {
        "start_date": (now - timedelta(days=4, hours=12)).isoformat(),
        "end_date": (now - timedelta(days=2, hours=12)).isoformat(),
    }
    assert await numbers(**window) == ["R-00000003", "R-00000004"]
    assert await numbers(service_request_id="R-000000AA,R-00000005") == ["R-000000AA", "R-00000005"]
    assert "page_size" in error(await client.get(f"{API}/requests.json", params={"page_size": "0"}), 400)
    assert "page" in error(await client.get(f"{API}/requests.json", params={"page": "x"}), 400)
    assert "start_date" in error(
        await client.get(f"{API}/requests.json", params={"start_date": now.isoformat(), "end_date": old}), 400
    )
    assert "999" in error(await client.get(f"{API}/requests.json", params={"service_code": "999"}), 404)


async def test_the_embedded_run_keeps_a_development_key_that_works(harness: Harness) -> None:
    context = harness.composed.service("reports").context
    path = context.settings.data_dir / "open311-api-key"
    assert path.stat().st_mode & 0o777 == 0o600
    key = path.read_text().strip()
    banner = harness.composed.service("reports").running.banner
    assert any(key in line and str(path) in line for line in banner)  # `make run` prints it
    client = harness.composed.http()

    async def accepted() -> bool:
        form = {"api_key": key, "service_code": "006", "description": "壁の落書き", **HALL}
        return (await client.post(f"{API}/requests.json", data=form)).status_code == 201

    await wait_for(accepted, timeout=20, message="the development key accepted")
