"""community's I/O: the resident's intents (around the pure dialog), the officer's sign-in in
LINE, and the decisions of staff and officers, each of which tells the residents it concerns."""

import math
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from linebot.v3.messaging import Message

from cityhall.community import dialog
from cityhall.community import messages as say
from cityhall.community.domain import (
    ASSOCIATIONS,
    CIRCULARS,
    SOURCE,
    Approve,
    Association,
    AssociationCommand,
    Circular,
    CircularCommand,
    Decline,
    Post,
    Register,
    Remind,
    association_decider,
    circular_decider,
    refused,
)
from cityhall.community.officers import CODE_LENGTH, LINK_LIFETIME, Officer, Officers, normal_code
from cityhall.community.projections import MEMBERS, associations, members, memberships, received, search
from cityhall.events.db import Connection, Pool
from cityhall.events.decider import CommandHandler, DomainError
from cityhall.events.envelope import Envelope
from cityhall.events.personal import PersonalData
from cityhall.events.store import EventStore
from cityhall.line.dialog import IDLE, Conversation, SessionStore, seal_text
from cityhall.web import StaffUser, record_view
from cityhall.web.personal import forget_resident, read_personal
from cityhall.web.portal.accounts import LoginThrottle

AUDIT = "community"
"""The audit log's department of every entry this service writes, the clerks' and the officers'
(so 協働推進課's administrators read them in one place, `/staff/community/audit`)."""


