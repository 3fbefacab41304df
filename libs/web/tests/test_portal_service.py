"""The portal as the runtime starts it: ServiceSpec, migrations, demo accounts and banner."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from cityhall.events.embedded_bus import EmbeddedBus
from cityhall.runtime.service import Settings
from cityhall.runtime.system import System
from cityhall.web.portal.accounts import demo_accounts, demo_passwords
from cityhall.web.portal.spec import service

from .conftest import csrf_from


async def test_embedded_run_creates_demo_accounts_and_prints_them(
    fresh_database: str, tmp_path: Path
) -> None:
    settings = Settings(port=8123, public_url="http://127.0.0.1:8123", data_dir=tmp_path)
    system = System(settings, "embedded", EmbeddedBus(fresh_database), fresh_database)
    try:
        await system.start([service])
        banner = "\n".join(system.services[0].running.banner)
        passwords = demo_passwords(tmp_path)
        assert set(passwords) == {a.username for a in demo_accounts()}
        assert (tmp_path / "demo-accounts.json").stat().st_mode & 0o777 == 0o600
        assert json.loads((tmp_path / "demo-accounts.json").read_text()) == passwords
        for username, password in passwords.items():
            assert f"{username}" in banner and password in banner
        assert "http://127.0.0.1:8123/staff/" in banner
        assert (tmp_path / "session-secret").exists()

        transport = httpx.ASGITransport(app=system.asgi())
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            page = await client.get("/staff/login")
            response = await client.post(
                "/staff/login",
                data={
                    "username": "cert-admin",
                    "password": passwords["cert-admin"],
                    "csrf_token": csrf_from(page.text),
                },
            )
            assert response.status_code == 303
            me = (await client.get("/staff/api/me")).json()
            assert me["roles"] == ["certificates", "certificates-admin"]
            assert me["display_name"] == "証明書係長 渋谷"
            assert (await client.get("/staff")).status_code in (200, 307)
    finally:
        await system.stop()


async def test_demo_password_from_the_environment(tmp_path: Path) -> None:
    assert demo_passwords(tmp_path, {"CITYHALL_DEMO_PASSWORD": "demo-pass-123"}) == {
        a.username: "demo-pass-123" for a in demo_accounts()
    }
    assert not (tmp_path / "demo-accounts.json").exists()
    generated = demo_passwords(tmp_path, {})
    assert demo_passwords(tmp_path, {}) == generated  # kept, not regenerated


async def test_distributed_portal_has_no_demo_accounts(
    fresh_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITYHALL_SESSION_SECRET", "s" * 40)
    settings = Settings(data_dir=tmp_path)
    system = System(settings, "distributed", EmbeddedBus(fresh_database), fresh_database)
    try:
        await system.start([service])
        assert not any("cert-clerk" in line for line in system.services[0].running.banner)
        assert (
            await system.services[0].context.require_pool().fetchval("SELECT count(*) FROM staff_accounts")
            == 0
        )
        assert not (tmp_path / "session-secret").exists()
    finally:
        await system.stop()
