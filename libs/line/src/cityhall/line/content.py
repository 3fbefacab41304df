"""Content residents send in LINE (photos): downloaded with the SDK's blob API, checked by
its bytes, stored encrypted, shredded with the resident. Certificates keeps identity-document
photos with it, reports the photos of what a resident reports.

A photo never enters an event or the bus: events carry its id. The bytes are sealed with a
fresh AES-256-GCM data key per photo, and that key is stored wrapped with the resident's own
key (`cityhall.events.personal`), so `forget` on the resident makes the photo unreadable along
with their other personal fields. Retention deletes the rows themselves.
"""

from __future__ import annotations

import base64
import os
import re
import uuid
from dataclasses import dataclass
from typing import Literal, Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from linebot.v3.messaging import AsyncApiClient, AsyncMessagingApiBlob, Configuration
from linebot.v3.messaging.exceptions import ApiException

from cityhall.events.db import Connection, Pool
from cityhall.events.personal import FORGOTTEN, PersonalData
from cityhall.runtime.service import LINE_API, Settings

MAX_BYTES = 10 * 1024 * 1024

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class PhotoRefused(Exception):
    """The content cannot be taken as a photo; `reason` says why."""

    def __init__(self, reason: Literal["not_an_image", "too_large", "unavailable"]) -> None:
        super().__init__(reason)
        self.reason = reason


def sniff(data: bytes) -> str:
    """The content type by the file's own magic bytes (the claimed type is not trusted)."""
    if len(data) > MAX_BYTES:
        raise PhotoRefused("too_large")
    if data.startswith(JPEG_MAGIC):
        return "image/jpeg"
    if data.startswith(PNG_MAGIC):
        return "image/png"
    raise PhotoRefused("not_an_image")


class Downloader(Protocol):
    async def download(self, message_id: str) -> bytes:
        """The content a resident sent; `PhotoRefused("unavailable")` when LINE has none."""


class LineContent:
    """Downloads through the SDK's blob API (`AsyncMessagingApiBlob.get_message_content`)."""

    def __init__(self, line_api_url: str | None, access_token: str, *, timeout: float = 20.0) -> None:
        host = line_api_url.rstrip("/") if line_api_url else None
        # LINE's own address: leave the blob API its own host (api-data.line.me).
        self.configuration = Configuration(
            host=None if host in (None, LINE_API) else host, access_token=access_token
        )
        self.timeout = timeout

    async def download(self, message_id: str) -> bytes:
        async with AsyncApiClient(self.configuration) as client:
            try:
                content = await AsyncMessagingApiBlob(client).get_message_content(
                    message_id, _request_timeout=self.timeout
                )
            except ApiException as exc:
                if exc.status in (400, 404, 410):
                    raise PhotoRefused("unavailable") from exc
                raise
        return bytes(content)


def line_content(settings: Settings, service: str) -> LineContent:
    """The downloader of a service that takes residents' photos; it needs the channel's token."""
    if not settings.line_channel_access_token:
        raise SystemExit(f"{service} downloads residents' photos from LINE: set LINE_CHANNEL_ACCESS_TOKEN")
    return LineContent(settings.line_api_url, settings.line_channel_access_token)


@dataclass(frozen=True)
class Photo:
    photo_id: uuid.UUID
    content_type: str
    size: int


_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")


class PhotoStore:
    """A service's photo table: sealed bytes and a data key wrapped with the resident's key.

    The service's migration creates `table` with the columns `photo_id uuid PRIMARY KEY`,
    `user_id text`, `<owner> uuid` (what the photo belongs to: a request, a report),
    `content_type text`, `size integer`, `wrapped_key text` and `sealed bytea`.
    """

    def __init__(self, pool: Pool, personal: PersonalData, *, table: str, owner: str) -> None:
        if not (_IDENTIFIER.fullmatch(table) and _IDENTIFIER.fullmatch(owner)):
            raise ValueError(f"not a plain SQL name: {table!r}, {owner!r}")
        self.pool = pool
        self.personal = personal
        self.table, self.owner = table, owner

    async def put(
        self, conn: Connection, *, user_id: str, owner: uuid.UUID, data: bytes, photo_id: uuid.UUID
    ) -> Photo:
        content_type = sniff(data)
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(12)
        sealed = nonce + AESGCM(data_key).encrypt(nonce, data, photo_id.bytes)
        wrapped = await self.personal.encrypt(user_id, base64.b64encode(data_key).decode(), conn=conn)
        await conn.execute(
            f"""INSERT INTO {self.table} (photo_id, user_id, {self.owner}, content_type, size, wrapped_key, sealed)
               VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (photo_id) DO NOTHING""",
            photo_id,
            user_id,
            owner,
            content_type,
            len(data),
            wrapped,
            sealed,
        )
        return Photo(photo_id, content_type, len(data))

    async def get(self, photo_id: uuid.UUID, *, conn: Connection | None = None) -> tuple[str, bytes] | None:
        """(content type, bytes); None when deleted or when the resident was forgotten."""
        target = conn or self.pool
        row = await target.fetchrow(
            f"SELECT content_type, wrapped_key, sealed FROM {self.table} WHERE photo_id = $1", photo_id
        )
        if row is None:
            return None
        wrapped = await self.personal.decrypt(row["wrapped_key"], conn=conn)
        if wrapped == FORGOTTEN:
            return None
        sealed: bytes = row["sealed"]
        data = AESGCM(base64.b64decode(wrapped)).decrypt(sealed[:12], sealed[12:], photo_id.bytes)
        return row["content_type"], data

    async def delete(self, conn: Connection | Pool, photo_id: uuid.UUID) -> bool:
        status: str = await conn.execute(f"DELETE FROM {self.table} WHERE photo_id = $1", photo_id)
        return status.endswith(" 1")

    async def delete_resident(self, conn: Connection | Pool, user_id: str) -> int:
        status: str = await conn.execute(f"DELETE FROM {self.table} WHERE user_id = $1", user_id)
        return int(status.rsplit(" ", 1)[-1])
