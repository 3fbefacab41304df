"""The simulated payment provider ("ポケットペイ"), for development and tests: it runs only in
the development profile (`CITYHALL_PROFILE`; see cityhall.runtime.service.profile).

It plays a company outside the city hall: its own package, tables, pages and API. The
certificates service reaches it only through its provider port (`HttpPaymentProvider`), and it
reaches the certificates service only through signed notices to the callback URL the checkout
named, as a real provider would; the two share only `cityhall.payment_protocol`.

- `GET /pay/checkout/{id}`: the checkout page a resident opens from LINE (Japanese), with
  支払う / 支払いをやめる / 支払いに失敗させる (the last one for testing the failure path).
- `POST /pay/api/checkouts`, `POST /pay/api/refunds`: the merchant API (Bearer secret,
  Idempotency-Key).
- A background loop delivers notices (HMAC-SHA256 over the body in `X-Payment-Signature`),
  retrying with backoff until the merchant answers 2xx; a 4xx other than 408/429 is final.

Environment: `CITYHALL_PAYMENTS_SECRET` (the embedded run generates one, shared with the
certificates service through the data directory).
"""

from __future__ import annotations

import asyncio
import hmac
import html
import json
import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import Field

from cityhall.events.backoff import Backoff
from cityhall.events.db import Pool
from cityhall.events.waiting import wake_or_timeout
from cityhall.payment_protocol import SECRET_ENV, SIGNATURE_HEADER, shared_secret, sign
from cityhall.payment_simulator.spec import MOUNT
from cityhall.runtime.env import EnvSettings
from cityhall.runtime.service import Running, ServiceContext

log = logging.getLogger(__name__)


class PaymentSimulatorEnv(EnvSettings):
    secret: str | None = Field(None, alias=SECRET_ENV)
    """The secret shared with the merchant; the embedded run generates one."""


BRAND = "ポケットペイ"


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(18)}"


