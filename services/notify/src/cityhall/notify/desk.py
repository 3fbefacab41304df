"""The staff desk: what notify's staff decide (draft, approve, cancel a notice; forget a resident).

Each decision is a command on the notice's stream, written with what it sets going in one
transaction: an approval inserts the notice's `notice_sends` row (the sender takes it from
there; approving twice inserts nothing), a cancellation stops the chunks not yet sent.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Any

from cityhall.events.db import Pool
from cityhall.events.decider import CommandHandler, DomainError
from cityhall.events.store import EventStore
from cityhall.line.japanese import jst
from cityhall.notify import composer
from cityhall.notify import messages as say
from cityhall.notify.audience import Audience
from cityhall.notify.composer import ComposeError, Content
from cityhall.notify.domain import Notice
from cityhall.notify.events import (
    ApproveNotice,
    CancelNotice,
    DraftNotice,
    NoticeApproved,
    NoticeCommand,
    NoticeDrafted,
    NoticeKind,
    _Draft,
    notice_stream,
)
from cityhall.notify.images import NoticeImages
from cityhall.notify.plan import Plan
from cityhall.notify.preferences import INTERESTS, LANGUAGES
from cityhall.notify.segments import SegmentError, parse
from cityhall.notify.sender import NoticeSender
from cityhall.web import StaffUser
from cityhall.web.personal import forget_resident

QUOTA_FRESH_FOR = 30.0
"""Seconds a quota read from LINE is shown before it is read again."""


IMAGE_GONE = (
    "添付した画像は保存期間を過ぎて削除されたため、承認できません。"
    "画像を付け直したお知らせを新しく作成してください。"
)


def invalid(message: str) -> DomainError:
    return DomainError("invalid", message)


class Desk:
    def __init__(
        self,
        pool: Pool,
        store: EventStore,
        audience: Audience,
        sender: NoticeSender,
        images: NoticeImages,
        plan: Plan | None = None,
    ) -> None:
        self.pool, self.store, self.audience, self.sender = pool, store, audience, sender
        self.images, self.plan = images, plan or Plan()
        self.notices: CommandHandler[NoticeCommand, Notice] = sender.notices
        self._quota: tuple[float, dict[str, int | None] | None] | None = None

    async def quota(self) -> dict[str, int | None] | None:
        """The channel's messages this month against its plan, read from LINE at most every 30 s."""
        now = time.monotonic()
        if self._quota is None or now - self._quota[0] > QUOTA_FRESH_FOR:
            read = await self.sender.line.quota()
            self._quota = (now, None if read is None else {"limit": read[0], "used": read[1]})
        return self._quota[1]

    async def count(
        self, condition: Any, *, kind: NoticeKind = "campaign", interest: str | None = None
    ) -> dict[str, Any]:
        """The audience a condition selects now (`SegmentError` for a bad one)."""
        parsed = parse(condition, location_only=kind == "alert")
        if interest and interest not in INTERESTS:
            raise SegmentError(f"お知らせの種類「{interest}」はありません。")
        code = INTERESTS[interest][0] if interest and kind == "campaign" else None
        return await self.audience.count(parsed, jst(self.sender.clock()).date(), interest=code)

    async def draft(
        self,
        user: StaffUser,
        *,
        kind: NoticeKind,
        title: str,
        condition: Any,
        texts: dict[str, str],
        interest: str | None = None,
        notice_id: uuid.UUID | None = None,
        template: str | None = None,
        fields: dict[str, dict[str, str]] | None = None,
        image: uuid.UUID | None = None,
        titles: dict[str, str] | None = None,
    ) -> uuid.UUID:
        """A new draft; `DomainError("invalid", why)` for anything that cannot be sent as it is
        (checked by `composer.check` in every language, as LINE will get it).

        `notice_id`: the id the composer was given; the same draft sent twice (a double click, a
        resend) is refused as `exists` the second time, so it is kept once."""
        title = title.strip()
        try:
            parse(condition, location_only=kind == "alert")
        except SegmentError as exc:
            raise invalid(str(exc)) from exc
        if kind == "campaign" and interest not in INTERESTS:
            raise invalid("お知らせの種類を選んでください（配信停止した方には届きません）。")
        cleaned = {lang: text.strip() for lang, text in texts.items() if text.strip()}
        unknown = sorted(set(cleaned) - set(LANGUAGES))
        if unknown:
            raise invalid(f"言語「{'、'.join(unknown)}」はありません。")
        if "ja" not in cleaned:
            raise invalid(
                "日本語の本文は必ず入力してください（その言語の本文がない方には日本語で届きます）。"
            )
        for lang, text in cleaned.items():
            if len(text) > say.MAX_NOTICE_TEXT:
                label = LANGUAGES[lang][1]
                raise invalid(
                    f"{label}の本文が長すぎます（{len(text)}文字、{say.MAX_NOTICE_TEXT}文字まで）。"
                )
        filled = {
            lang: {k: v.strip() for k, v in values.items() if v.strip()}
            for lang, values in (fields or {}).items()
        }
        filled = {lang: values for lang, values in filled.items() if values}
        unknown = sorted(set(filled) - set(LANGUAGES))
        if unknown:
            raise invalid(f"言語「{'、'.join(unknown)}」はありません。")
        named = {lang: t.strip() for lang, t in (titles or {}).items() if lang != "ja" and t.strip()}
        unknown = sorted(set(named) - set(LANGUAGES))
        if unknown:
            raise invalid(f"言語「{'、'.join(unknown)}」はありません。")
        content = Content(title, kind == "alert", cleaned, template or None, filled, titles=named)
        if image is not None:
            stored = await self.images.find(image)
            if stored is None:
                raise invalid("画像が見つかりません。もう一度選んでください。")
            content = Content(**{**vars(content), "picture": self.images.picture(stored)})
        try:
            composer.check(content)
        except ComposeError as exc:
            raise invalid(str(exc)) from exc
        notice_id = notice_id or uuid.uuid4()
        command = DraftNotice(
            notice_id=notice_id, kind=kind, title=title, interest=interest if kind == "campaign" else None,
            condition=condition, texts=cleaned, author=user.username, at=self.sender.clock(),
            template=template or None, fields=filled, image=image, titles=named,
        )  # fmt: skip
        await self.notices.handle(notice_stream(notice_id), command)
        return notice_id

    async def approve(
        self, user: StaffUser, notice_id: uuid.UUID, send_at: datetime | None = None, *, weekly: bool = False
    ) -> None:
        """Approve (by someone other than the author); the notice goes out at `send_at` or now, and
        with `weekly` (campaigns only) again every week until cancelled."""
        stream = notice_stream(notice_id)
        async with self.pool.acquire() as conn, conn.transaction():
            decision = await self.notices.handle(
                stream,
                ApproveNotice(by=user.username, at=self.sender.clock(), send_at=send_at, weekly=weekly),
                conn=conn,
            )
            if not decision.events:
                return  # approved before: sent once
            drafted = next(
                r.envelope.event() for r in await self.store.read_stream(stream, conn=conn)
                if r.type == NoticeDrafted.TYPE
            )  # fmt: skip
            assert isinstance(drafted, NoticeDrafted)
            alert = drafted.kind == "alert"
            if drafted.image and await self.images.find(drafted.image) is None:
                raise invalid(IMAGE_GONE)  # rolls the approval back with it
            content = await self.content(drafted)
            variants = {
                str(LANGUAGES[lang][0]): [m.to_dict() for m in composer.messages(content, lang)]
                for lang in drafted.texts
            }
            approved = decision.events[0].event()
            assert isinstance(approved, NoticeApproved)
            await conn.execute(
                """INSERT INTO notice_sends (send_id, notice_id, alert, condition, interest, variants, not_before,
                                            weekly)
                   VALUES ($1, $1, $2, $3, $4, $5, $6, $7) ON CONFLICT (send_id) DO NOTHING""",
                notice_id,
                alert,
                drafted.condition,
                INTERESTS[drafted.interest][0] if drafted.interest else None,
                variants,
                approved.send_at,
                approved.weekly and not alert,
            )
            await conn.execute("SELECT pg_notify($1, '')", await self.sender.channel())

    async def content(self, drafted: _Draft | dict[str, Any], base: str | None = None) -> Content:
        """A drafted notice as the composer builds it, its image at the public address (or below `base`)."""
        found = drafted if isinstance(drafted, _Draft) else _Draft.model_validate(drafted)
        stored = await self.images.find(found.image) if found.image else None
        return Content(
            found.title, found.kind == "alert", found.texts, found.template, found.fields,
            self.images.picture(stored, base) if stored else None, found.titles,
        )  # fmt: skip

    async def cancel(self, user: StaffUser, notice_id: uuid.UUID) -> None:
        """Stop a notice: chunks not sent yet are not sent; what was sent stays sent."""
        async with self.pool.acquire() as conn, conn.transaction():
            decision = await self.notices.handle(
                notice_stream(notice_id), CancelNotice(by=user.username, at=self.sender.clock()), conn=conn
            )
            if not decision.events:
                return
            sends = await conn.fetch(
                "UPDATE notice_sends SET cancelled = true WHERE notice_id = $1 RETURNING send_id", notice_id
            )
            await conn.execute(
                "UPDATE notice_chunks SET status = 'cancelled' WHERE send_id = ANY($1::uuid[]) AND status = 'pending'",
                [r["send_id"] for r in sends],
            )
            await conn.execute("SELECT pg_notify($1, '')", await self.sender.channel())
        for send in sends:
            self.sender.cancelled(send["send_id"])

    async def forget(self, user: StaffUser, resident: str) -> bool:
        """Shred the resident's 配信設定 (their key, the sealed row, the code-table row), audited."""
        async with self.pool.acquire() as conn, conn.transaction():
            await self.audience.erase(conn, resident)
            return await forget_resident(conn, self.audience.personal, user, resident)