class Community:
    def __init__(self, pool: Pool, store: EventStore, *, signin_url: str) -> None:
        self.pool, self.personal, self.officers = pool, PersonalData(pool), Officers(pool)
        self.associations = CommandHandler(store, association_decider, source=SOURCE)
        self.circulars = CommandHandler(store, circular_decider, source=SOURCE)
        self.throttle = LoginThrottle(pool)
        self.signin_url = signin_url
        """Where a sign-in link's token is appended (`<public url>/community/signin/`)."""
        sessions = SessionStore("community_sessions", dialog.Session, idle=IDLE)
        # Without `commands`: a command can be refused by another's move (an officer's decision
        # a moment before); `respond` runs them in a savepoint and answers the refusal.
        self.conversation: Conversation[dialog.Session, AssociationCommand | CircularCommand] = Conversation(
            domain=say.DOMAIN, source=SOURCE, store=store, sessions=sessions
        )

    # -- the resident in LINE ------------------------------------------------------------------

    async def respond(self, turn: dialog.Turn, conn: Connection) -> None:
        tapped, session, typed = turn.postback, turn.session, (turn.intent.text or "").strip()
        code_typed = tapped is None and session is not None and session.awaiting == "code"
        if (tapped and tapped.action == "officer") or (code_typed and typed not in dialog.MENU_WORDS):
            await self._officer(turn, conn)
            return
        view = await self._view(turn, conn)
        if not turn.replies:
            dialog.respond(turn, view)
        for stream, command in turn.commands:
            handler = self.associations if ASSOCIATIONS.id_of(stream) else self.circulars
            try:
                async with conn.transaction():
                    await handler.handle(stream, command, caused_by=turn.envelope, conn=conn)  # type: ignore[arg-type]
            except DomainError as exc:
                turn.replies = say.already(exc.reason) if exc.reason in say.REFUSED else say.stale()
                break
        turn.commands.clear()

    async def _view(self, turn: dialog.Turn, conn: Connection) -> dialog.View:
        user_id, tapped, session = turn.intent.user_id, turn.postback, turn.session
        view = dialog.View(
            memberships=await memberships(conn, user_id),
            officer=await self.officers.of_resident(conn, user_id) is not None,
        )
        named = tapped.uuid("a") if tapped else session.association_id if session else None
        if named is not None:
            view.association = (await self.associations.load(ASSOCIATIONS.stream(named), conn=conn))[0]
        circular = tapped.uuid("c") if tapped else None
        if circular is not None:
            view.circular = (await self.circulars.load(CIRCULARS.stream(circular), conn=conn))[0]
        if tapped and tapped.action == "district":
            view.choices = [
                (r["association_id"], r["name"]) for r in await associations(conn, tapped.get("d"))
            ]
        if session and session.awaiting == "search" and turn.intent.kind == "text" and turn.intent.text:
            view.choices = await search(conn, turn.intent.text.strip()[:40])
        if tapped and tapped.action == "recent":
            view.recent = await received(conn, user_id)
        if session and session.awaiting == "name" and tapped is None:
            view.sealed = await seal_text(turn, self.personal, conn, forgotten=say.forgotten())
        return view

    async def _officer(self, turn: dialog.Turn, conn: Connection) -> None:
        """役員ページ: a bound officer gets a fresh sign-in link; anyone else is asked for their
        invitation code, and the code they type binds them (wrong codes throttled)."""
        user_id, intent = turn.intent.user_id, turn.intent
        officer = await self.officers.of_resident(conn, user_id)
        turn.session = None
        if officer is not None:
            turn.say(*await self._link(conn, officer))
        elif intent.kind == "postback":
            turn.session, turn.claim = dialog.Session("code"), True
            turn.say(*say.ask_code())
        elif (wait := await self.throttle.wait(user_id, user_id)) > timedelta(0):
            turn.session = dialog.Session("code")
            turn.say(*say.throttled(math.ceil(wait.total_seconds())))
        elif len(code := normal_code(intent.text or "")) != CODE_LENGTH:
            turn.session = dialog.Session("code")  # not a code at all: no guess to count
            turn.say(*say.bad_code())
        elif (officer := await self.officers.redeem(conn, user_id, code)) is None:
            await self.throttle.failed(user_id, user_id)
            turn.session = dialog.Session("code")
            turn.say(*say.bad_code())
        else:
            await self.throttle.succeeded(user_id, user_id)
            a, _ = await self.associations.load(ASSOCIATIONS.stream(officer.association_id), conn=conn)
            turn.say(*say.officer_registered(a.name, officer.display_name), *await self._link(conn, officer))

    async def _link(self, conn: Connection, officer: Officer) -> list[Message]:
        token = await self.officers.link(conn, officer)
        return say.signin_link(self.signin_url + token, int(LINK_LIFETIME.total_seconds() // 60))

    async def members(self, user: StaffUser, association_id: uuid.UUID) -> list[dict[str, Any]]:
        """The association's members and requests with their names in clear, for `user` (a
        clerk, or an officer): read with its audit entry, in one transaction."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await members(conn, association_id)
            sealed = {m["member_id"].hex: m["name"] for m in rows}
            stream = ASSOCIATIONS.stream(association_id)
            names = await read_personal(
                conn, self.personal, user, "view_members", stream, sealed, department=AUDIT
            )
        return [{**m, "name": names.get(m["member_id"].hex, "")} for m in rows]

    # -- 協働推進課 --------------------------------------------------------------------------

    async def register(self, user: StaffUser, association_id: uuid.UUID, name: str, district: str) -> None:
        command = Register(
            association_id=association_id, name=name.strip(), district=district, by=user.username
        )
        await self.associations.handle(ASSOCIATIONS.stream(association_id), command)

    async def appoint(
        self, user: StaffUser, association_id: uuid.UUID, officer_id: uuid.UUID, name: str
    ) -> str:
        """A new officer of the association; returns the invitation code (shown once)."""
        name = name.strip()
        if not name or len(name) > 40:
            raise refused("bad_officer")
        async with self.pool.acquire() as conn, conn.transaction():
            a = await self._association(conn, association_id)
            appointed = await self.officers.appoint(conn, association_id, officer_id, name, user.username)
            if appointed is None:
                raise refused("already_appointed")
            username, code = appointed
            detail = {"officer": username, "name": name}
            await record_view(conn, user, "appoint_officer", ASSOCIATIONS.stream(a), detail, department=AUDIT)
        return code

    async def remove_officer(self, user: StaffUser, association_id: uuid.UUID, username: str) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            if not await self.officers.remove(conn, association_id, username):
                raise refused("no_officer")
            subject, detail = ASSOCIATIONS.stream(association_id), {"officer": username}
            await record_view(conn, user, "remove_officer", subject, detail, department=AUDIT)

    async def forget(self, user: StaffUser, member_id: uuid.UUID) -> None:
        """Shred the member's key (their name reads as forgotten everywhere) and unbind them as an officer."""
        async with self.pool.acquire() as conn, conn.transaction():
            member = await MEMBERS.row(conn, member_id)
            if member is None:
                raise refused("not_member")
            await forget_resident(conn, self.personal, user, member["user_id"], department=AUDIT)
            await self.officers.forget_resident(conn, member["user_id"])

    async def _association(self, conn: Connection, association_id: uuid.UUID) -> uuid.UUID:
        a, _ = await self.associations.load(ASSOCIATIONS.stream(association_id), conn=conn)
        if a.association_id is None:
            raise refused("no_association")
        return a.association_id

    # -- officers ------------------------------------------------------------------------------

    async def decide_join(self, officer: Officer, member_id: uuid.UUID, approve: bool) -> None:
        """Approve or decline a request to join the officer's association; the resident is told."""
        async with self.pool.acquire() as conn, conn.transaction():
            member = await MEMBERS.row(conn, member_id)
            if member is None or member["association_id"] != officer.association_id:
                raise refused("not_pending")
            user_id, stream = member["user_id"], ASSOCIATIONS.stream(officer.association_id)
            command = (Approve if approve else Decline)(user_id=user_id, by=officer.username)
            decision = await self.associations.handle(stream, command, conn=conn)
            event = decision.events[0]
            told = (say.join_approved if approve else say.join_declined)(decision.state.name)
            await self.conversation.send(conn, user_id, told, key=f"community:{event.id}", caused_by=event)

    async def post(self, officer: Officer, circular_id: uuid.UUID, title: str, text: str) -> None:
        """Post a circular to the association's members of this moment, each sent it in LINE."""
        async with self.pool.acquire() as conn, conn.transaction():
            a, _ = await self.associations.load(ASSOCIATIONS.stream(officer.association_id), conn=conn)
            command = Post(
                circular_id=circular_id,
                association_id=officer.association_id,
                title=title.strip(),
                text=text.strip(),
                by=officer.username,
                recipients=sorted(a.members),
            )
            decision = await self.circulars.handle(CIRCULARS.stream(circular_id), command, conn=conn)
            await self._send(
                conn, a, decision.state, decision.events[0], sorted(a.members), say.circular, command.text
            )

    async def remind(
        self, officer: Officer, circular_id: uuid.UUID, text: str, now: datetime | None = None
    ) -> None:
        """Send the circular again to those who have not read it (at most once per REMIND_EVERY)."""
        async with self.pool.acquire() as conn, conn.transaction():
            c, _ = await self.circulars.load(CIRCULARS.stream(circular_id), conn=conn)
            if c.association_id != officer.association_id:
                raise refused("no_circular")
            a, _ = await self.associations.load(ASSOCIATIONS.stream(officer.association_id), conn=conn)
            command = Remind(by=officer.username, at=now or datetime.now(UTC))
            decision = await self.circulars.handle(CIRCULARS.stream(circular_id), command, conn=conn)
            await self._send(conn, a, c, decision.events[0], c.unread, say.reminder, text)

    async def _send(
        self,
        conn: Connection,
        a: Association,
        c: Circular,
        event: Envelope,
        to: Sequence[str],
        message: "say.CircularMessage",
        text: str,
    ) -> None:
        assert c.circular_id is not None
        for user_id in to:
            told = message(a.name, c.number, c.title, text, c.circular_id)
            await self.conversation.send(
                conn, user_id, told, key=f"community:{event.id}:{user_id}", caused_by=event
            )
