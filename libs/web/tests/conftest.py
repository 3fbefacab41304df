"""A staff site as the runtime composes it: the portal at /staff and a department app at
/staff/certificates (built with the kit the way a service builds its dashboard), on a real
Postgres database per test."""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI, Form, Request, Response
from fastapi.responses import HTMLResponse

from cityhall.events.db import Pool, create_pool, migrate
from cityhall.events.envelope import Envelope
from cityhall.events.store import EventStore
from cityhall.events.testing.samples import CounterIncremented, CounterTotals
from cityhall.web import (
    StaffUser,
    WebConfig,
    create_templates,
    csrf_protect,
    hash_password,
    install,
    require_role,
)
from cityhall.web.dashboards import Dashboard
from cityhall.web.portal.accounts import Accounts, LoginThrottle
from cityhall.web.portal.app import create_portal
from cityhall.web.sessions import SessionEpochs, table_loader

PASSWORD = "correct horse battery"
TEMPLATES = Path(__file__).parent / "templates"

DASHBOARDS = (
    Dashboard("certificates", "証明書の交付", "/staff/certificates/", ("certificates",)),
    Dashboard("roads", "道路の通報", "/staff/roads/", ("roads",)),
    Dashboard("audit", "証明書の閲覧記録", "/staff/certificates/audit", ("certificates-admin",)),
)

Clerk = Annotated[StaffUser, Depends(require_role("certificates"))]
"""Module level: with `from __future__ import annotations` FastAPI resolves names from the module."""


def department_app(config: WebConfig, pool: Pool) -> FastAPI:
    """What a service's api.py looks like: pages, a form, a staff API, all behind a role."""
    app = FastAPI()
    install(app, config)
    templates = create_templates(TEMPLATES)

    @app.get("/", response_class=HTMLResponse)
    async def home(request: Request, user: Clerk) -> Response:
        rows = await pool.fetch("SELECT note FROM notes ORDER BY id")
        return templates.TemplateResponse(
            request, "home.html", {"user": user, "notes": [r["note"] for r in rows]}
        )

    @app.post("/notes", dependencies=[Depends(csrf_protect)])
    async def add_note(user: Clerk, note: Annotated[str, Form(min_length=1, max_length=100)]) -> Response:
        await pool.execute("INSERT INTO notes (note, author) VALUES ($1, $2)", note, user.username)
        return Response(status_code=204)

    @app.get("/api/notes")
    async def notes(user: Clerk) -> list[str]:
        return [r["note"] for r in await pool.fetch("SELECT note FROM notes ORDER BY id")]

    @app.delete("/api/notes", dependencies=[Depends(csrf_protect)])
    async def clear(user: Clerk) -> dict[str, int]:
        status = await pool.execute("DELETE FROM notes")
        return {"deleted": int(status.split()[-1])}

    @app.get("/boom")
    async def boom(user: Clerk) -> None:
        raise RuntimeError("database password is hunter2")

    @app.get("/needs-number")
    async def needs_number(user: Clerk, n: int) -> dict[str, int]:
        return {"n": n}

    return app


class Clock:
    """The throttle's clock, moved by the tests."""

    def __init__(self) -> None:
        self.now = datetime(2025, 4, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


SESSION_CHECK_SECONDS = 0.5
"""The site's session-epoch cache: short, so that tests wait for it on a condition."""


@dataclass
class Site:
    config: WebConfig
    pool: Pool
    accounts: Accounts
    throttle: LoginThrottle
    app: FastAPI
    clock: Clock

    def client(self, base_url: str = "http://testserver", **headers: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url=base_url,
            headers=headers,
            follow_redirects=False,
        )

    async def notes(self) -> list[str]:
        return [r["note"] for r in await self.pool.fetch("SELECT note FROM notes ORDER BY id")]


def new_config(**overrides: object) -> WebConfig:
    return WebConfig(session_secret=secrets.token_urlsafe(40), **overrides)  # type: ignore[arg-type]


@functools.cache
def password_hash() -> str:
    """argon2 is slow on purpose: hash the tests' password once."""
    return hash_password(PASSWORD)


@pytest.fixture
async def site(fresh_database: str) -> AsyncIterator[Site]:
    pool = await create_pool(fresh_database, "svc_staff_portal", max_size=4)
    await migrate(pool, ["cityhall.events", "cityhall.web", "cityhall.web.portal"])
    await pool.execute(
        "CREATE TABLE notes (id bigserial PRIMARY KEY, note text NOT NULL, author text NOT NULL)"
    )
    accounts = Accounts(pool)
    hashed = password_hash()
    await accounts.save("cert-clerk", "証明書係 市川", PASSWORD, ["certificates"], password_hash=hashed)
    await accounts.save(
        "cert-admin",
        "証明書係長 渋谷",
        PASSWORD,
        ["certificates", "certificates-admin"],
        password_hash=hashed,
    )
    await accounts.save("roads-clerk", "道路管理課 品川", PASSWORD, ["roads"], password_hash=hashed)
    try:
        yield make_site(new_config(), pool, accounts)
    finally:
        await pool.close()


def make_site(config: WebConfig, pool: Pool, accounts: Accounts) -> Site:
    clock = Clock()
    throttle = LoginThrottle(pool, clock=clock)
    config = replace(config, session_check_seconds=SESSION_CHECK_SECONDS)
    # The department reads the accounts' epochs as the embedded run does: the same database.
    department = replace(config, session_epochs=SessionEpochs(table_loader(pool), SESSION_CHECK_SECONDS))
    root = FastAPI()
    # Longer prefixes first, as System.asgi mounts them.
    root.mount("/staff/certificates", department_app(department, pool))
    root.mount("/staff", create_portal(config, accounts, dashboards=DASHBOARDS, throttle=throttle))
    return Site(config, pool, accounts, throttle, root, clock)


# A projection and an event for the live-update tests.


def Totals() -> CounterTotals:
    return CounterTotals("totals")


async def total(pool: Pool) -> int:
    return int(await pool.fetchval("SELECT coalesce(sum(total), 0) FROM totals"))


async def append(store: EventStore, by: int) -> None:
    await store.append(
        "counter-1", None, [Envelope.wrap(CounterIncremented(by=by), source="/t", subject="counter-1")]
    )


CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_INPUT.search(html)
    assert match, "no csrf_token input in the page"
    return match.group(1)


async def login(
    client: httpx.AsyncClient, username: str, password: str = PASSWORD, next: str = ""
) -> httpx.Response:
    page = await client.get("/staff/login", params={"next": next or "/staff/"})
    assert page.status_code == 200, page.text
    return await client.post(
        "/staff/login",
        data={"username": username, "password": password, "csrf_token": csrf_from(page.text), "next": next},
    )
