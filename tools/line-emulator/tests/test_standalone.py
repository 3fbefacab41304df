"""`python -m cityhall.line_emulator` as its own process, configured from the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from cityhall.events.localpg import free_port
from cityhall.events.testing import wait_for


@pytest.fixture
def standalone() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    env = {**os.environ, "LINE_EMULATOR_TOKENS": "alpha, beta", "LINE_EMULATOR_RATE_LIMITS": "push=1/h"}
    process = subprocess.Popen(
        [sys.executable, "-m", "cityhall.line_emulator", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def test_standalone_process_over_http(standalone: tuple[str, subprocess.Popen[bytes]]) -> None:
    url, process = standalone
    async with httpx.AsyncClient(base_url=url, timeout=5) as http:

        async def up() -> bool:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                return (await http.get("/_inspect/stats")).status_code == 200
            except httpx.TransportError:
                return False

        await wait_for(up, timeout=30, message="emulator process listening")

        body = {"to": "Ualice", "messages": [{"type": "text", "text": "こんにちは"}]}
        assert (await http.post("/v2/bot/message/push", json=body, headers=_auth("gamma"))).status_code == 401
        sent = await http.post("/v2/bot/message/push", json=body, headers=_auth("beta"))
        assert sent.status_code == 200
        limited = await http.post("/v2/bot/message/push", json=body, headers=_auth("alpha"))
        assert limited.status_code == 429  # LINE_EMULATOR_RATE_LIMITS=push=1/h

        [message] = (await http.get("/_inspect/messages", params={"to": "Ualice"})).json()["messages"]
        assert message["message"] == body["messages"][0]
        assert message["requestId"] == sent.headers["x-line-request-id"]


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
