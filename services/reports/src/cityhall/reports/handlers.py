"""reports' I/O: the resident's intents (around the pure dialog), staff's decisions (each told
to the reporter and the residents who said 「同じです」), the audited reads of personal data."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from linebot.v3.messaging import Message

from cityhall import town
from cityhall.events.db import Connection, Pool
from cityhall.events.decider import CommandHandler, DomainError
from cityhall.events.envelope import Envelope
from cityhall.events.personal import FORGOTTEN, PersonalData, SubjectForgotten
from cityhall.events.store import EventStore
from cityhall.line import postback
from cityhall.line.content import Downloader, Photo, PhotoRefused, PhotoStore
from cityhall.line.contracts import outbound_message
from cityhall.line.dialog import IDLE, Conversation, SessionStore, intent_of
from cityhall.reports import dialog, projections
from cityhall.reports import messages as say
from cityhall.reports.domain import MAX_PHOTOS, Report, refused, report_decider
from cityhall.reports.events import (
    SOURCE,
    Accept,
    Command,
    File,
    MarkDuplicate,
    Reject,
    Resolve,
    Start,
    Subscribe,
    report_stream,
)
from cityhall.reports.photos import Processed, process
from cityhall.reports.spec import MOUNT
from cityhall.web import StaffUser, record_view

log = logging.getLogger(__name__)
NETWORK_TIMEOUT = 20.0
SESSIONS = SessionStore("reports_sessions", dialog.Session, idle=IDLE)


@dataclass(frozen=True)
class StaffAction:
    """What a clerk asks of a report (the dashboard's forms), checked by the decider."""

    command: Command
    after_photo: bytes | None = None


class Reports:
    def __init__(
        self,
        pool: Pool,
        store: EventStore,
        content: Downloader,
        *,
        public_url: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        network_timeout: float = NETWORK_TIMEOUT,
    ) -> None:
        self.pool, self.store, self.content, self.clock = pool, store, content, clock
        self.public_url, self.network_timeout = public_url.rstrip("/"), network_timeout
        self.personal = PersonalData(pool)
        self.photos = PhotoStore(pool, self.personal, table="report_photos", owner="report_id")
        self.reports: CommandHandler[Command, Report] = CommandHandler(store, report_decider, source=SOURCE)
        self.conversation: Conversation[dialog.Session, Command] = Conversation(
            domain=say.DOMAIN,
            source=SOURCE,
            store=store,
            clock=clock,
            sessions=SESSIONS,
            commands=self.reports,
        )
        self._prepared: dict[uuid.UUID, Processed | PhotoRefused] = {}

    # --- the resident ---------------------------------------------------------------------

    async def prepare(self, envelope: Envelope, pool: Pool) -> None:
        """Outside any transaction: download a photo the resident sent and make it safe to keep."""
        intent = intent_of(envelope)
        if intent is None or intent.kind != "image" or not intent.message_id:
            return
        async with pool.acquire() as conn:
            session = await SESSIONS.load(conn, intent.user_id, now=self.clock())
        if session is None or session.awaiting != "photo":
            return
        try:
            async with asyncio.timeout(self.network_timeout):
                data = await self.content.download(intent.message_id)
            self._prepared[envelope.id] = await asyncio.to_thread(process, data)
        except PhotoRefused as refusal:
            self._prepared[envelope.id] = refusal
        except TimeoutError:
            log.warning("photo download timed out after %.0f s", self.network_timeout)
            self._prepared[envelope.id] = PhotoRefused("unavailable")

    async def on_intent(self, envelope: Envelope, conn: Connection) -> None:
        prepared = self._prepared.pop(envelope.id, None)
        intent = intent_of(envelope)
        if intent is None or intent.kind in ("follow", "unfollow"):
            return
        turn = await self.conversation.begin(conn, envelope, intent)
        before = turn.session
        try:
            facts = await self._facts(conn, turn, prepared)
        except SubjectForgotten:
            turn.session = None
            turn.say(*say.forgotten())
        else:
            dialog.respond(turn, facts)
        filed = any(isinstance(c, File) for _s, c in turn.commands)
        try:
            await self.conversation.finish(conn, turn)
        except DomainError as exc:
            # The report changed since it was read (a clerk closed it): nothing was written.
            closed = dialog.Turn(intent, envelope, before)
            closed.say(*say.refused(str(exc)))
            await self.conversation.finish(conn, closed)
            return
        after = turn.session
        kept = set(after.photo_ids) if after and before and after.report_id == before.report_id else set()
        if before is not None and not filed:
            for photo in set(before.photo_ids) - kept:  # a draft ended unsent: its photos go with it
                await self.photos.delete(conn, photo)
                await self.photos.delete(conn, dialog.thumbnail_id(photo))

    async def _facts(
        self, conn: Connection, turn: dialog.Turn, prepared: Processed | PhotoRefused | None
    ) -> dialog.Facts:
        intent, session = turn.intent, turn.session
        if intent.kind == "postback":
            tapped = postback.decode(intent.postback_data)
            if tapped is not None and tapped.action == "history":
                return dialog.Facts(mine=await projections.mine(conn, intent.user_id))
            named = dialog.named_report(intent.postback_data, "d") or dialog.named_report(
                intent.postback_data
            )
            report = (await self.reports.load(report_stream(named), conn=conn))[0] if named else None
            return dialog.Facts(report=report)
        if session is None:
            return dialog.Facts()
        if intent.kind == "image" and session.awaiting == "photo":
            return dialog.Facts(photo=await self._store_photo(conn, turn, session, prepared))
        if intent.kind == "location" and session.awaiting == "location" and intent.location:
            point = town.Point(intent.location.latitude, intent.location.longitude)
            district = town.district_of(point)
            if district is None:
                return dialog.Facts(located=dialog.Located(None))
            address = intent.location.address or intent.location.title or ""
            sealed = await self.personal.encrypt(intent.user_id, address, conn=conn) if address else ""
            nearby = await projections.nearby(conn, session.category, point)
            return dialog.Facts(located=dialog.Located(district.name, sealed, nearby))
        if intent.kind == "text" and intent.text and session.awaiting == "comment":
            return dialog.Facts(sealed=await self.personal.encrypt(intent.user_id, intent.text, conn=conn))
        return dialog.Facts()

    async def _store_photo(
        self,
        conn: Connection,
        turn: dialog.Turn,
        session: dialog.Session,
        prepared: Processed | PhotoRefused | None,
    ) -> Photo | PhotoRefused:
        if prepared is None:
            return PhotoRefused("unavailable")  # not downloaded (a retry after a restart): sent again
        if isinstance(prepared, PhotoRefused):
            return prepared
        if len(session.photo_ids) >= MAX_PHOTOS:
            return PhotoRefused("unavailable")
        photo_id = dialog.photo_id(turn.intent.webhook_event_id)
        user = turn.intent.user_id
        stored = await self.photos.put(
            conn, user_id=user, owner=session.report_id, data=prepared.photo, photo_id=photo_id
        )
        await self.photos.put(
            conn,
            user_id=user,
            owner=session.report_id,
            data=prepared.thumbnail,
            photo_id=dialog.thumbnail_id(photo_id),
        )
        return stored

    # --- staff ----------------------------------------------------------------------------

    async def act(self, user: StaffUser, report_id: uuid.UUID, action: StaffAction) -> None:
        """Record a clerk's decision and tell the residents, in one transaction. Raises `DomainError`."""
        command = action.command
        async with self.pool.acquire() as conn, conn.transaction():
            report, _version = await self.reports.load(report_stream(report_id), conn=conn)
            if report.report_id is None:
                raise refused("not_filed")
            if isinstance(command, MarkDuplicate):
                await self._duplicate(conn, report, command)
                return
            if isinstance(command, Resolve) and action.after_photo is not None:
                command = command.model_copy(
                    update={"after_photo": await self._after_photo(conn, report_id, action.after_photo)}
                )
            decision = await self.reports.handle(report_stream(report_id), command, conn=conn)
            told = self._told(report, command)
            if told and report.subscribers:
                await self._tell(conn, report, told, decision.events[0], key=str(decision.events[0].id))

    def _told(self, report: Report, command: Command) -> list[Message]:
        match command:
            case Accept():
                return say.accepted(report.number, report.category)
            case Start():
                return say.started(report.number)
            case Reject(reason=reason):
                return say.rejected(report.number, reason.strip())
            case Resolve(note=note, after_photo=photo):
                url = f"{self.public_url}{MOUNT}/after-photos/{photo}.jpg" if photo else None
                return say.resolved(report.report_id or uuid.UUID(int=0), report.number, note.strip(), url)
        return []  # assignment, notes and moves stay inside the city hall

    async def _tell(
        self, conn: Connection, report: Report, messages: list[Message], caused_by: Envelope, *, key: str
    ) -> None:
        request = outbound_message(
            to=sorted(report.subscribers),
            messages=messages,
            source=SOURCE,
            idempotency_key=f"reports:status:{key}",
            caused_by=caused_by,
        )
        await self.store.append(request.subject, None, [request], conn=conn)

    async def _duplicate(self, conn: Connection, report: Report, command: MarkDuplicate) -> None:
        """The report is another's: its residents are subscribed to that one and told so."""
        original, _ = await self.reports.load(report_stream(command.of), conn=conn)
        if original.report_id is None:
            raise refused("not_filed")
        if not original.is_open:
            raise refused("not_open")
        decision = await self.reports.handle(
            report_stream(report.report_id or command.of), command, conn=conn
        )
        for resident in sorted(report.subscribers):
            await self.reports.handle(
                report_stream(command.of),
                Subscribe(user_id=resident),
                caused_by=decision.events[0],
                conn=conn,
            )
        if report.subscribers:
            told = say.duplicate(report.number, original.number)
            await self._tell(conn, report, told, decision.events[0], key=str(decision.events[0].id))

    async def _after_photo(self, conn: Connection, report_id: uuid.UUID, data: bytes) -> uuid.UUID:
        processed = await asyncio.to_thread(process, data)  # PhotoRefused for what is not a photo
        photo_id = uuid.uuid4()
        await conn.execute(
            "INSERT INTO report_after_photos (photo_id, report_id, photo, thumbnail) VALUES ($1, $2, $3, $4)",
            photo_id,
            report_id,
            processed.photo,
            processed.thumbnail,
        )
        return photo_id

    async def after_photo(self, photo_id: uuid.UUID) -> bytes | None:
        data: bytes | None = await self.pool.fetchval(
            "SELECT photo FROM report_after_photos WHERE photo_id = $1", photo_id
        )
        return data

    async def read(self, user: StaffUser, report_id: uuid.UUID) -> dict[str, Any] | None:
        """The report in clear for `user`, with its history; the view is recorded in the audit log."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await projections.report(conn, report_id)
            if row is None:
                return None
            await record_view(
                conn,
                user,
                "view_report",
                report_stream(report_id),
                {"number": row["number"]},
                department=row["department"],
            )
            for name in ("comment", "address"):
                if row[name]:
                    row[name] = await self.personal.decrypt(row[name], conn=conn)
            row["forgotten"] = FORGOTTEN in (row["comment"], row["address"])
            row["history"] = await self.store.read_stream(report_stream(report_id), conn=conn)
            return row

    async def photo(
        self, user: StaffUser, report_id: uuid.UUID, photo_id: uuid.UUID, *, thumbnail: bool = False
    ) -> tuple[str, bytes] | None:
        """A resident's photo of the report (or its thumbnail); every view is audited."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await projections.report(conn, report_id)
            if row is None or photo_id not in row["photos"]:
                return None
            found = await self.photos.get(dialog.thumbnail_id(photo_id) if thumbnail else photo_id, conn=conn)
            if found is None:
                return None
            await record_view(
                conn,
                user,
                "view_report_photo",
                report_stream(report_id),
                {"number": row["number"], "photo_id": str(photo_id)},
                department=row["department"],
            )
            return found

    async def forget(self, user: StaffUser, resident: str) -> bool:
        """Shred the resident's comments, addresses and photos (their key, then the rows)."""
        async with self.pool.acquire() as conn, conn.transaction():
            await record_view(conn, user, "forget_resident", resident)
            await self.photos.delete_resident(conn, resident)
            return await self.personal.forget(resident, conn=conn)
