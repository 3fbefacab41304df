"""voice's I/O: the resident's intents (around the pure dialog) and the clerk's answer."""

from __future__ import annotations

import uuid

from cityhall.events.db import Connection, Pool
from cityhall.events.decider import CommandHandler
from cityhall.events.envelope import Envelope
from cityhall.events.personal import PersonalData, SubjectForgotten
from cityhall.events.store import EventStore
from cityhall.line.contracts import outbound_message
from cityhall.line.dialog import IDLE, Conversation, SessionStore, intent_of
from cityhall.voice import dialog, projections
from cityhall.voice import messages as say
from cityhall.voice.domain import Opinion, opinion_decider, refused
from cityhall.voice.events import SOURCE, Answer, Command, opinion_stream
from cityhall.web import StaffUser, record_view


class Voice:
    def __init__(self, pool: Pool, store: EventStore) -> None:
        self.pool, self.store = pool, store
        self.personal = PersonalData(pool)
        self.opinions: CommandHandler[Command, Opinion] = CommandHandler(
            store, opinion_decider, source=SOURCE
        )
        self.conversation: Conversation[dialog.Session, Command] = Conversation(
            domain=say.DOMAIN,
            source=SOURCE,
            store=store,
            sessions=SessionStore("voice_sessions", dialog.Session, idle=IDLE),
            commands=self.opinions,
        )

    async def on_intent(self, envelope: Envelope, conn: Connection) -> None:
        intent = intent_of(envelope)
        if intent is None:
            return
        turn = await self.conversation.begin(conn, envelope, intent)
        named = dialog.named_opinion(intent.postback_data) if intent.kind == "postback" else None
        opinion = (await self.opinions.load(opinion_stream(named), conn=conn))[0] if named else None
        sealed = None
        if intent.kind == "text" and intent.text and turn.session and turn.session.awaiting == "text":
            try:
                sealed = await self.personal.encrypt(intent.user_id, intent.text, conn=conn)
            except SubjectForgotten:
                turn.session = None
                turn.say(*say.forgotten())
        if not turn.replies:
            dialog.respond(turn, opinion=opinion, sealed=sealed)
        await self.conversation.finish(conn, turn)

    async def read(self, user: StaffUser, opinion_id: uuid.UUID) -> dict[str, object] | None:
        """The opinion in clear for `user`; the view is recorded in the audit log with the read."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await projections.opinion(conn, opinion_id)
            if row is None:
                return None
            await record_view(
                conn, user, "view_opinion", opinion_stream(opinion_id), {"number": row["number"]}
            )
            for field in ("text", "answer"):
                if row[field]:
                    row[field] = await self.personal.decrypt(row[field], conn=conn)
            return row

    async def answer(self, user: StaffUser, opinion_id: uuid.UUID, text: str) -> None:
        """Record the answer and send it to the resident, in one transaction. Raises `DomainError`."""
        text = text.strip()
        if not text or len(text) > say.MAX_TEXT:
            raise refused("bad_answer")
        async with self.pool.acquire() as conn, conn.transaction():
            opinion, _version = await self.opinions.load(opinion_stream(opinion_id), conn=conn)
            if opinion.opinion_id is None:
                raise refused("not_submitted")
            try:
                sealed = await self.personal.encrypt(opinion.user_id, text, conn=conn)
            except SubjectForgotten as exc:
                raise refused("forgotten") from exc
            decision = await self.opinions.handle(
                opinion_stream(opinion_id), Answer(text=sealed, by=user.username), conn=conn
            )
            request = outbound_message(
                to=opinion.user_id,
                messages=say.answer(opinion.number, text),
                source=SOURCE,
                idempotency_key=f"voice:answer:{opinion_id}",
                caused_by=decision.events[0],
            )
            await self.store.append(request.subject, None, [request], conn=conn)

    async def forget(self, user: StaffUser, resident: str) -> bool:
        """Shred the resident's opinions and answers (their key) and record who did it."""
        async with self.pool.acquire() as conn, conn.transaction():
            await record_view(conn, user, "forget_resident", resident)
            return await self.personal.forget(resident, conn=conn)
