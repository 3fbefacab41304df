"""Local staff accounts (argon2id hashes in Postgres), demo accounts, and login throttling."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from cityhall.events.db import Pool
from cityhall.runtime import registry
from cityhall.runtime.declarations import DemoAccount
from cityhall.web.auth import StaffUser, hash_password, password_needs_rehash, verify_password
from cityhall.web.config import WebEnv

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


def demo_accounts() -> tuple[DemoAccount, ...]:
    """The staff logins the installed services declare (`ServiceSpec.demo_accounts`); created at
    the start of the embedded run only."""
    return registry.demo_accounts()


class Accounts:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    async def save(
        self,
        username: str,
        display_name: str,
        password: str,
        roles: Iterable[str],
        *,
        password_hash: str | None = None,
    ) -> None:
        """Create or replace an account (enabled). `password_hash`: one made already for `password`."""
        if not USERNAME.match(username):
            raise ValueError("username: 2-64 of a-z 0-9 . _ -, starting with a letter or digit")
        if len(password) < 8:
            raise ValueError("password: at least 8 characters")
        if password_hash is None:
            password_hash = await asyncio.to_thread(hash_password, password)
        await self.pool.execute(
            """INSERT INTO staff_accounts (username, display_name, password_hash, roles)
               VALUES ($1, $2, $3, $4)
               ON CONFLICT (username) DO UPDATE SET display_name = excluded.display_name,
                   password_hash = excluded.password_hash, roles = excluded.roles,
                   disabled = false, updated_at = now()""",
            username,
            display_name,
            password_hash,
            sorted(set(roles)),
        )

    async def disable(self, username: str) -> bool:
        status = await self.pool.execute(
            "UPDATE staff_accounts SET disabled = true, updated_at = now() WHERE username = $1", username
        )
        return status.endswith(" 1")

    async def authenticate(self, username: str, password: str) -> StaffUser | None:
        """The person if the password matches an enabled account; the same work either way."""
        row = await self.pool.fetchrow(
            "SELECT display_name, password_hash, roles, disabled FROM staff_accounts WHERE username = $1",
            username,
        )
        stored = row["password_hash"] if row is not None and not row["disabled"] else None
        if not await asyncio.to_thread(verify_password, stored, password) or row is None:
            return None
        if password_needs_rehash(row["password_hash"]):
            await self.pool.execute(
                "UPDATE staff_accounts SET password_hash = $2, updated_at = now() WHERE username = $1",
                username,
                await asyncio.to_thread(hash_password, password),
            )
        return StaffUser(username=username, display_name=row["display_name"], roles=frozenset(row["roles"]))


def demo_passwords(data_dir: Path, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Each demo account's password: `CITYHALL_DEMO_PASSWORD` for all, else generated once and
    kept in `<data_dir>/demo-accounts.json` (mode 0600)."""
    fixed = WebEnv.read(env).demo_password
    if fixed:
        return {a.username: fixed for a in demo_accounts()}
    path = data_dir / "demo-accounts.json"
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = [a.username for a in demo_accounts() if a.username not in stored]
    if missing:
        for username in missing:
            stored[username] = secrets.token_urlsafe(9)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(stored, indent=2))
        path.chmod(0o600)
    return {a.username: stored[a.username] for a in demo_accounts()}


async def ensure_demo_accounts(
    accounts: Accounts, data_dir: Path, env: Mapping[str, str] | None = None
) -> list[DemoAccount]:
    """Create (or reset) the demo accounts; returns them with their passwords."""
    passwords = demo_passwords(data_dir, env)
    demo = []
    for account in demo_accounts():
        await accounts.save(
            account.username, account.display_name, passwords[account.username], account.roles
        )
        demo.append(
            DemoAccount(account.username, account.display_name, account.roles, passwords[account.username])
        )
    return demo


class LoginThrottle:
    """Failed logins per (username, client address): after `limit` in `window` seconds, refuse
    until the oldest falls out of the window. In memory: per portal process."""

    def __init__(self, limit: int = 5, window: float = 900.0, max_keys: int = 10_000) -> None:
        self.limit, self.window, self.max_keys = limit, window, max_keys
        self._failures: dict[tuple[str, str], list[float]] = {}

    def _recent(self, key: tuple[str, str], now: float) -> list[float]:
        times = [t for t in self._failures.get(key, []) if now - t < self.window]
        if times:
            self._failures[key] = times
        else:
            self._failures.pop(key, None)
        return times

    def blocked(self, username: str, address: str) -> bool:
        return len(self._recent((username.lower(), address), time.monotonic())) >= self.limit

    def failed(self, username: str, address: str) -> None:
        key = (username.lower(), address)
        now = time.monotonic()
        self._failures[key] = [*self._recent(key, now), now]
        if len(self._failures) > self.max_keys:  # bound the memory an attacker can make us use
            for stale in [k for k in list(self._failures) if not self._recent(k, now)]:
                self._failures.pop(stale, None)
            while len(self._failures) > self.max_keys:  # still too many: forget the oldest
                self._failures.pop(next(iter(self._failures)))

    def succeeded(self, username: str, address: str) -> None:
        self._failures.pop((username.lower(), address), None)
