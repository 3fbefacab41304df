"""住民票 by LINE across processes: signed webhooks → gateway → Kafka → certificates → Kafka → notify →
the LINE emulator, with the simulated payment provider as its own process and a clerk on the
certificates dashboard over HTTP.

Processes: the LINE emulator, `cityhall service gateway`, `notify`, `certificates` and
`payments-sim`, each with its own database on the test Postgres, all on the test Kafka.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import asyncpg
import httpx
import pytest
from PIL import Image, ImageDraw

from cityhall.events.testing import wait_for
from cityhall.line.testing import Resident, content, find_postback, find_uri
from cityhall.payment_simulator.testing import press
from cityhall.web import StaffUser

from .harness import SESSION_SECRET, Deployment, LineClient

pytestmark = pytest.mark.timeout(900)

PAYMENTS_SECRET = "integration-payments-secret"
CLERK = StaffUser("cert-clerk", "証明書係 市川", frozenset({"certificates"}))
MENU = "domain=certificates&action=menu"


@pytest.fixture(scope="module")
def deployment(
    postgres_dsn: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    deployment = Deployment(postgres_dsn, kafka_bootstrap, tmp_path_factory.mktemp("certificates"))
    deployment.service("gateway")
    deployment.service("notify", env={"NOTIFY_WORKERS": "4"})
    sim = deployment.service("payments-sim", env={"CITYHALL_PAYMENTS_SECRET": PAYMENTS_SECRET})
    deployment.service("staff-portal")  # certificates checks staff sessions against it
    deployment.service(
        "certificates",
        env={
            "CITYHALL_PAYMENTS_URL": f"{sim.url}/pay",
            "CITYHALL_PAYMENTS_SECRET": PAYMENTS_SECRET,
            "CITYHALL_SESSION_SECRET": SESSION_SECRET,
            "CITYHALL_CERTIFICATES_SWEEP_SECONDS": "0.5",
        },
    )
    with deployment:
        yield deployment


def licence_photo() -> bytes:
    image = Image.new("RGB", (400, 250), (230, 238, 226))
    ImageDraw.Draw(image).rectangle((8, 8, 392, 242), outline=(30, 80, 50), width=4)
    out = io.BytesIO()
    image.save(out, format="JPEG")
    return out.getvalue()


def new_resident(line: LineClient) -> Resident:
    return line.resident()


async def draft(resident: Resident) -> tuple[uuid.UUID, dict[str, Any]]:
    carousel = await resident.tap(MENU, expect="申請できる証明書の一覧")
    scope = await resident.tap(find_postback(carousel, "申請する"), expect="記載する人の範囲")
    request_id = uuid.UUID(hex=parse_qs(find_postback(scope, "本人のみ"))["r"][0])
    honseki = await resident.tap(find_postback(scope, "本人のみ"), expect="本籍・筆頭者")
    zokugara = await resident.tap(find_postback(honseki, "記載なし"), expect="続柄")
    copies = await resident.tap(find_postback(zokugara, "記載なし"), expect="部数")
    purpose = await resident.tap(find_postback(copies, "1通"), expect="使用目的")
    await resident.tap(find_postback(purpose, "年金の手続き"), expect="お名前")
    await resident.say("市川 一郎", expect="生年月日")
    await resident.say("昭和50年10月1日", expect="住民登録のある住所の郵便番号")
    await resident.say("231-0023", expect="神奈川県横浜市中区山下町")
    await resident.say("7-8-9", expect="電話番号")
    document = await resident.say("03-9876-5432", expect="本人確認書類の種類")
    await resident.tap(find_postback(document, "運転免許証"), expect="表面を撮影")
    summary = await resident.send_photo(licence_photo(), expect="申請内容の確認")
    return request_id, summary


async def checkout_of(link: dict[str, Any]) -> str:
    """The 支払う button leads through the town's server to the request's current checkout."""
    async with httpx.AsyncClient(timeout=30) as browser:
        hop = await browser.get(find_uri(link, "支払う"))
    assert hop.status_code == 303, hop.text
    return hop.headers["location"]


async def pay(link: dict[str, Any] | str) -> None:
    url = link if isinstance(link, str) else await checkout_of(link)
    paid = await press(url)
    assert "お支払いが完了しました" in paid.text


async def clerk_client(deployment: Deployment) -> tuple[httpx.AsyncClient, str]:
    return await deployment.clerk("certificates", CLERK)


async def status(deployment: Deployment, request_id: uuid.UUID) -> str | None:
    conn = await asyncpg.connect(deployment.databases["certificates"])
    try:
        value: str | None = await conn.fetchval(
            "SELECT status FROM svc_certificates.certificate_requests WHERE request_id = $1", request_id
        )
        return value
    finally:
        await conn.close()


async def wait_status(deployment: Deployment, request_id: uuid.UUID, wanted: str) -> None:
    async def reached() -> bool:
        return await status(deployment, request_id) == wanted

    await wait_for(reached, timeout=60, interval=0.2, message=f"{request_id} {wanted}")


async def test_the_whole_flow_from_signed_webhooks_to_the_mailing_message(
    line: LineClient, deployment: Deployment
) -> None:
    resident = new_resident(line)
    request_id, summary = await draft(resident)
    assert "410円" in content(summary)
    link = await resident.tap(find_postback(summary, "確定"), expect="お支払い額")
    await pay(link)
    received = await resident.expect("申請を受け付けました")
    assert "受付番号：C-" in content(received)
    await wait_status(deployment, request_id, "paid")

    clerk, csrf = await clerk_client(deployment)
    async with clerk:
        page = await clerk.get(f"/staff/certificates/requests/{request_id}")
        assert page.status_code == 200 and "市川 一郎" in page.text
        photo = await clerk.get(f"/staff/certificates/requests/{request_id}/photo")
        assert photo.status_code == 200 and photo.content == licence_photo()
        for action, data in (
            ("approve", {}),
            ("issue", {"serial": "J-IT-0001"}),
            ("mail", {"tracking": "9999-0000-1111"}),
        ):
            response = await clerk.post(
                f"/staff/certificates/requests/{request_id}/{action}", data={"csrf_token": csrf, **data}
            )
            assert response.status_code == 303 and "done=" in response.headers["location"], response.headers
    await resident.expect("本人確認が完了しました")
    mailed = await resident.expect("郵送しました")
    assert "追跡番号：9999-0000-1111" in content(mailed)
    for step in ("申請を受け付けました", "本人確認が完了しました", "を発行しました", "郵送しました"):
        assert await resident.count(step) == 1


async def test_reject_and_refund(line: LineClient, deployment: Deployment) -> None:
    resident = new_resident(line)
    request_id, summary = await draft(resident)
    await pay(await resident.tap(find_postback(summary, "確定"), expect="お支払い額"))
    await resident.expect("申請を受け付けました")
    await wait_status(deployment, request_id, "paid")
    clerk, csrf = await clerk_client(deployment)
    async with clerk:
        response = await clerk.post(
            f"/staff/certificates/requests/{request_id}/reject",
            data={"csrf_token": csrf, "reason": "name_mismatch", "note": "旧姓の書類でした。"},
        )
        assert "done=rejected" in response.headers["location"]
    told = await resident.expect("申請をお戻しします")
    assert "申請の氏名と本人確認書類の氏名が一致しませんでした" in content(
        told
    ) and "410円は自動で返金します" in content(told)
    await resident.expect("返金手続きが完了しました")
    conn = await asyncpg.connect(deployment.databases["payments-sim"])
    try:
        refunded = await conn.fetchval("SELECT sum(amount) FROM svc_payments_sim.refunds")
    finally:
        await conn.close()
    assert refunded >= 410
    assert await resident.count("返金手続きが完了しました") == 1


async def test_certificates_sigkilled_mid_flow_loses_nothing_and_sends_nothing_twice(
    line: LineClient, deployment: Deployment
) -> None:
    certificates = deployment.services["certificates"]
    residents = [new_resident(line) for _ in range(6)]
    # Everyone opens the menu; certificates is killed while those intents are in flight.
    marks = [await r.send("postback", postback_data=MENU) for r in residents]
    await residents[0].expect("申請できる証明書の一覧", since=marks[0])
    certificates.kill()
    for r in residents:  # more arrives while it is down: the gateway keeps accepting
        await r.send("postback", postback_data="domain=certificates&action=status")
    certificates.start()
    for r in residents:
        await r.expect("申請できる証明書の一覧")
        await r.expect("お申し込みいただいている証明書はありません")

    # One resident carries on: 確定, then pays while certificates is down again. The provider's
    # notice is retried until certificates is back, and counts once.
    resident = residents[0]
    request_id, summary = await draft(resident)
    link = await resident.tap(find_postback(summary, "確定"), expect="お支払い額")
    checkout = await checkout_of(link)  # the checkout page is open before certificates goes down
    certificates.kill()
    await pay(checkout)
    certificates.start()
    await resident.expect("申請を受け付けました")
    await wait_status(deployment, request_id, "paid")

    for r in residents:
        menus = 2 if r is resident else 1
        assert await r.count("申請できる証明書の一覧") == menus
        assert await r.count("お申し込みいただいている証明書はありません") == 1
    for r in residents[1:]:  # the menu (an introduction and the carousel) and the status: nothing else
        assert len(await r.messages()) == 3
    assert await resident.count("申請を受け付けました") == 1
    assert await resident.count("申請内容の確認") == 1
