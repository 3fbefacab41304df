"""The kit's staff app and the routes every dashboard has: a live list, a missing row's 404,
a decision's redirect back with its outcome once the read model shows it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, Request, Response

from cityhall.events.db import Pool, create_pool, migrate
from cityhall.events.decider import DomainError
from cityhall.events.projection import ProjectionRunner
from cityhall.events.store import EventStore
from cityhall.runtime.service import ServiceContext, Settings
from cityhall.web import SESSION_COOKIE, StaffUser, require_role, staff_app
from cityhall.web.routes import CHECKED, decided, found, live_list

from .conftest import TEMPLATES, Totals, append, new_config, total

CLERK = StaffUser("cert-clerk", "証明書係 市川", frozenset({"certificates"}))
Clerk = Annotated[StaffUser, Depends(require_role("certificates"))]


@pytest.fixture
async def client(fresh_database: str) -> AsyncIterator[tuple[httpx.AsyncClient, str, EventStore, Pool]]:
    pool = await create_pool(fresh_database, "svc_routestest", max_size=4)
    await migrate(pool, ["cityhall.events"])
    store = EventStore(pool)
    runner = ProjectionRunner(store, Totals())
    await runner.ensure()
    config = new_config()
    context = ServiceContext("counter", "distributed", Settings(), pool, bus=None, store=store)  # type: ignore[arg-type]
    staff = staff_app(context, "counter", projections=["totals"], templates=TEMPLATES, web=config)

    async def rows() -> dict[str, int]:
        return {"total": await total(pool)}

    live_list(staff, "certificates", "counter.html", total=("counter_rows.html", rows))

    @staff.app.get("/counters/{name}")
    async def counter(name: str, user: Clerk) -> dict[str, str]:
        return found({"one": {"name": "one"}}.get(name), "そのカウンターはありません。")

    @staff.app.post("/increment", dependencies=CHECKED)
    async def increment(request: Request, user: Clerk, by: int = 1) -> Response:
        async def add() -> None:
            if by <= 0:
                raise DomainError("not_positive")
            await append(store, by)

        return await decided(request, "/", add(), "added", caught_up=staff.caught_up)

    task = asyncio.create_task(runner.run(poll_interval=30))  # woken by NOTIFY
    token, csrf = staff.auth.signed_in(CLERK)
    transport = httpx.ASGITransport(app=staff.app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            http.cookies.set(SESSION_COOKIE, token)
            yield http, csrf, store, pool
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await staff.live.close()
        await pool.close()


async def test_the_list_page_its_fragment_and_a_decision_that_goes_back_caught_up(
    client: tuple[httpx.AsyncClient, str, EventStore, Pool],
) -> None:
    http, csrf, _store, _pool = client
    page = await http.get("/")
    assert page.status_code == 200 and '<output id="total-value">0</output>' in page.text
    added = await http.post("/increment?by=3", data={"csrf_token": csrf})
    assert (added.status_code, added.headers["location"]) == (303, "/?done=added")
    # Caught up: the page the clerk is sent back to already shows the decision.
    assert '<output id="total-value">3</output>' in (await http.get("/fragments/total")).text
    refused = await http.post("/increment?by=0", data={"csrf_token": csrf})
    assert refused.headers["location"] == "/?error=not_positive"
    assert (await http.post("/increment?by=1")).status_code == 403  # no CSRF token


async def test_a_missing_row_is_the_kits_404_and_other_departments_are_refused(
    client: tuple[httpx.AsyncClient, str, EventStore, Pool],
) -> None:
    http, _csrf, _store, _pool = client
    assert (await http.get("/counters/one")).json() == {"name": "one"}
    missing = await http.get("/counters/two", headers={"accept": "text/html"})
    assert missing.status_code == 404 and "そのカウンターはありません。" in missing.text
    http.cookies.clear()
    assert (await http.get("/fragments/total", headers={"accept": "application/json"})).status_code == 401
