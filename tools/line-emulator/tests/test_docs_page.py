"""The emulator's OpenAPI page runs under a CSP that allows its one inline script by hash only."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx


async def test_the_docs_page_allows_its_inline_script_by_hash_only(client: httpx.AsyncClient) -> None:
    page = await client.get("/_inspect/docs")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    (script,) = re.findall(r"<script>(.*?)</script>", page.text, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in policy
    assert "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    assert "/_inspect/openapi.json" in script
