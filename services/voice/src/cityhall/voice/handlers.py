"""voice's I/O: the resident's intents (around the pure dialog) and the clerk's answer, which
reaches the resident in LINE."""

import uuid

from cityhall.events.db import Connection, Pool
from cityhall.events.decider import CommandHandler
from cityhall.events.personal import PersonalData, SubjectForgotten
from cityhall.events.store import EventStore
from cityhall.line.dialog import IDLE, Conversation, SessionStore, seal_text
from cityhall.voice import dialog
from cityhall.voice import messages as say
from cityhall.voice.domain import SOURCE, Answer, opinion_decider, opinion_stream, refused
from cityhall.web import StaffUser


class Voice:
    def __init__(self, pool: Pool, store: EventStore) -> None:
        self.pool, self.personal = pool, PersonalData(pool)
        self.opinions = CommandHandler(store, opinion_decider, source=SOURCE)
        sessions = SessionStore("voice_sessions", dialog.Session, idle=IDLE)
        self.conversation = Conversation(
            domain=say.DOMAIN, source=SOURCE, store=store, sessions=sessions, commands=self.opinions
        )

    async def respond(self, turn: dialog.Turn, conn: Connection) -> None:
        """Fetch what the dialog needs (the opinion a button names, the text sealed), then run it."""
        named = turn.postback.uuid("o") if turn.postback else None
        opinion = (await self.opinions.load(opinion_stream(named), conn=conn))[0] if named else None
        sealed = None
        if turn.session and turn.session.awaiting == "text":
            sealed = await seal_text(turn, self.personal, conn, forgotten=say.forgotten())
        if not turn.replies:
            dialog.respond(turn, opinion=opinion, sealed=sealed)

    async def answer(self, user: StaffUser, opinion_id: uuid.UUID, text: str) -> None:
        """Record the answer and send it to the resident, in one transaction. Raises `DomainError`."""
        text, stream = text.strip(), opinion_stream(opinion_id)
        if not text or len(text) > say.MAX_TEXT:
            raise refused("bad_answer")
        async with self.pool.acquire() as conn, conn.transaction():
            opinion, _version = await self.opinions.load(stream, conn=conn)
            if opinion.opinion_id is None:
                raise refused("not_submitted")
            try:
                sealed = await self.personal.encrypt(opinion.user_id, text, conn=conn)
            except SubjectForgotten as exc:
                raise refused("forgotten") from exc
            decision = await self.opinions.handle(stream, Answer(text=sealed, by=user.username), conn=conn)
            answer, key = say.answer(opinion.number, text), f"voice:answer:{opinion_id}"
            await self.conversation.send(conn, opinion.user_id, answer, key=key, caused_by=decision.events[0])
