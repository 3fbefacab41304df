"""`cityhall run`'s composition: the development tools (the LINE emulator, the resident simulator,
the simulated payment provider) only in the development profile, the banner that says which
profile runs, and a log that keeps the HTTP clients' request lines out."""

from __future__ import annotations

import asyncio
import logging
import re
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

from cityhall.events.embedded_bus import EmbeddedBus
from cityhall.events.localpg import free_port
from cityhall.events.testing import wait_for
from cityhall.runtime.cli import (
    app,
    configure_logging,
    embedded_banner,
    embedded_services,
    embedded_settings,
    private_dir,
    uses_emulator,
)
from cityhall.runtime.env import ConfigError
from cityhall.runtime.service import Settings
from cityhall.runtime.system import System

DEVELOPMENT_TOOLS = {"line-emulator", "simulator", "payments-sim"}
REAL = {"LINE_CHANNEL_ACCESS_TOKEN": "a-real-channel-token", "LINE_CHANNEL_SECRET": "a-real-channel-secret"}


def configured(tmp_path: Path, port: int = 8000, **env: str) -> Settings:
    """What the operator set: `env` are environment variables."""
    return Settings.from_env(
        {"CITYHALL_PORT": str(port), "CITYHALL_DATA_DIR": str(tmp_path), **env},
    )


def test_the_profile_is_development_only_without_a_real_channel(tmp_path: Path) -> None:
    assert configured(tmp_path).profile == "development"
    assert configured(tmp_path, **REAL).profile == "production"
    assert configured(tmp_path, CITYHALL_PROFILE="production").profile == "production"
    # A token for an emulator elsewhere (the distributed development system): development when said so.
    emulator = {"LINE_CHANNEL_ACCESS_TOKEN": "t", "LINE_API_URL": "http://line-emulator:8000/line-api"}
    assert configured(tmp_path, **emulator).profile == "production"
    assert configured(tmp_path, CITYHALL_PROFILE="development", **emulator).profile == "development"
    # Development beside a token for LINE itself is refused, naming the setting.
    for api in ({}, {"LINE_API_URL": "https://api.line.me"}):
        with pytest.raises(ConfigError, match="CITYHALL_PROFILE"):
            configured(tmp_path, CITYHALL_PROFILE="development", **REAL, **api)
    with pytest.raises(ConfigError, match="CITYHALL_PROFILE"):
        configured(tmp_path, CITYHALL_PROFILE="staging")


def test_the_run_talks_to_its_emulator_only_in_development_without_another_line_api(tmp_path: Path) -> None:
    assert uses_emulator(configured(tmp_path))
    assert uses_emulator(configured(tmp_path, LINE_API_URL="http://127.0.0.1:8000/line-api/"))
    assert not uses_emulator(configured(tmp_path, LINE_API_URL="http://line-emulator:8000/line-api"))
    assert not uses_emulator(configured(tmp_path, **REAL))

    assert embedded_settings(configured(tmp_path)).line_api_url == "http://127.0.0.1:8000/line-api"
    real = embedded_settings(configured(tmp_path, **REAL))
    assert (real.line_api_url, real.line_channel_access_token, real.line_channel_secret) == (
        "https://api.line.me",
        "a-real-channel-token",
        "a-real-channel-secret",
    )
    # A real token sent to an emulator that is not served: a clear error, not a run that fails later.
    with pytest.raises(SystemExit, match="LINE_API_URL"):
        embedded_settings(configured(tmp_path, LINE_API_URL="http://127.0.0.1:8000/line-api", **REAL))
    # Production makes up no channel: what is missing is named.
    with pytest.raises(SystemExit, match="LINE_CHANNEL_ACCESS_TOKEN and LINE_CHANNEL_SECRET"):
        embedded_settings(configured(tmp_path, CITYHALL_PROFILE="production"))


def test_the_data_dir_is_made_private(tmp_path: Path) -> None:
    older = tmp_path / "older"
    older.mkdir()
    older.chmod(0o755)  # as a run before this one left it
    for path in (older, tmp_path / "new" / "data"):
        assert stat.S_IMODE(private_dir(path).stat().st_mode) == 0o700


