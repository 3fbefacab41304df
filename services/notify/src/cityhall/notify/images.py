"""Images staff attach to notices: checked by their bytes and re-encoded (`cityhall.line.images`,
as reports does with residents' photos), kept in `notice_images`, and served by notify itself at
`<mount>/images/<id>.jpg` (and `-preview.jpg`, the thumbnail), the addresses LINE and residents'
phones fetch them from. The id is unguessable; a notice is public, so the route needs no session.

Retention: an image is deleted `KEEP_FOR` after its upload and after the last send that used it
finished (a weekly notice's sends keep theirs while it runs); a draft whose image went meanwhile
is refused at approval with the reason.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cityhall.events.db import Pool
from cityhall.line.content import PhotoRefused
from cityhall.line.images import process
from cityhall.notify.composer import Picture
from cityhall.web import StaffUser

log = logging.getLogger(__name__)

KEEP_FOR = timedelta(days=90)
"""How long an image is kept after its upload and after the last send that used it finished."""

REFUSED = {
    "not_an_image": "画像を読み取れませんでした。JPEGかPNGの画像を選んでください。",
    "too_large": "画像が大きすぎます。10MB以内、5,000万画素以内の画像を選んでください。",
    "unavailable": "画像を読み取れませんでした。もう一度選んでください。",
}
"""Why an upload is refused, for staff (`PhotoRefused.reason`)."""


class ImageRefused(ValueError):
    """The upload is not an image notify can send; the message is for staff."""


@dataclass(frozen=True)
class Stored:
    image_id: uuid.UUID
    width: int
    height: int


NOT_HTTPS = (
    "LINEはhttps://の画像しか表示しないため、画像を添付できません。"
    "管理者に CITYHALL_PUBLIC_URL を https:// のアドレスにするよう依頼してください。"
)


class NoticeImages:
    def __init__(self, pool: Pool, public_base: str, *, require_https: bool = False) -> None:
        """`public_base`: the service's public address (`CITYHALL_PUBLIC_URL` and the mount);
        `require_https`: LINE itself fetches the images (production), so only an https address works."""
        self.pool, self.public_base = pool, public_base.rstrip("/")
        self.require_https = require_https

    async def put(self, user: StaffUser, data: bytes) -> Stored:
        if self.require_https and not self.public_base.startswith("https://"):
            raise ImageRefused(NOT_HTTPS)
        try:
            processed = process(data)
        except PhotoRefused as exc:
            raise ImageRefused(REFUSED[exc.reason]) from exc
        image_id = uuid.uuid4()
        await self.pool.execute(
            """INSERT INTO notice_images (image_id, uploaded_by, width, height, photo, thumbnail)
               VALUES ($1, $2, $3, $4, $5, $6)""",
            image_id, user.username, processed.width, processed.height, processed.photo, processed.thumbnail,
        )  # fmt: skip
        return Stored(image_id, processed.width, processed.height)

    async def prune(self, now: datetime, keep_for: timedelta = KEEP_FOR) -> int:
        """Delete the images uploaded before `now - keep_for` that no send uses which is unfinished
        or finished after that (a send holds its image's address in its messages); how many."""
        status: str = await self.pool.execute(
            """DELETE FROM notice_images i
               WHERE i.uploaded_at < $1
                 AND NOT EXISTS (SELECT 1 FROM notice_sends s
                                 WHERE strpos(s.variants::text, i.image_id::text) > 0
                                   AND (s.finished_at IS NULL OR s.finished_at >= $1))""",
            now - keep_for,
        )
        return int(status.split()[-1])

    async def run(
        self, interval: float = 3600.0, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        """Prune every `interval` seconds while notify runs."""
        while True:
            try:
                if deleted := await self.prune(clock()):
                    log.info("deleted %d notice images past their retention", deleted)
            except Exception:
                log.exception("notice images could not be pruned; trying again")
            await asyncio.sleep(interval)

    async def find(self, image_id: uuid.UUID) -> Stored | None:
        row = await self.pool.fetchrow(
            "SELECT width, height FROM notice_images WHERE image_id = $1", image_id
        )
        return None if row is None else Stored(image_id, row["width"], row["height"])

    async def data(self, image_id: uuid.UUID, *, thumbnail: bool = False) -> bytes | None:
        column = "thumbnail" if thumbnail else "photo"
        found: bytes | None = await self.pool.fetchval(
            f"SELECT {column} FROM notice_images WHERE image_id = $1", image_id
        )
        return found

    def picture(self, stored: Stored, base: str | None = None) -> Picture:
        """Its addresses below `base` (the public address unless given: a preview uses the page's own)."""
        root = (self.public_base if base is None else base).rstrip("/")
        return Picture(
            url=f"{root}/images/{stored.image_id}.jpg",
            preview_url=f"{root}/images/{stored.image_id}-preview.jpg",
            width=stored.width,
            height=stored.height,
        )
