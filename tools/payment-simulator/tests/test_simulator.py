"""The simulated provider on its own: its merchant API, its checkout pages and its signed notices.

A merchant here is a stand-in transport that records what the provider posts to it; the real
merchant (certificates) is tested against the simulator in its own suite.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
import pytest

from cityhall.events.db import Pool, create_pool, migrate
from cityhall.payment_protocol import SIGNATURE_HEADER, signature_matches
from cityhall.payment_simulator.app import MOUNT, Provider, create_app

SECRET = "simulator-test-secret"
BEARER = {"authorization": f"Bearer {SECRET}"}
CALLBACK = "http://merchant.test/callback"


@dataclass
class Merchant:
    """Answers the provider's notices with `status` and keeps what it was sent."""

    status: int = 200
    received: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.received.append(request)
        return httpx.Response(self.status)


@dataclass
class Simulator:
    provider: Provider
    client: httpx.AsyncClient  # the provider's app (unmounted), as the merchant and a browser see it
    merchant: Merchant
    pool: Pool

    async def open_checkout(self, key: str = "k1", amount: int = 410) -> dict[str, str]:
        response = await self.client.post(
            "/api/checkouts",
            json={
                "reference": "req-1",
                "amount": amount,
                "return_url": "https://line.me/R/",
                "callback_url": CALLBACK,
            },
            headers={**BEARER, "idempotency-key": key},
        )
        assert response.status_code == 201, response.text
        body: dict[str, str] = response.json()
        return body

    async def notices(self) -> list[dict[str, object]]:
        return [dict(r) for r in await self.pool.fetch("SELECT * FROM notices ORDER BY notice_id")]


@pytest.fixture
async def sim(fresh_database: str) -> AsyncIterator[Simulator]:
    pool = await create_pool(fresh_database, "svc_payments_sim", max_size=4)
    await migrate(pool, ["cityhall.payment_simulator"])
    merchant = Merchant()
    provider = Provider(
        pool, SECRET, f"http://sim.test{MOUNT}", max_backoff=0.5, transport=httpx.MockTransport(merchant)
    )
    transport = httpx.ASGITransport(app=create_app(provider))
    async with httpx.AsyncClient(transport=transport, base_url="http://sim.test") as client:
        yield Simulator(provider, client, merchant, pool)
    await provider.close()
    await pool.close()


async def test_the_checkout_page_and_the_merchant_api(sim: Simulator) -> None:
    missing = await sim.client.get("/checkout/co_nope")
    assert missing.status_code == 404 and "見つかりません" in missing.text
    unauthorised = await sim.client.post("/api/checkouts", json={})
    assert unauthorised.status_code == 401
    no_key = await sim.client.post("/api/checkouts", json={}, headers=BEARER)
    assert no_key.status_code == 400
    checkout = await sim.open_checkout("k1")
    assert checkout == await sim.open_checkout("k1")  # the same key gives the same checkout
    assert (await sim.open_checkout("k2"))["checkout_id"] != checkout["checkout_id"]
    reused = await sim.client.post(
        "/api/checkouts",
        json={"reference": "req-1", "amount": 999, "return_url": "https://a.b/", "callback_url": CALLBACK},
        headers={**BEARER, "idempotency-key": "k1"},
    )
    assert reused.status_code == 409
    page = await sim.client.get(urlsplit(checkout["url"]).path.removeprefix(MOUNT))
    assert "410円を支払う" in page.text and "支払いをやめる" in page.text


async def test_bad_checkouts_are_refused_with_the_reason(sim: Simulator) -> None:
    for payload, reason in (
        ({"reference": "r", "amount": 0}, "amount"),
        ({"reference": "r", "amount": 410, "currency": "USD"}, "JPY"),
        (
            {"reference": "r", "amount": 410, "return_url": "javascript:x", "callback_url": CALLBACK},
            "return_url",
        ),
        ({"amount": 410}, "reference"),
    ):
        response = await sim.client.post(
            "/api/checkouts", json=payload, headers={**BEARER, "idempotency-key": reason}
        )
        assert response.status_code == 400 and reason in response.json()["message"], (payload, response.text)
    assert await sim.pool.fetchval("SELECT count(*) FROM checkouts") == 0


async def test_paying_sends_a_signed_notice_and_the_payment_can_be_refunded_once(sim: Simulator) -> None:
    checkout = await sim.open_checkout()
    paid = await sim.client.post(f"/checkout/{checkout['checkout_id']}/pay")
    assert paid.status_code == 303
    page = await sim.client.get(f"/checkout/{checkout['checkout_id']}")
    assert "お支払いが完了しました" in page.text and "支払う</button>" not in page.text
    assert await sim.provider.deliver_due() == 1
    [request] = sim.merchant.received
    assert str(request.url) == CALLBACK
    assert signature_matches(SECRET, request.content, request.headers[SIGNATURE_HEADER])
    notice = json.loads(request.content)
    assert notice["kind"] == "paid" and notice["amount"] == 410 and notice["reference"] == "req-1"
    assert not await sim.provider.complete(checkout["checkout_id"], "cancel")  # no longer open

    refund = {"payment_id": notice["payment_id"], "amount": 410}
    first = await sim.client.post("/api/refunds", json=refund, headers=BEARER)
    again = await sim.client.post("/api/refunds", json=refund, headers=BEARER)
    assert first.status_code == again.status_code == 201
    assert first.json()["refund_id"] == again.json()["refund_id"]
    too_much = await sim.client.post("/api/refunds", json={**refund, "amount": 411}, headers=BEARER)
    assert too_much.status_code == 400
    unknown = await sim.client.post("/api/refunds", json={**refund, "payment_id": "pay_x"}, headers=BEARER)
    assert unknown.status_code == 404


async def test_a_notice_is_retried_until_the_merchant_answers_and_a_refusal_is_final(sim: Simulator) -> None:
    sim.merchant.status = 503
    checkout = await sim.open_checkout()
    assert await sim.provider.complete(checkout["checkout_id"], "fail")
    assert await sim.provider.deliver_due() == 1
    [notice] = await sim.notices()
    assert notice["attempts"] == 1 and notice["delivered_at"] is None and notice["gave_up_at"] is None
    assert notice["next_attempt_at"] is not None and "503" in str(notice["last_error"])

    sim.merchant.status = 200
    await sim.pool.execute("UPDATE notices SET next_attempt_at = now()")  # the backoff has passed
    assert await sim.provider.deliver_due() == 1
    [notice] = await sim.notices()
    assert notice["attempts"] == 2 and notice["delivered_at"] is not None
    assert json.loads(sim.merchant.received[-1].content)["kind"] == "failed"

    sim.merchant.status = 400
    other = await sim.open_checkout("k2")
    assert await sim.provider.complete(other["checkout_id"], "cancel")
    assert await sim.provider.deliver_due() == 1
    assert await sim.provider.deliver_due() == 0  # given up: never sent again
    gave_up = await sim.pool.fetchrow(
        "SELECT attempts, gave_up_at FROM notices WHERE checkout_id = $1", other["checkout_id"]
    )
    assert gave_up is not None and gave_up["attempts"] == 1 and gave_up["gave_up_at"] is not None