async def test_the_production_profile_mounts_no_development_tool_and_the_banner_says_so(
    fresh_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITYHALL_PAYMENTS_URL", "https://payments.example.jp")
    monkeypatch.setenv("CITYHALL_PAYMENTS_SECRET", "a-real-provider-secret")
    operator = configured(tmp_path, CITYHALL_PROFILE="production", **REAL)
    settings = embedded_settings(operator)
    specs = embedded_services(settings)
    assert DEVELOPMENT_TOOLS.isdisjoint(s.name for s in specs)
    assert {"gateway", "certificates"} <= {s.name for s in specs}
    system = System(settings, "embedded", EmbeddedBus(fresh_database), fresh_database)
    try:
        await system.start(specs)
        transport = httpx.ASGITransport(app=system.asgi())
        async with httpx.AsyncClient(transport=transport, base_url=settings.public_url) as client:
            for path in (
                "/line-api/_inspect/messages?to=U0",
                "/line-api/_inspect/stats",
                "/sim/api/residents",
                "/pay/checkout/chk_0",
            ):
                assert (await client.get(path)).status_code == 404, path
            assert (await client.get("/healthz")).status_code == 200
    finally:
        await system.stop()
    services_banner = [line for s in system.services for line in s.running.banner]
    assert "  Staff portal       : http://127.0.0.1:8000/staff/" in services_banner
    assert not [line for line in services_banner if "Demo staff logins" in line]
    banner = "\n".join(embedded_banner(settings))
    assert "Profile            : production" in banner
    assert "LINE emulator      : off (production profile): no /line-api, no /sim, no /pay" in banner
    assert "LINE API in use    : https://api.line.me" in banner
    assert f"{settings.public_url}/line-api" not in banner and "Resident simulator" not in banner


async def test_in_production_certificates_refuses_to_start_without_a_payment_provider(
    fresh_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CITYHALL_PAYMENTS_URL", raising=False)
    settings = embedded_settings(configured(tmp_path, CITYHALL_PROFILE="production", **REAL))
    [certificates] = [s for s in embedded_services(settings) if s.name == "certificates"]
    system = System(settings, "embedded", EmbeddedBus(fresh_database), fresh_database)
    try:
        with pytest.raises(SystemExit, match="set CITYHALL_PAYMENTS_URL"):
            await system.start([certificates])
    finally:
        await system.stop()


@pytest.mark.parametrize("tool", sorted(DEVELOPMENT_TOOLS))
def test_a_development_tool_is_not_run_alone_in_production(tool: str) -> None:
    result = CliRunner().invoke(app, ["service", tool], env={"CITYHALL_PROFILE": "production"})
    assert result.exit_code == 2
    message = re.sub(r"[\s│]+", " ", result.output)  # typer frames the error in a box
    assert f"{tool} is a development tool: it runs only with CITYHALL_PROFILE=development" in message


@pytest.fixture
async def served(fresh_database: str, tmp_path: Path) -> AsyncIterator[tuple[Settings, System]]:
    """The default embedded composition, served on a real port as `cityhall run` serves it."""
    settings = embedded_settings(configured(tmp_path, port=free_port()))
    system = System(settings, "embedded", EmbeddedBus(fresh_database, poll_interval=0.2), fresh_database)
    try:
        await system.start(embedded_services(settings))
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


async def test_by_default_the_development_tools_are_mounted_announced_and_internal_calls_stay_out_of_the_log(
    served: tuple[Settings, System], caplog: pytest.LogCaptureFixture
) -> None:
    settings, system = served
    assert {s.spec.name for s in system.services} >= DEVELOPMENT_TOOLS
    banner = "\n".join(embedded_banner(settings))
    url = settings.public_url
    assert "Profile            : development (CITYHALL_PROFILE)" in banner
    assert f"LINE emulator      : on ({url}/line-api/_inspect shows every message" in banner
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
