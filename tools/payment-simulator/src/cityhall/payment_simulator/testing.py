"""Test support: what a resident does on the simulated provider's checkout page (only tests
import this module)."""

from __future__ import annotations

import httpx


async def press(url: str, outcome: str = "pay", *, timeout: float = 30) -> httpx.Response:
    """Open the checkout page at `url` and press its `pay`, `fail` or `cancel` button; the page
    the resident sees after it."""
    async with httpx.AsyncClient(timeout=timeout) as browser:
        page = await browser.get(url)
        assert page.status_code == 200 and "お支払い" in page.text, page.text[:300]
        return await browser.post(f"{url}/{outcome}", follow_redirects=True)
