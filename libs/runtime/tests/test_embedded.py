"""`cityhall run`'s composition: the LINE emulator only without a real channel, the banner that says
so, and a log that keeps the HTTP clients' request lines out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from cityhall.events.embedded_bus import EmbeddedBus
from cityhall.events.localpg import free_port
from cityhall.events.testing import wait_for
from cityhall.runtime.cli import (
    configure_logging,
    embedded_banner,
    embedded_services,
    embedded_settings,
    serves_emulator,
)
from cityhall.runtime.service import Settings
from cityhall.runtime.system import System

STAND_INS = {"line-emulator", "simulator"}


def configured(tmp_path: Path, port: int = 8000, **line: str) -> Settings:
    """What the operator set: `line` is LINE_CHANNEL_ACCESS_TOKEN / LINE_API_URL."""
    return Settings(
        port=port,
        public_url=f"http://127.0.0.1:{port}",
        data_dir=tmp_path,
        line_channel_access_token=line.get("token"),
        line_api_url=line.get("api"),
    )


def test_the_emulator_is_served_only_when_the_run_talks_to_it(tmp_path: Path) -> None:
    assert serves_emulator(configured(tmp_path))
    assert serves_emulator(configured(tmp_path, api="http://127.0.0.1:8000/line-api/"))
    assert not serves_emulator(configured(tmp_path, token="a-real-channel-token"))
    assert not serves_emulator(configured(tmp_path, api="https://api.line.me"))
    assert not serves_emulator(configured(tmp_path, api="http://line-emulator:8000/line-api"))

    assert embedded_settings(configured(tmp_path)).line_api_url == "http://127.0.0.1:8000/line-api"
    real = embedded_settings(configured(tmp_path, token="a-real-channel-token"))
    assert (real.line_api_url, real.line_channel_access_token) == (
        "https://api.line.me",
        "a-real-channel-token",
    )
    # A real token sent to an emulator that is not served: a clear error, not a run that fails later.
    with pytest.raises(SystemExit, match="LINE_API_URL"):
        embedded_settings(configured(tmp_path, token="t", api="http://127.0.0.1:8000/line-api"))


async def test_with_a_real_channel_there_is_no_line_api_and_the_banner_says_so(
    fresh_database: str, tmp_path: Path
) -> None:
    operator = configured(tmp_path, token="a-real-channel-token")
    settings = embedded_settings(operator)
    specs = embedded_services(operator)
    assert STAND_INS.isdisjoint(s.name for s in specs)
    assert "gateway" in {s.name for s in specs}
    system = System(settings, "embedded", EmbeddedBus(fresh_database), fresh_database)
    try:
        await system.start(specs)
        transport = httpx.ASGITransport(app=system.asgi())
        async with httpx.AsyncClient(transport=transport, base_url=settings.public_url) as client:
            for path in (
                "/line-api/_inspect/messages?to=U0",
                "/line-api/_inspect/stats",
                "/sim/api/residents",
            ):
                assert (await client.get(path)).status_code == 404, path
            assert (await client.get("/healthz")).status_code == 200
    finally:
        await system.stop()
    banner = "\n".join(embedded_banner(settings, serves_emulator(operator)))
    assert "LINE emulator      : off" in banner
    assert "LINE API in use    : https://api.line.me" in banner
    assert f"{settings.public_url}/line-api" not in banner and "Resident simulator" not in banner


@pytest.fixture
async def served(fresh_database: str, tmp_path: Path) -> AsyncIterator[tuple[Settings, System]]:
    """The default embedded composition, served on a real port as `cityhall run` serves it."""
    operator = configured(tmp_path, port=free_port())
    settings = embedded_settings(operator)
    system = System(settings, "embedded", EmbeddedBus(fresh_database, poll_interval=0.2), fresh_database)
    try:
        await system.start(embedded_services(operator))
        server = uvicorn.Server(
            uvicorn.Config(
                system.asgi(),
                host="127.0.0.1",
                port=settings.port,
                log_level="warning",
                access_log=False,
                lifespan="off",
            )
        )
        system.run_background()
        serving = asyncio.create_task(server.serve())
        try:
            await wait_for(lambda: server.started, timeout=30, message="server listening")
            yield settings, system
        finally:
            server.should_exit = True
            await serving
    finally:
        await system.stop()


async def test_by_default_the_emulator_is_mounted_announced_and_internal_calls_stay_out_of_the_log(
    served: tuple[Settings, System], caplog: pytest.LogCaptureFixture
) -> None:
    settings, system = served
    assert {s.spec.name for s in system.services} >= STAND_INS
    banner = "\n".join(embedded_banner(settings, True))
    url = settings.public_url
    assert f"LINE emulator      : on, development only ({url}/line-api/_inspect" in banner
    assert f"Resident simulator : {url}/" in banner
    assert f"LINE API in use    : {url}/line-api" in banner

    configure_logging()
    caplog.set_level(logging.INFO)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        assert (await client.get("/line-api/_inspect/stats")).status_code == 200
        # A resident follows through the simulator: the simulator calls the emulator and signs a
        # webhook to /callback, notify replies through the emulator; all over HTTP.
        created = await client.post("/sim/api/residents", json={"displayName": "ログ 確認"})
        assert created.status_code == 201, created.text
        user = created.json()["userId"]
        followed = await client.post(f"/sim/api/residents/{user}/actions", json={"type": "follow"})
        assert followed.status_code == 200, followed.text

        async def welcomed() -> bool:
            response = await client.get("/line-api/_inspect/messages", params={"to": user})
            return bool(response.json()["messages"])

        await wait_for(welcomed, timeout=30, message="the welcome reached the emulator")

    clients = [r for r in caplog.records if r.name.split(".")[0] in ("httpx", "httpcore")]
    assert [r.getMessage() for r in clients if r.levelno < logging.WARNING] == []
