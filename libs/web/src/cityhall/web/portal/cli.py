"""`cityhall staff`: local staff accounts for a deployment without OIDC (uses DATABASE_URL)."""

from __future__ import annotations

import asyncio

import typer

from cityhall.events.db import create_pool, migrate
from cityhall.runtime.service import Settings
from cityhall.runtime.system import schema_for
from cityhall.web.portal.accounts import Accounts

app = typer.Typer(help="Staff accounts of the portal (local login).", no_args_is_help=True)


async def _accounts() -> Accounts:
    settings = Settings.from_env()
    if not settings.database_url:
        raise typer.BadParameter("set DATABASE_URL (the staff portal's database)")
    pool = await create_pool(settings.database_url, schema_for("staff-portal"), max_size=2)
    await migrate(pool, ["cityhall.events", "cityhall.web", "cityhall.web.portal"])
    return Accounts(pool)


@app.command("add")
def add(
    username: str,
    name: str = typer.Option(..., "--name", help="Display name, e.g. 証明書係 山田"),
    role: list[str] = typer.Option(..., "--role", help="A department role; repeat for several"),  # noqa: B008
) -> None:
    """Create or replace an account; the password is asked for (not echoed)."""
    password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def main() -> None:
        accounts = await _accounts()
        try:
            await accounts.save(username, name, password, role)
        finally:
            await accounts.pool.close()

    try:
        asyncio.run(main())
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(f"saved {username} ({', '.join(sorted(set(role)))})")


@app.command("disable")
def disable(username: str) -> None:
    """Disable an account (its open sessions end when they expire)."""

    async def main() -> bool:
        accounts = await _accounts()
        try:
            return await accounts.disable(username)
        finally:
            await accounts.pool.close()

    if not asyncio.run(main()):
        raise typer.BadParameter(f"no account {username!r}")
    typer.echo(f"disabled {username}")
