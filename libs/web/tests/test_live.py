"""Live updates: an append reaches open SSE streams once the projection shows it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
import uvicorn
from fastapi import Depends, FastAPI

from cityhall.events.db import Pool, create_pool, migrate
from cityhall.events.localpg import free_port
from cityhall.events.projection import ProjectionRunner
from cityhall.events.store import EventStore
from cityhall.events.testing import wait_for
from cityhall.web import LiveUpdates, StaffUser, install, require_role

from .conftest import Totals, append, new_config, total

Clerk = Annotated[StaffUser, Depends(require_role("certificates"))]


@pytest.fixture
async def service(fresh_database: str) -> AsyncIterator[tuple[Pool, EventStore]]:
    pool = await create_pool(fresh_database, "svc_livetest", max_size=4)
    await migrate(pool, ["cityhall.events"])
    store = EventStore(pool)
    runner = ProjectionRunner(store, Totals())
    await runner.ensure()
    task = asyncio.create_task(runner.run(poll_interval=30))  # woken by NOTIFY, not by polling
    try:
        yield pool, store
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await pool.close()


async def test_stream_sends_update_after_append_when_the_view_shows_it(
    service: tuple[Pool, EventStore],
) -> None:
    pool, store = service
    live = LiveUpdates(pool, projections=["totals"], heartbeat=0.2, poll_interval=30)
    seen: list[tuple[str, int]] = []

    async def read() -> None:
        async for chunk in live.stream():
            # What a page re-fetching on `update` would see at that moment.
            seen.append((chunk, await total(pool) if chunk.startswith("event: update") else -1))

    reader = asyncio.create_task(read())
    try:
        await wait_for(lambda: live.listening and any("connected" in c for c, _ in seen), timeout=10)
        await wait_for(lambda: any("keep-alive" in c for c, _ in seen), timeout=10)  # heartbeats flow
        await append(store, 5)
        await wait_for(lambda: any(c.startswith("event: update") for c, _ in seen), timeout=10)
        updates = [t for c, t in seen if c.startswith("event: update")]
        assert updates[0] == 5
        await append(store, 2)
        await wait_for(lambda: [t for c, t in seen if c.startswith("event: update")][-1:] == [7], timeout=10)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    await wait_for(lambda: live.subscribers == 0 and not live.listening, timeout=5)
    await live.close()


async def test_many_streams_share_one_connection(service: tuple[Pool, EventStore]) -> None:
    pool, store = service
    live = LiveUpdates(pool, heartbeat=5, poll_interval=30)
    got = [0, 0, 0]

    async def read(i: int) -> None:
        async for _generation in live.changes():
            got[i] += 1

    readers = [asyncio.create_task(read(i)) for i in range(3)]
    try:
        await wait_for(lambda: live.subscribers == 3 and live.listening, timeout=5)
        await wait_for(
            lambda: pool.get_size() - pool.get_idle_size() == 2, timeout=5
        )  # listener + projection
        await append(store, 1)
        await wait_for(lambda: got == [1, 1, 1], timeout=10)
    finally:
        for r in readers:
            r.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    await wait_for(lambda: not live.listening and pool.get_size() - pool.get_idle_size() == 1, timeout=5)
    await live.close()


async def test_sse_over_http_survives_client_disconnects(service: tuple[Pool, EventStore]) -> None:
    pool, store = service
    config = new_config()
    live = LiveUpdates(pool, projections=["totals"], heartbeat=0.3, poll_interval=30)
    app = FastAPI()
    auth = install(app, config)

    @app.get("/live")
    async def stream(user: Clerk) -> object:
        return live.response()

    root = FastAPI()
    root.mount("/staff/certificates", app)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(root, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    serving = asyncio.create_task(server.serve())
    token, _ = auth.sessions.issue(StaffUser("cert-clerk", "証明書係 市川", frozenset({"certificates"})))
    url = f"http://127.0.0.1:{port}/staff/certificates/live"
    try:
        await wait_for(lambda: server.started, timeout=10)
        async with httpx.AsyncClient(timeout=10) as client:
            refused = await client.get(url, headers={"Accept": "text/event-stream"})
            assert refused.status_code == 303  # no session: to the login page
            for _round in range(2):
                async with client.stream(
                    "GET", url, headers={"Cookie": f"cityhall_staff={token}"}
                ) as response:
                    assert response.status_code == 200
                    assert response.headers["content-type"].startswith("text/event-stream")
                    lines = response.aiter_lines()
                    assert await anext(lines) == "retry: 3000"
                    await wait_for(lambda: live.subscribers == 1, timeout=5)
                    await append(store, 1)
                    async with asyncio.timeout(10):
                        async for line in lines:
                            if line == "event: update":
                                break
                # The client went away: the stream ends and the shared listener is released.
                await wait_for(lambda: live.subscribers == 0 and not live.listening, timeout=10)
        assert pool.get_size() - pool.get_idle_size() == 1  # only the projection's connection
    finally:
        server.should_exit = True
        await serving
        await live.close()
