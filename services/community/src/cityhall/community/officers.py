"""The officers' accounts (`community_officers`), apart from staff accounts, and how an officer
gets in. Why it is built so:

- An officer is a resident: their identity is their LINE account. 協働推進課 appoints them with
  an invitation code (8 characters from 32, 40 bits; 7 days; only its SHA-256 is stored, shown to
  the clerk once) that the officer sends in LINE. Whoever sends it binds *their* LINE account,
  so the code is handed over in person or by paper, like a 町内会's keys. Wrong codes are
  throttled per LINE account by the portal's `LoginThrottle` (growing delays, no lock-out).
- No password to choose, reuse or phish: to sign in, the officer asks in LINE and gets a link
  (256-bit token, 10 minutes, one use, only its hash stored) that only their LINE account can
  receive. The link's page asks for a button press (a POST with the CSRF check): link previews
  and scanners that fetch the URL do not spend it.
- The session is the kit's (signed cookie, epochs, CSRF) with a cookie of its own
  (`cityhall_officer`, Path=/community, its own salt): a staff cookie is no officer's, nor the
  reverse. Logout, or the clerk removing the officer, bumps the epoch and ends every session.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from asyncpg import Record

from cityhall.events.db import Connection, Pool
from cityhall.events.personal import FORGOTTEN
from cityhall.web import StaffUser

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
CODE_LIFETIME = timedelta(days=7)
LINK_LIFETIME = timedelta(minutes=10)
ROLE = "community-officer"
"""The one role of an officer's session (never a staff role)."""


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def normal_code(typed: str) -> str:
    """A typed code as stored: upper case, without spaces or hyphens (full-width folded)."""
    folded = typed.translate({c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)})
    return "".join(ch for ch in folded.upper() if ch.isalnum())


@dataclass(frozen=True)
class Officer:
    username: str
    display_name: str
    association_id: uuid.UUID

    @property
    def user(self) -> StaffUser:
        """The identity the kit's sessions, CSRF and audit log take."""
        return StaffUser(self.username, self.display_name, frozenset({ROLE}))


def _officer(row: Record | None) -> Officer | None:
    return None if row is None else Officer(row["username"], row["display_name"], row["association_id"])


class Officers:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    async def appoint(
        self, conn: Connection, association_id: uuid.UUID, officer_id: uuid.UUID, name: str, by: str
    ) -> tuple[str, str] | None:
        """A new officer of the association: (username, the invitation code to hand over); None
        when `officer_id` (the appointment form's) is appointed already: a double submit."""
        username = f"officer-{officer_id.hex}"
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        status = await conn.execute(
            """INSERT INTO community_officers (username, association_id, display_name, code_hash,
                   code_expires_at, appointed_by) VALUES ($1, $2, $3, $4, now() + $5::interval, $6)
               ON CONFLICT (username) DO NOTHING""",
            username,
            association_id,
            name,
            _hash(code),
            CODE_LIFETIME,
            by,
        )
        return (username, f"{code[:4]}-{code[4:]}") if str(status).endswith(" 1") else None

    async def listed(self, db: Pool | Connection, association_id: uuid.UUID) -> list[dict[str, object]]:
        rows = await db.fetch(
            """SELECT username, display_name, user_id IS NOT NULL AS bound, code_expires_at, created_at
               FROM community_officers WHERE association_id = $1 AND NOT disabled ORDER BY created_at""",
            association_id,
        )
        return [dict(r) for r in rows]

    async def remove(self, conn: Connection, association_id: uuid.UUID, username: str) -> bool:
        """Refuse the officer from now on and end their open sessions."""
        status = await conn.execute(
            """UPDATE community_officers SET disabled = true, session_epoch = session_epoch + 1,
                   user_id = NULL, code_hash = NULL WHERE username = $1 AND association_id = $2 AND NOT disabled""",
            username,
            association_id,
        )
        return str(status).endswith(" 1")

    async def redeem(self, conn: Connection, user_id: str, code: str) -> Officer | None:
        """Bind the officer whose valid code this is to the resident `user_id`; None: no such code."""
        row = await conn.fetchrow(
            """UPDATE community_officers SET user_id = $1, code_hash = NULL, code_expires_at = NULL
               WHERE code_hash = $2 AND code_expires_at > now() AND user_id IS NULL AND NOT disabled
                 AND NOT EXISTS (SELECT 1 FROM community_officers WHERE user_id = $1)
               RETURNING username, display_name, association_id""",
            user_id,
            _hash(normal_code(code)),
        )
        return _officer(row)

    async def of_resident(self, db: Pool | Connection, user_id: str) -> Officer | None:
        row = await db.fetchrow(
            """SELECT username, display_name, association_id FROM community_officers
               WHERE user_id = $1 AND NOT disabled""",
            user_id,
        )
        return _officer(row)

    async def get(self, db: Pool | Connection, username: str) -> Officer | None:
        row = await db.fetchrow(
            """SELECT username, display_name, association_id FROM community_officers
               WHERE username = $1 AND NOT disabled AND user_id IS NOT NULL""",
            username,
        )
        return _officer(row)

    async def link(self, conn: Connection, officer: Officer) -> str:
        """A one-time sign-in token for `officer` (the URL's last part)."""
        token = secrets.token_urlsafe(32)
        await conn.execute(
            """INSERT INTO community_signin_links (token_hash, username, expires_at)
               VALUES ($1, $2, now() + $3::interval)""",
            _hash(token),
            officer.username,
            LINK_LIFETIME,
        )
        return token

    async def redeem_link(self, token: str) -> tuple[Officer, int] | None:
        """Spend a sign-in link: the officer and their session epoch, or None (unknown, used,
        expired, or the officer removed). Two presses of one link: one wins."""
        row = await self.pool.fetchrow(
            """UPDATE community_signin_links l SET used_at = now()
               FROM community_officers o
               WHERE l.token_hash = $1 AND l.used_at IS NULL AND l.expires_at > now()
                 AND o.username = l.username AND NOT o.disabled AND o.user_id IS NOT NULL
               RETURNING o.username, o.display_name, o.association_id, o.session_epoch""",
            _hash(token),
        )
        officer = _officer(row)
        return None if officer is None or row is None else (officer, int(row["session_epoch"]))

    async def end_sessions(self, username: str) -> None:
        await self.pool.execute(
            "UPDATE community_officers SET session_epoch = session_epoch + 1 WHERE username = $1", username
        )

    async def forget_resident(self, conn: Connection, user_id: str) -> None:
        """A forgotten resident is no officer any more: unbound, removed, their name gone."""
        await conn.execute(
            """UPDATE community_officers SET user_id = NULL, disabled = true, display_name = $2,
                   session_epoch = session_epoch + 1 WHERE user_id = $1""",
            user_id,
            FORGOTTEN,
        )
