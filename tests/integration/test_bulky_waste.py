"""粗大ごみ across processes, with the fee: signed webhooks → gateway → Kafka → reservations →
Kafka → notify → the LINE emulator, and the simulated payment provider as its own process. A
resident names the items, picks the district's day, pays on the provider's page, gets the
受付番号 from the provider's signed notice, cancels and is refunded through the provider; a
replayed notice pays once.

Processes: the LINE emulator, `cityhall service gateway`, `notify`, `staff-portal`,
`payments-sim` and `reservations`, each with its own database on the test Postgres, all on the
test Kafka (the processes run on the real clock: the day is chosen from the catalogue's rules).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest

from cityhall.events.testing import wait_for
from cityhall.line.testing import content, find_postback, find_uri
from cityhall.payment_protocol import SIGNATURE_HEADER, sign
from cityhall.payment_simulator.testing import press
from cityhall.reservations import catalogue
from cityhall.reservations.messages import day_label
from cityhall.reservations.testing import to_pickup_summary

from .harness import Deployment, LineClient

pytestmark = pytest.mark.timeout(600)

PAYMENTS_SECRET = "integration-payments-secret"


@pytest.fixture(scope="module")
def deployment(
    postgres_dsn: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    deployment = Deployment(postgres_dsn, kafka_bootstrap, tmp_path_factory.mktemp("bulky"))
    for name in ("gateway", "notify", "staff-portal"):
        deployment.service(name)
    sim = deployment.service("payments-sim", env={"CITYHALL_PAYMENTS_SECRET": PAYMENTS_SECRET})
    deployment.service(
        "reservations",
        env={
            "CITYHALL_PAYMENTS_URL": f"{sim.url}/pay",
            "CITYHALL_PAYMENTS_SECRET": PAYMENTS_SECRET,
            "CITYHALL_RESERVATIONS_SWEEP_SECONDS": "0.5",
        },
    )
    with deployment:
        yield deployment


def pickup_day() -> str:
    """The first day 北町's pickup may be booked now (its label in the carousel)."""
    booked = catalogue.load()
    kita = booked.resource("sodai_kita")
    assert kita is not None
    return day_label(booked.bookable_days(kita, datetime.now(UTC))[0])


async def refunded(deployment: Deployment) -> int:
    conn = await asyncpg.connect(deployment.databases["payments-sim"])
    try:
        return int(await conn.fetchval("SELECT coalesce(sum(amount), 0) FROM svc_payments_sim.refunds"))
    finally:
        await conn.close()


async def test_a_pickup_paid_numbered_cancelled_and_refunded_across_processes(
    deployment: Deployment, line: LineClient
) -> None:
    resident = line.resident()
    # Free text (the item's name) reaches reservations because the tile claimed the dialog.
    summary = await to_pickup_summary(resident, "北町", [("たんす", "たんす・本棚", "2点")], pickup_day())
    assert "2,000円" in content(summary)
    confirm = find_postback(summary, "確定して支払う")
    await resident.tap(confirm, expect="手数料2,000円をお支払いください")
    card = await resident.expect("手数料のお支払い")

    paid = await press(find_uri(card, "支払う"))
    assert "お支払いが完了しました" in paid.text
    told = await resident.expect("お支払いを確認しました。受付番号は R-")
    number = re.search(r"R-[0-9A-F]{8}", content(told))
    assert number is not None
    receipt = await resident.expect("粗大ごみ収集の受付完了")
    await resident.tap(confirm, expect=f"お支払い済みです（受付番号 {number.group(0)}）")

    # The provider's notice replayed (its signature is good): recorded once, nothing said twice.
    reservations = deployment.services["reservations"]
    booking = re.search(r"d=([0-9a-f]{32})", confirm)
    assert booking is not None
    conn = await asyncpg.connect(deployment.databases["payments-sim"])
    try:
        payment_id = await conn.fetchval(
            "SELECT payment_id FROM svc_payments_sim.checkouts WHERE amount = 2000"
        )
    finally:
        await conn.close()
    notice = json.dumps(
        {
            "notice_id": "nt_replayed", "kind": "paid", "checkout_id": "replayed", "amount": 2000,
            "reference": str(uuid.UUID(hex=booking.group(1))), "payment_id": payment_id,
            "at": datetime.now(UTC).isoformat(),
        }
    ).encode()  # fmt: skip
    async with httpx.AsyncClient(base_url=reservations.url, timeout=30) as client:
        callback = "/staff/reservations/payments/callback"
        forged = await client.post(
            callback, content=notice, headers={SIGNATURE_HEADER: sign("forged", notice)}
        )
        assert forged.status_code == 400
        again = await client.post(
            callback, content=notice, headers={SIGNATURE_HEADER: sign(PAYMENTS_SECRET, notice)}
        )
        assert again.status_code == 200 and again.json()["detail"] == "already recorded"

    asked = await resident.tap(find_postback(receipt, "キャンセル"), expect="キャンセルしますか")
    await resident.tap(find_postback(asked, "キャンセルする"), expect="キャンセルしました")
    await resident.expect("手数料2,000円は、お支払いに使った方法でお返しします")
    await resident.expect(f"受付番号 {number.group(0)} の2,000円の返金が完了しました")

    async def given_back() -> bool:
        return await refunded(deployment) == 2000

    await wait_for(given_back, timeout=60, message="the provider refunded the fee once")
    assert await resident.count("返金が完了しました") == 1
    assert await resident.count("お支払いを確認しました") == 1