class Provider:
    """The provider's records and its notice sender."""

    def __init__(
        self,
        pool: Pool,
        secret: str,
        base_url: str,
        *,
        max_backoff: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,  # tests stand a merchant in here
    ) -> None:
        self.pool = pool
        self.secret = secret
        self.base_url = base_url.rstrip("/")
        self.max_backoff = max_backoff
        self._wake = asyncio.Event()
        self._http = httpx.AsyncClient(timeout=10.0, transport=transport)

    async def close(self) -> None:
        await self._http.aclose()

    # --- the merchant API --------------------------------------------------------------------

    async def create_checkout(self, key: str, payload: dict[str, Any]) -> dict[str, Any]:
        reference, amount = payload.get("reference"), payload.get("amount")
        return_url, callback_url = payload.get("return_url"), payload.get("callback_url")
        if not isinstance(reference, str) or not reference:
            raise ValueError("reference is required")
        if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= 1_000_000:
            raise ValueError("amount must be a whole number of yen from 1 to 1,000,000")
        if payload.get("currency", "JPY") != "JPY":
            raise ValueError("only JPY is supported")
        for name, url in (("return_url", return_url), ("callback_url", callback_url)):
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise ValueError(f"{name} must be an http(s) URL")
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """INSERT INTO checkouts (checkout_id, idempotency_key, reference, amount, return_url, callback_url)
                   VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (idempotency_key) DO NOTHING""",
                _id("co"),
                key,
                reference,
                amount,
                return_url,
                callback_url,
            )
            row = await conn.fetchrow(
                "SELECT checkout_id, reference, amount FROM checkouts WHERE idempotency_key = $1", key
            )
        assert row is not None
        if row["reference"] != reference or row["amount"] != amount:
            raise LookupError("the idempotency key was used for another checkout")
        return {"checkout_id": row["checkout_id"], "url": f"{self.base_url}/checkout/{row['checkout_id']}"}

    async def refund(self, payload: dict[str, Any]) -> dict[str, Any]:
        payment_id, amount = payload.get("payment_id"), payload.get("amount")
        if not isinstance(payment_id, str) or not isinstance(amount, int) or amount < 0:
            raise ValueError("payment_id and a non-negative amount are required")
        async with self.pool.acquire() as conn, conn.transaction():
            paid = await conn.fetchval(
                "SELECT amount FROM checkouts WHERE payment_id = $1 AND status = 'paid'", payment_id
            )
            if paid is None:
                raise KeyError(payment_id)
            if amount > paid:
                raise ValueError(f"cannot refund {amount} of a payment of {paid}")
            await conn.execute(
                "INSERT INTO refunds (refund_id, payment_id, amount) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                _id("re"),
                payment_id,
                amount,
            )
            row = await conn.fetchrow(
                "SELECT refund_id, amount FROM refunds WHERE payment_id = $1", payment_id
            )
        assert row is not None
        return {"refund_id": row["refund_id"], "payment_id": payment_id, "amount": row["amount"]}

    # --- the resident's side -----------------------------------------------------------------

    async def checkout(self, checkout_id: str) -> dict[str, Any] | None:
        row = await self.pool.fetchrow("SELECT * FROM checkouts WHERE checkout_id = $1", checkout_id)
        return dict(row) if row else None

    async def complete(self, checkout_id: str, outcome: str) -> bool:
        """Pay, fail or cancel an open checkout and queue its notice; False when it was not open."""
        status = {"pay": "paid", "fail": "failed", "cancel": "cancelled"}[outcome]
        now = datetime.now(UTC)
        async with self.pool.acquire() as conn, conn.transaction():
            payment_id = _id("pay") if status == "paid" else None
            row = await conn.fetchrow(
                """UPDATE checkouts SET status = $2, payment_id = $3, completed_at = $4
                   WHERE checkout_id = $1 AND status = 'open' RETURNING *""",
                checkout_id,
                status,
                payment_id,
                now,
            )
            if row is None:
                return False
            notice_id = _id("nt")
            body = {
                "notice_id": notice_id,
                "kind": status,
                "checkout_id": checkout_id,
                "reference": row["reference"],
                "amount": row["amount"],
                "payment_id": payment_id,
                "at": now.isoformat(),
            }
            await conn.execute(
                "INSERT INTO notices (notice_id, checkout_id, callback_url, body) VALUES ($1, $2, $3, $4)",
                notice_id,
                checkout_id,
                row["callback_url"],
                json.dumps(body, ensure_ascii=False),
            )
        self._wake.set()
        return True

    # --- notices -----------------------------------------------------------------------------

    async def run(self, poll_interval: float = 1.0) -> None:
        """Deliver due notices until cancelled."""
        while True:
            self._wake.clear()
            delivered = await self.deliver_due()
            if not delivered:
                await wake_or_timeout(self._wake, poll_interval)

    async def deliver_due(self, limit: int = 20) -> int:
        rows = await self.pool.fetch(
            """SELECT notice_id, callback_url, body, attempts FROM notices
               WHERE delivered_at IS NULL AND gave_up_at IS NULL AND next_attempt_at <= now()
               ORDER BY next_attempt_at LIMIT $1""",
            limit,
        )
        for row in rows:
            await self._deliver(row["notice_id"], row["callback_url"], row["body"], row["attempts"])
        return len(rows)

    async def _deliver(self, notice_id: str, url: str, body: str, attempts: int) -> None:
        raw = body.encode()
        status: int | None = None
        error = ""
        try:
            response = await self._http.post(
                url,
                content=raw,
                headers={"content-type": "application/json", SIGNATURE_HEADER: sign(self.secret, raw)},
            )
            status = response.status_code
            error = f"{status} {response.text[:300]}"
        except httpx.HTTPError as exc:
            error = repr(exc)
        attempts += 1
        if status is not None and 200 <= status < 300:
            await self.pool.execute(
                "UPDATE notices SET delivered_at = now(), attempts = $2, last_error = NULL WHERE notice_id = $1",
                notice_id,
                attempts,
            )
        elif status is not None and 400 <= status < 500 and status not in (408, 429):
            log.warning("payment notice %s refused for good: %s", notice_id, error)
            await self.pool.execute(
                "UPDATE notices SET gave_up_at = now(), attempts = $2, last_error = $3 WHERE notice_id = $1",
                notice_id,
                attempts,
                error,
            )
        else:
            delay = Backoff(base=0.25, cap=self.max_backoff, jitter=False).delay(attempts + 1)
            await self.pool.execute(
                """UPDATE notices SET attempts = $2, last_error = $3, next_attempt_at = now() + $4
                   WHERE notice_id = $1""",
                notice_id,
                attempts,
                error,
                timedelta(seconds=delay),
            )


# --- pages -------------------------------------------------------------------------------------

_STYLE = """
body{font-family:"Noto Sans CJK JP","Hiragino Sans",sans-serif;background:#f3f5f8;margin:0;color:#1d2733}
main{max-width:420px;margin:32px auto;background:#fff;border-radius:14px;padding:28px;box-shadow:0 2px 12px #0002}
h1{font-size:1.15rem;margin:0 0 4px}.brand{color:#0a7d5a;font-weight:700;letter-spacing:.05em}
.amount{font-size:2.2rem;font-weight:700;margin:18px 0 6px}.muted{color:#5b6775;font-size:.9rem}
dl{display:grid;grid-template-columns:auto 1fr;gap:6px 12px;margin:18px 0}dt{color:#5b6775}dd{margin:0}
form{margin:10px 0}button{width:100%;font-size:1.05rem;padding:12px;border-radius:10px;border:1px solid #b8c2cc;
background:#fff;cursor:pointer}button.primary{background:#0a7d5a;border-color:#0a7d5a;color:#fff;font-weight:700}
button:focus-visible{outline:3px solid #f0a000;outline-offset:2px}.result{font-size:1.1rem;font-weight:700}
.note{background:#fff7e0;border-radius:8px;padding:10px 12px;font-size:.85rem}
"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    document = f"""<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}｜{BRAND}</title><link rel="stylesheet" href="{MOUNT}/style.css"></head>
<body><main><p class="brand">{BRAND}</p>{body}</main></body></html>"""
    return HTMLResponse(document, status_code=status, headers={"cache-control": "no-store"})


_RESULTS = {
    "paid": "お支払いが完了しました。",
    "failed": "お支払いができませんでした。",
    "cancelled": "お支払いを取りやめました。",
}


def _checkout_page(row: dict[str, Any]) -> HTMLResponse:
    amount = f"{row['amount']:,}円"
    checkout_id = html.escape(row["checkout_id"])
    details = (
        f"<dl><dt>お支払い先</dt><dd>ポケット市役所</dd><dt>内容</dt><dd>証明書の交付手数料・郵送料</dd>"
        f"<dt>お支払い番号</dt><dd>{checkout_id[-8:]}</dd></dl>"
    )
    if row["status"] == "open":
        body = f"""<h1>お支払い</h1><p class="amount" id="amount">{amount}</p>{details}
