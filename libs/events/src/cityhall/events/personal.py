"""Personal data: fields that identify a resident, encrypted with that resident's own key.

Events are immutable, so a resident is forgotten by destroying their key
(crypto-shredding): every field encrypted with it becomes unreadable and reads as
`FORGOTTEN`, never as an exception in a projection or a handler.
"""

from __future__ import annotations

import base64
import os
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cityhall.events.db import Connection, Pool

FORGOTTEN: Final = "[forgotten]"
"""What a field reads as once its resident was forgotten."""

_PREFIX: Final = "pd1"


class SubjectForgotten(Exception):
    """New personal data for a resident who was forgotten is refused."""


def is_encrypted(value: str) -> bool:
    return value.startswith(_PREFIX + ":")


class PersonalData:
    """AES-256-GCM per subject; keys live in `subject_keys` of the service's schema."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    async def _key(self, conn: Connection | Pool, subject: str, *, create: bool) -> bytes | None:
        key: bytes | None = await conn.fetchval("SELECT key FROM subject_keys WHERE subject = $1", subject)
        if key is not None or not create:
            return key
        if await conn.fetchval("SELECT true FROM forgotten_subjects WHERE subject = $1", subject):
            raise SubjectForgotten(subject)
        await conn.execute(
            "INSERT INTO subject_keys (subject, key) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            subject,
            AESGCM.generate_key(bit_length=256),
        )
        key = await conn.fetchval("SELECT key FROM subject_keys WHERE subject = $1", subject)
        return key

    async def encrypt(self, subject: str, value: str, *, conn: Connection | None = None) -> str:
        """`pd1:<subject>:<nonce+ciphertext, base64>`; the subject is bound in as associated data."""
        if ":" in subject or not subject:
            raise ValueError("a subject is a non-empty id without ':'")
        key = await self._key(conn or self.pool, subject, create=True)
        assert key is not None
        nonce = os.urandom(12)
        sealed = AESGCM(key).encrypt(nonce, value.encode(), subject.encode())
        return f"{_PREFIX}:{subject}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    async def decrypt(self, token: str, *, conn: Connection | None = None) -> str:
        """The plain value, or `FORGOTTEN` when the subject's key is gone."""
        prefix, subject, payload = token.split(":", 2)
        if prefix != _PREFIX:
            raise ValueError("not an encrypted personal field")
        key = await self._key(conn or self.pool, subject, create=False)
        if key is None:
            return FORGOTTEN
        raw = base64.urlsafe_b64decode(payload)
        try:
            return AESGCM(key).decrypt(raw[:12], raw[12:], subject.encode()).decode()
        except InvalidTag as exc:
            raise ValueError("personal field does not match its subject's key") from exc

    async def forget(self, subject: str, *, conn: Connection | None = None) -> bool:
        """Destroy the subject's key. Returns whether a key existed."""
        target = conn or self.pool
        await target.execute(
            "INSERT INTO forgotten_subjects (subject) VALUES ($1) ON CONFLICT DO NOTHING", subject
        )
        deleted: str = await target.execute("DELETE FROM subject_keys WHERE subject = $1", subject)
        return deleted.endswith(" 1")
