"""The kit in real Chromium: keyboard-only login, htmx with the CSRF header, live updates over
SSE, failed htmx requests announced, logout. Screenshots go to libs/web/docs/screenshots/."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import pytest
import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Request, Response
from playwright.async_api import Page, async_playwright, expect

from cityhall.events.db import Pool, create_pool, migrate
from cityhall.events.localpg import free_port
from cityhall.events.projection import ProjectionRunner
from cityhall.events.store import EventStore
from cityhall.events.testing import wait_for
from cityhall.runtime.http import SecurityHeaders
from cityhall.web import LiveUpdates, StaffUser, create_templates, csrf_protect, install, require_role
from cityhall.web.portal.accounts import Accounts
from cityhall.web.portal.app import create_portal

from .conftest import PASSWORD, TEMPLATES, Totals, append, new_config, password_hash, total

CHROMIUM = os.environ.get("CITYHALL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"

Clerk = Annotated[StaffUser, Depends(require_role("certificates"))]


@dataclass
class Running:
    url: str
    pool: Pool
    store: EventStore


@pytest.fixture
async def running(fresh_database: str) -> AsyncIterator[Running]:
    pool = await create_pool(fresh_database, "svc_browser", max_size=6)
    await migrate(pool, ["cityhall.events", "cityhall.web", "cityhall.web.portal"])
    accounts = Accounts(pool)
    await accounts.save(
        "cert-clerk", "証明書係 市川", PASSWORD, ["certificates"], password_hash=password_hash()
    )
    store = EventStore(pool)
    runner = ProjectionRunner(store, Totals())
    await runner.ensure()
    config = new_config()
    live = LiveUpdates(pool, projections=["totals"], heartbeat=2)
    templates = create_templates(TEMPLATES)

    app = FastAPI()
    install(app, config)

    @app.get("/")
    async def home(request: Request, user: Clerk) -> Response:
        return templates.TemplateResponse(request, "counter.html", {"user": user, "total": await total(pool)})

    @app.get("/rows")
    async def rows(request: Request, user: Clerk) -> Response:
        return templates.TemplateResponse(request, "counter_rows.html", {"total": await total(pool)})

    @app.get("/live")
    async def stream(user: Clerk) -> Response:
        return live.response()

    @app.post("/increment", dependencies=[Depends(csrf_protect)])
    async def increment(user: Clerk) -> Response:
        await append(store, 1)
        return Response(status_code=204)

    @app.post("/conflict", dependencies=[Depends(csrf_protect)])
    async def conflict(user: Clerk) -> Response:
        raise HTTPException(409, "この申請は、ほかの職員が先に処理しました。")

    root = FastAPI()
    root.add_middleware(SecurityHeaders)  # the CSP every page gets from System.asgi
    root.mount("/staff/certificates", app)
    root.mount("/staff", create_portal(config, accounts))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(root, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    server.config.timeout_graceful_shutdown = 2
    tasks = [asyncio.create_task(server.serve()), asyncio.create_task(runner.run(poll_interval=30))]
    try:
        await wait_for(lambda: server.started, timeout=10)
        yield Running(f"http://127.0.0.1:{port}", pool, store)
    finally:
        server.should_exit = True
        await live.close()
        with contextlib.suppress(asyncio.CancelledError):
            await tasks[0]
        tasks[1].cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await tasks[1]
        await pool.close()


async def focused(page: Page) -> str:
    return str(await page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()"))


@pytest.fixture
def chromium() -> str:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: run `make setup-browser` (Debian's chromium and fonts-noto-cjk)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return CHROMIUM


async def test_keyboard_login_htmx_and_live_updates(running: Running, chromium: str) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium, args=CHROMIUM_ARGS, headless=True
        )
        try:
            context = await browser.new_context(locale="ja-JP", viewport={"width": 1040, "height": 720})
            context.set_default_timeout(15_000)
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            # Chromium reports what the Content-Security-Policy blocked on the console.
            page.on(
                "console",
                lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
            )

            await page.goto(f"{running.url}/staff/certificates/")
            assert page.url == f"{running.url}/staff/login?next=/staff/certificates/"
            await page.screenshot(path=str(SCREENSHOTS / "login.png"))

            # Keyboard only: the skip link comes first, then the header link, then the form.
            await page.keyboard.press("Tab")
            assert await focused(page) == "本文へ移動"
            await page.keyboard.press("Tab")
            await page.keyboard.press("Tab")
            assert await focused(page) == "f-username"
            await page.keyboard.type("cert-clerk")
            await page.keyboard.press("Tab")
            assert await focused(page) == "f-password"
            await page.keyboard.type(PASSWORD)
            async with page.expect_navigation():
                await page.keyboard.press("Enter")
            assert page.url == f"{running.url}/staff/certificates/"
            assert await page.text_content("#total-value") == "0"
            # `expect`, not wait_for_function: the page's CSP forbids evaluating strings.
            await expect(page.locator("[data-live-status]")).to_have_text("自動更新中")

            # htmx sends the CSRF header from the layout; the event reaches the page over SSE.
            await page.get_by_role("button", name="1増やす").focus()
            await page.keyboard.press("Enter")
            await expect(page.locator("#total-value")).to_have_text("1")
            assert await total(running.pool) == 1

            # A change made elsewhere (another clerk, a consumer) shows up by itself.
            await append(running.store, 5)
            await expect(page.locator("#total-value")).to_have_text("6")

            # A refused htmx request is announced, not silently dropped.
            await page.get_by_role("button", name="承認する").click()
            alert = page.get_by_role("alert")
            await alert.wait_for()
            assert await alert.text_content() == "この申請は、ほかの職員が先に処理しました。"
            await page.screenshot(path=str(SCREENSHOTS / "live-and-alert.png"))

            async with page.expect_navigation():
                await page.get_by_role("button", name="ログアウト").click()
            assert "ログアウトしました" in await page.content()
            await page.goto(f"{running.url}/staff/certificates/")
            assert page.url.startswith(f"{running.url}/staff/login")
            assert (
                "frame-ancestors 'none'"
                in (await page.request.get(page.url)).headers["content-security-policy"]
            )
            assert errors == []
            await context.close()
        finally:
            await browser.close()
