"""Local staff accounts (argon2id hashes in Postgres), demo accounts, and login throttling."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cityhall.events.db import Pool
from cityhall.runtime import registry
from cityhall.runtime.declarations import DemoAccount
from cityhall.web.auth import StaffUser, hash_password, password_needs_rehash, verify_password
from cityhall.web.config import WebEnv
from cityhall.web.sessions import table_loader

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
        """Create or replace an account (enabled). `password_hash`: one made already for `password`.
        Changing the roles of an account, or enabling it again, ends its open sessions."""
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
                   disabled = false, updated_at = now(),
                   session_epoch = staff_accounts.session_epoch
                       + CASE WHEN staff_accounts.roles IS DISTINCT FROM excluded.roles
                                   OR staff_accounts.disabled THEN 1 ELSE 0 END""",
            username,
            display_name,
            password_hash,
            sorted(set(roles)),
        )

    async def disable(self, username: str) -> bool:
        """Refuse the account's logins and end its open sessions."""
        status = await self.pool.execute(
            """UPDATE staff_accounts SET disabled = true, session_epoch = session_epoch + 1,
                   updated_at = now() WHERE username = $1""",
            username,
        )
        return status.endswith(" 1")

    async def end_sessions(self, username: str) -> None:
        """Logout: every session of the account issued so far is refused from now on."""
        await self.pool.execute(
            "UPDATE staff_accounts SET session_epoch = session_epoch + 1 WHERE username = $1", username
        )

    async def session_epoch(self, username: str) -> int | None:
        """The epoch a new session of the account carries; None when it is unknown or disabled."""
        return await table_loader(self.pool)(username)

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


@dataclass(frozen=True)
class ThrottlePolicy:
    """Growing delays after failed logins, never a lock-out: after `free` failures in `window`,
    each further attempt waits `base * 2**(failures - free)` seconds (up to a cap) after the
    latest failure; an attempt made while waiting is refused without checking the password and
    counts for nothing. Per account (any source), the cap is short, so an attacker can slow a
    clerk down by at most `account_cap` but never keep them out; per source (any account),
    where the guessing comes from, it is long."""

    window: timedelta = timedelta(minutes=15)
    base_seconds: float = 1.0
    account_free: int = 5
    account_cap_seconds: float = 60.0
    source_free: int = 10
    source_cap_seconds: float = 300.0

    def delay(self, failures: int, free: int, cap: float) -> timedelta:
        if failures < free:
            return timedelta(0)
        return timedelta(seconds=min(cap, self.base_seconds * 2 ** min(failures - free, 32)))


class LoginThrottle:
    """Failed logins counted in the database (`login_failures`), so every portal replica sees
    the same counts; per account and per source address (see `ThrottlePolicy`)."""

    def __init__(
        self,
        pool: Pool,
        policy: ThrottlePolicy | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.pool, self.policy, self.clock = pool, policy or ThrottlePolicy(), clock

    async def wait(self, username: str, source: str) -> timedelta:
        """How long this pair must still wait before a password is checked (zero: go ahead)."""
        now, policy = self.clock(), self.policy
        row = await self.pool.fetchrow(
            """SELECT count(*) FILTER (WHERE username = $1) AS account_failures,
                      max(at) FILTER (WHERE username = $1) AS account_last,
                      count(*) FILTER (WHERE source = $2) AS source_failures,
                      max(at) FILTER (WHERE source = $2) AS source_last
               FROM login_failures WHERE at > $3 AND (username = $1 OR source = $2)""",
            username.lower(),
            source,
            now - policy.window,
        )
        assert row is not None  # an aggregate always has its row
        until = now
        if row["account_last"] is not None:
            delay = policy.delay(row["account_failures"], policy.account_free, policy.account_cap_seconds)
            until = max(until, row["account_last"] + delay)
        if row["source_last"] is not None:
            delay = policy.delay(row["source_failures"], policy.source_free, policy.source_cap_seconds)
            until = max(until, row["source_last"] + delay)
        return until - now

    async def failed(self, username: str, source: str) -> None:
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM login_failures WHERE at <= $1", now - self.policy.window)
            await conn.execute(
                "INSERT INTO login_failures (at, username, source) VALUES ($1, $2, $3)",
                now,
                username.lower(),
                source,
            )

    async def succeeded(self, username: str, source: str) -> None:
        """This source proved it knows the password: its failures on the account are forgiven."""
        await self.pool.execute(
            "DELETE FROM login_failures WHERE username = $1 AND source = $2", username.lower(), source
        )
