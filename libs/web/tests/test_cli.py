"""`cityhall staff add|disable`: local accounts for a deployment without OIDC."""

from __future__ import annotations

import asyncio

import pytest
from typer.testing import CliRunner

from cityhall.events.db import create_pool
from cityhall.web import StaffUser
from cityhall.web.portal.accounts import Accounts
from cityhall.web.portal.cli import app


def authenticate(dsn: str, username: str, password: str) -> StaffUser | None:
    async def main() -> StaffUser | None:
        pool = await create_pool(dsn, "svc_staff_portal", max_size=1)
        try:
            return await Accounts(pool).authenticate(username, password)
        finally:
            await pool.close()

    return asyncio.run(main())


def test_add_then_disable(fresh_database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", fresh_database)
    runner = CliRunner()
    added = runner.invoke(
        app,
        [
            "add",
            "yamada",
            "--name",
            "証明書係 山田",
            "--role",
            "certificates",
            "--role",
            "certificates-admin",
        ],
        input="long enough pw\nlong enough pw\n",
    )
    assert added.exit_code == 0, added.output
    assert "long enough pw" not in added.output  # never echoed
    user = authenticate(fresh_database, "yamada", "long enough pw")
    assert user is not None
    assert user.roles == {"certificates", "certificates-admin"}
    short = runner.invoke(app, ["add", "tanaka", "--name", "田中", "--role", "roads"], input="short\nshort\n")
    assert short.exit_code != 0
    assert runner.invoke(app, ["disable", "yamada"]).exit_code == 0
    assert authenticate(fresh_database, "yamada", "long enough pw") is None
    assert runner.invoke(app, ["disable", "nobody"]).exit_code != 0
