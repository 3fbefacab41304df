"""A service moved to a new prefix keeps its old links: `ServiceSpec.moved_from` redirects them."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from cityhall.runtime.system import MovedTo


async def test_a_request_below_the_old_prefix_is_redirected_to_the_same_path_below_the_new_one() -> None:
    root = FastAPI()
    root.mount("/staff/notify", MovedTo("/staff/notify", "/staff/notices"))
    transport = httpx.ASGITransport(app=root)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        page = await client.get("/staff/notify/notices/new?kind=alert")
        assert (page.status_code, page.headers["location"]) == (308, "/staff/notices/notices/new?kind=alert")
        posted = await client.post("/staff/notify/api/notices", json={})
        assert (posted.status_code, posted.headers["location"]) == (308, "/staff/notices/api/notices")


async def test_a_proxy_prefix_is_kept() -> None:
    root = FastAPI()
    root.mount("/staff/notify", MovedTo("/staff/notify", "/staff/notices"))
    transport = httpx.ASGITransport(app=root, root_path="/city")
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        page = await client.get("/city/staff/notify/")
        assert page.headers["location"] == "/city/staff/notices/"
