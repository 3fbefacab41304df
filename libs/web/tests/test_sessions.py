"""Sessions end on the server: logout, a disabled account and a role change reach every service
within the session-epoch cache time (`cityhall.web.sessions`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from cityhall.events.embedded_bus import EmbeddedBus
from cityhall.events.testing import wait_for
from cityhall.runtime.service import ServiceContext, Settings
from cityhall.web import ConfigError, WebConfig
from cityhall.web.sessions import NO_STORE, SessionEpochs, embedded_loader, portal_loader

from .conftest import PASSWORD, SESSION_CHECK_SECONDS, Site, csrf_from, login

WITHIN_CACHE = SESSION_CHECK_SECONDS + 5  # the cache time, and slack for a slow machine


@contextlib.asynccontextmanager
async def signed_in(site: Site, username: str) -> AsyncIterator[httpx.AsyncClient]:
    async with site.client() as client:
        assert (await login(client, username)).status_code == 303
        yield client


async def refused(client: httpx.AsyncClient, path: str = "/staff/certificates/") -> bool:
    return (await client.get(path)).status_code == 303


async def test_a_copied_cookie_is_refused_after_logout(site: Site) -> None:
    async with signed_in(site, "cert-clerk") as browser, site.client() as thief:
        thief.cookies.set("cityhall_staff", browser.cookies["cityhall_staff"], path="/staff")
        assert (await thief.get("/staff/certificates/")).status_code == 200
        portal = await browser.get("/staff/")
        await browser.post("/staff/logout", data={"csrf_token": csrf_from(portal.text)})
        assert (await thief.get("/staff/api/me")).status_code == 401  # the portal: at once
        await wait_for(lambda: refused(thief), timeout=WITHIN_CACHE, message="the copy is refused")
        # Logging in again gives a new session that works.
        assert (await login(browser, "cert-clerk")).status_code == 303
        assert (await browser.get("/staff/certificates/")).status_code == 200


async def test_a_disabled_accounts_open_session_is_refused(site: Site) -> None:
    async with signed_in(site, "cert-clerk") as client:
        assert (await client.get("/staff/certificates/")).status_code == 200
        assert await site.accounts.disable("cert-clerk")
        await wait_for(lambda: refused(client), timeout=WITHIN_CACHE, message="the session ends")
        assert await refused(client, "/staff/")
        assert (await login(client, "cert-clerk")).status_code == 401


async def test_a_role_change_takes_effect(site: Site) -> None:
    async with signed_in(site, "cert-clerk") as client:
        assert (await client.get("/staff/certificates/")).status_code == 200
        await site.accounts.save("cert-clerk", "道路管理課 市川", PASSWORD, ["roads"])
        await wait_for(lambda: refused(client), timeout=WITHIN_CACHE, message="the session ends")
        assert (await login(client, "cert-clerk")).status_code == 303
        assert (await client.get("/staff/certificates/")).status_code == 403
        assert (await client.get("/staff/api/me")).json()["roles"] == ["roads"]
    # Saving an account unchanged (the embedded run's demo accounts at each start) ends nothing.
    before = await site.accounts.session_epoch("cert-admin")
    await site.accounts.save(
        "cert-admin", "証明書係長 渋谷", PASSWORD, ["certificates", "certificates-admin"]
    )
    assert await site.accounts.session_epoch("cert-admin") == before


async def test_a_service_alone_asks_the_portal_with_the_service_key(site: Site) -> None:
    transport = httpx.ASGITransport(app=site.app)
    load = portal_loader("http://portal.internal/staff", site.config.session_secret, transport)
    assert await load("cert-clerk") == 0
    await site.accounts.end_sessions("cert-clerk")
    assert await load("cert-clerk") == 1
    assert await load("nobody") is None
    await site.accounts.disable("cert-clerk")
    assert await load("cert-clerk") is None
    # Without the shared secret there is no answer, and a session it cannot check is refused.
    stranger = portal_loader("http://portal.internal/staff", "x" * 40, transport)
    with pytest.raises(httpx.HTTPStatusError):
        await stranger("cert-admin")
    assert not await SessionEpochs(stranger).valid("cert-admin", 0)


async def test_the_epoch_cache_asks_again_after_its_time() -> None:
    now, answers = [0.0], {"a": 0}

    async def load(username: str) -> int | None:
        return answers.get(username)

    epochs = SessionEpochs(load, ttl=5, clock=lambda: now[0])
    assert await epochs.valid("a", 0)
    answers["a"] = 1
    now[0] = 4.9
    assert await epochs.valid("a", 0)  # cached
    now[0] = 5.0
    assert not await epochs.valid("a", 0) and await epochs.valid("a", 1)
    assert not await epochs.valid("b", 0)  # no such account


async def test_where_services_read_epochs(fresh_database: str, tmp_path: Path) -> None:
    from cityhall.events.db import create_pool

    settings = Settings(data_dir=tmp_path)
    secret = {"CITYHALL_SESSION_SECRET": "s" * 40}
    pool = await create_pool(fresh_database, "svc_certificates", max_size=2)
    try:
        bus = EmbeddedBus(fresh_database)
        embedded = WebConfig.from_context(
            ServiceContext("certificates", "embedded", settings, pool, bus, None)
        )
        assert embedded.session_epochs is not None
        assert await embedded_loader(pool)("cert-clerk") == NO_STORE  # a run without the portal
        alone = ServiceContext("certificates", "distributed", settings, pool, bus, None)
        with pytest.raises(ConfigError, match="CITYHALL_STAFF_PORTAL_INTERNAL_URL"):
            WebConfig.from_context(alone, secret)
        asking = {**secret, "CITYHALL_STAFF_PORTAL_INTERNAL_URL": "http://staff-portal:8000/staff"}
        assert WebConfig.from_context(alone, asking).session_epochs is not None
    finally:
        await pool.close()
