"""Ending staff sessions on the server: per-account session epochs.

A session cookie is signed and self-contained (see `auth.SessionCodec`), so every service can
read it with the shared secret. It also carries `e`, its account's *session epoch* at login.
The portal keeps the current epoch in `staff_accounts.session_epoch` and bumps it on logout,
on `disable` and when the account's roles change; a session whose epoch is not the account's
current one (or whose account is gone or disabled) is refused. Each process remembers an
account's epoch for `ttl` seconds (`CITYHALL_SESSION_CHECK_SECONDS`, default 5), so a change
reaches every replica of every service within that time, and costs one look-up per account
and interval.

Where a service reads the epoch (`WebConfig.from_context` chooses):

- the portal: its own `staff_accounts` table;
- the embedded run: the same database, the portal's schema (`svc_staff_portal`); a run
  without the portal has no accounts and no sessions to end, so nothing is checked;
- distributed: the portal's `GET <portal>/api/session-epochs/<username>` at
  `CITYHALL_STAFF_PORTAL_INTERNAL_URL`, with a key derived from the session secret.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from urllib.parse import quote

import httpx

from cityhall.events.db import Pool
from cityhall.runtime.system import schema_for

log = logging.getLogger("cityhall.web.sessions")

NO_STORE = -1
"""What a loader answers when the run has no account store at all: nothing to check."""

Loader = Callable[[str], Awaitable[int | None]]
"""username → the account's current epoch; None: no such account, or disabled."""

SERVICE_KEY_HEADER = "X-Cityhall-Service-Key"
EPOCHS_PATH = "/api/session-epochs"


class SessionEpochs:
    """Whether a session's epoch is its account's current one, each account's epoch cached
    for `ttl` seconds. A store that cannot be reached refuses the session (and is asked again
    at the next request)."""

    def __init__(self, load: Loader, ttl: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.load, self.ttl, self.clock = load, ttl, clock
        self._cache: dict[str, tuple[float, int | None]] = {}  # only signed tokens' usernames

    async def valid(self, username: str, epoch: int) -> bool:
        now = self.clock()
        cached = self._cache.get(username)
        if cached is not None and now - cached[0] < self.ttl:
            current = cached[1]
        else:
            try:
                current = await self.load(username)
            except Exception as exc:
                log.warning("cannot check the session of %s, refusing it: %r", username, exc)
                return False
            self._cache[username] = (now, current)
        return current in (NO_STORE, epoch)

    def forget(self, username: str) -> None:
        """Drop the cached epoch (this process changed it)."""
        self._cache.pop(username, None)


def table_loader(pool: Pool, table: str = "staff_accounts") -> Loader:
    async def load(username: str) -> int | None:
        value = await pool.fetchval(
            f"SELECT session_epoch FROM {table} WHERE username = $1 AND NOT disabled", username
        )
        return None if value is None else int(value)

    return load


def embedded_loader(pool: Pool) -> Loader:
    """The portal's table in the embedded run's shared database; `NO_STORE` without the portal."""
    table = f"{schema_for('staff-portal')}.staff_accounts"
    from_table = table_loader(pool, table)

    async def load(username: str) -> int | None:
        if await pool.fetchval("SELECT to_regclass($1)", table) is None:
            return NO_STORE
        return await from_table(username)

    return load


def service_key(session_secret: str) -> str:
    """What a service shows the portal to read epochs: only holders of the secret know it."""
    return hmac.new(session_secret.encode(), b"cityhall.session-epochs", hashlib.sha256).hexdigest()


def portal_loader(
    portal_url: str, session_secret: str, transport: httpx.AsyncBaseTransport | None = None
) -> Loader:
    """Asks the portal (`portal_url`, e.g. `http://staff-portal:8000/staff`)."""
    headers = {SERVICE_KEY_HEADER: service_key(session_secret)}

    async def load(username: str) -> int | None:
        # A client per look-up: at most one per account and interval, and nothing to close.
        async with httpx.AsyncClient(transport=transport, timeout=3.0) as client:
            response = await client.get(
                f"{portal_url.rstrip('/')}{EPOCHS_PATH}/{quote(username, safe='')}", headers=headers
            )
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return int(response.json()["epoch"])

    return load