<form method="post" action="{checkout_id}/pay"><button class="primary" type="submit">{amount}を支払う</button></form>
<form method="post" action="{checkout_id}/cancel"><button type="submit">支払いをやめる</button></form>
<form method="post" action="{checkout_id}/fail"><button type="submit">支払いに失敗させる（テスト用）</button></form>
<p class="note">これは動作確認用の模擬決済です。実際の支払いは発生しません。</p>"""
    else:
        back = html.escape(row["return_url"], quote=True)
        body = f"""<h1>お支払い</h1><p class="amount">{amount}</p>{details}
<p class="result" id="result" role="status">{_RESULTS[row["status"]]}</p>
<p class="muted">このページを閉じて、LINE のトーク画面にお戻りください。結果は LINE でもお知らせします。</p>
<p><a href="{back}">LINE に戻る</a></p>"""
    return _page("お支払い", body)


def create_app(provider: Provider) -> FastAPI:
    app = FastAPI(title="payments simulator", docs_url=None, redoc_url=None, openapi_url=None)

    def authorised(request: Request) -> bool:
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {provider.secret}".encode())

    def problem(status: int, message: str) -> JSONResponse:
        return JSONResponse({"message": message}, status_code=status)

    async def json_body(request: Request) -> dict[str, Any]:
        try:
            data = json.loads(await request.body())
        except ValueError as exc:
            raise ValueError("the body is not JSON") from exc
        if not isinstance(data, dict):
            raise ValueError("the body must be a JSON object")
        return data

    @app.get("/style.css", include_in_schema=False)
    async def style() -> Response:
        # A stylesheet of its own: the pages' CSP allows no inline style.
        return Response(_STYLE, media_type="text/css", headers={"cache-control": "max-age=3600"})

    @app.post("/api/checkouts")
    async def create_checkout(request: Request) -> Response:
        if not authorised(request):
            return problem(401, "a valid bearer secret is required")
        key = request.headers.get("idempotency-key", "")
        if not key or len(key) > 200:
            return problem(400, "Idempotency-Key is required")
        try:
            return JSONResponse(
                await provider.create_checkout(key, await json_body(request)), status_code=201
            )
        except ValueError as exc:
            return problem(400, str(exc))
        except LookupError as exc:
            return problem(409, str(exc))

    @app.post("/api/refunds")
    async def refund(request: Request) -> Response:
        if not authorised(request):
            return problem(401, "a valid bearer secret is required")
        try:
            return JSONResponse(await provider.refund(await json_body(request)), status_code=201)
        except KeyError:
            return problem(404, "no such paid payment")
        except ValueError as exc:
            return problem(400, str(exc))

    @app.get("/checkout/{checkout_id}")
    async def checkout_page(checkout_id: str) -> Response:
        row = await provider.checkout(checkout_id)
        if row is None:
            return _page("見つかりません", "<h1>お支払いのページが見つかりません</h1>", status=404)
        return _checkout_page(row)

    @app.post("/checkout/{checkout_id}/{outcome}")
    async def complete(checkout_id: str, outcome: str) -> Response:
        if outcome not in ("pay", "fail", "cancel"):
            return _page("見つかりません", "<h1>ページが見つかりません</h1>", status=404)
        if await provider.checkout(checkout_id) is None:
            return _page("見つかりません", "<h1>お支払いのページが見つかりません</h1>", status=404)
        await provider.complete(checkout_id, outcome)
        return RedirectResponse(f"../{checkout_id}", status_code=303)

    return app


async def start(ctx: ServiceContext) -> tuple[Provider, Running]:
    secret = shared_secret(
        PaymentSimulatorEnv.read().secret, ctx.settings.data_dir, generate=ctx.mode == "embedded"
    )
    provider = Provider(ctx.require_pool(), secret, f"{ctx.settings.public_url}{MOUNT}")
    return provider, Running(
        app=create_app(provider),
        tasks=[provider.run],
        on_stop=[provider.close],
        banner=[f"  Payments (simulated): {ctx.settings.public_url}{MOUNT}/checkout/…  (ポケットペイ)"],
    )


async def build(ctx: ServiceContext) -> Running:
    _provider, running = await start(ctx)
    return running
