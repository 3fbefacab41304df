"""reservations' I/O: the resident's intents (around the pure dialog), the slot commands with
what they tell residents, the sweep (waitlist offers that lapsed, the day-before reminders) and
the clerks' actions."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from linebot.v3.messaging import Message

from cityhall.events.db import Connection, Pool
from cityhall.events.decider import CommandHandler, Decision, DomainError
from cityhall.events.envelope import Envelope
from cityhall.events.personal import PersonalData, SubjectForgotten
from cityhall.events.store import EventStore
from cityhall.line.contracts import outbound_message
from cityhall.line.dialog import IDLE, Conversation, SessionStore, intent_of
from cityhall.reservations import dialog, projections
from cityhall.reservations import messages as say
from cityhall.reservations.catalogue import Catalogue, SlotRef
from cityhall.reservations.domain import Slot, refused, slot_decider
from cityhall.reservations.events import (
    SOURCE,
    BookingCancelled,
    Cancel,
    Close,
    Command,
    Lapse,
    Mark,
    SeatOffered,
    SetCapacity,
)
from cityhall.reservations.ics import Links
from cityhall.web import StaffUser, record_view

REMINDER_LOOKAHEAD = timedelta(days=2)
"""How far ahead the sweep looks for bookings whose reminder may be due."""


class Reservations:
    def __init__(
        self,
        pool: Pool,
        store: EventStore,
        catalogue: Catalogue,
        links: Links,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.pool, self.store, self.catalogue, self.links, self.clock = pool, store, catalogue, links, clock
        self.personal = PersonalData(pool)
        self.slots: CommandHandler[Command, Slot] = CommandHandler(store, slot_decider, source=SOURCE)
        self.conversation: Conversation[dialog.Session, Command] = Conversation(
            domain=say.DOMAIN,
            source=SOURCE,
            store=store,
            clock=lambda: self.clock(),
            sessions=SessionStore("reservations_sessions", dialog.Session, idle=IDLE),
        )

    # The resident.

    async def on_intent(self, envelope: Envelope, conn: Connection) -> None:
        intent = intent_of(envelope)
        if intent is None:
            return
        turn = await self.conversation.begin(conn, envelope, intent)
        try:
            view = await self._view(conn, turn)
        except SubjectForgotten:
            turn.session = None
            turn.say(*say.forgotten())
            await self.conversation.finish(conn, turn)
            return
        before = turn.session
        dialog.respond(turn, view)
        if turn.commands:
            try:
                async with conn.transaction():  # all of the turn's commands, or none
                    for stream, command in turn.commands:
                        await self.decide(conn, stream, command, caused_by=envelope)
            except DomainError as exc:
                dialog.refused(turn, exc.reason, before, view)
            turn.commands.clear()
        await self.conversation.finish(conn, turn)

    async def _view(self, conn: Connection, turn: dialog.Turn) -> dialog.View:
        """What the dialog needs for this turn: seats left of the resource it is about, the slot a
        button names, the resident's bookings, their answers (sealed and in clear)."""
        intent, session, now = turn.intent, turn.session, self.clock()
        code, stamp = dialog.named(intent.postback_data) if intent.kind == "postback" else ("", "")
        code = code or (session.resource if session else "")
        resource = self.catalogue.resource(code)
        fields: dict[str, Any] = {}
        if resource is not None:
            earliest, last = self.catalogue.window(resource, now)
            rows = await projections.slot_counts(conn, resource.code, earliest, last)
            fields["left"] = projections.free_seats(rows, resource.capacity)
            fields["active"] = await projections.active_count(conn, intent.user_id, resource.code, now)
        ref = SlotRef.parse(code, stamp) if stamp else None
        if ref is not None:
            fields["slot"], _version = await self.slots.load(ref.stream, conn=conn)
        tapped = intent.postback_data or ""
        if "action=list" in tapped or (intent.text or "").strip() in dialog.LIST_WORDS:
            fields["upcoming"] = await self._upcoming(conn, intent.user_id, now)
        if session is not None and session.answers:
            fields["answers"] = [await self.personal.decrypt(a, conn=conn) for a in session.sealed()]
        if intent.kind == "text" and intent.text and session is not None and session.step == "question":
            fields["sealed"] = await self.personal.encrypt(intent.user_id, intent.text.strip(), conn=conn)
        return dialog.View(self.catalogue, now, self.links.ics_url, **fields)

    async def _upcoming(self, conn: Connection, user_id: str, now: datetime) -> list[say.Upcoming]:
        found = []
        for row in await projections.upcoming(conn, user_id, now):
            resource = self.catalogue.resource(row["resource"])
            if resource is not None:
                ref = SlotRef(resource.code, row["start"])
                url = self.links.ics_url(row["booking_id"])
                found.append(say.Upcoming(row["booking_id"], row["number"], resource, ref, url))
        return found

    # Deciding, and telling residents what a decision did to them.

    async def decide(
        self, conn: Connection, stream: str, command: Command, *, caused_by: Envelope | None = None
    ) -> Decision[Slot]:
        """Run `command` on the slot (retried on a lost race) and, in the same transaction, tell
        each resident it concerns besides the one acting: a seat offered, a booking a clerk cancelled."""
        decision = await self.slots.handle(stream, command, caused_by=caused_by, conn=conn)
        state = decision.state
        resource = self.catalogue.resource(state.resource)
        if resource is None or state.start is None:
            return decision
        ref = SlotRef(resource.code, state.start)
        for envelope in decision.events:
            event = envelope.event()
            if isinstance(event, SeatOffered):
                messages = say.offered(resource, ref, event.offer_id, event.until)
                await self.push(conn, event.user_id, messages, f"offer:{event.offer_id}", envelope)
            elif isinstance(event, BookingCancelled) and event.by:
                seat = state.seat(event.booking_id)
                number = seat.number if seat else ""
                messages = say.cancelled_by_staff(number, resource, ref, event.reason)
                await self.push(conn, event.user_id, messages, f"cancelled:{event.booking_id}", envelope)
        return decision

    async def push(
        self,
        conn: Connection,
        user_id: str,
        messages: Sequence[Message],
        key: str,
        caused_by: Envelope | None,
    ) -> None:
        request = outbound_message(
            to=user_id,
            messages=messages,
            source=SOURCE,
            idempotency_key=f"reservations:{key}",
            caused_by=caused_by,
        )
        await self.store.append(request.subject, None, [request], conn=conn)

    # The sweep: offers whose hold ran out pass on; reminders the day before.

    async def sweep(self) -> int:
        """One pass; returns what it did (offers lapsed + reminders sent)."""
        now, done = self.clock(), 0
        for row in await projections.due_offers(self.pool, now):
            resource = self.catalogue.resource(row["resource"])
            if resource is None:
                continue
            stream = SlotRef(resource.code, row["start"]).stream
            command = Lapse(
                offer_id=row["offer_id"], capacity=resource.capacity, hold_hours=resource.hold_hours, now=now
            )
            async with self.pool.acquire() as conn, conn.transaction():
                done += bool((await self.decide(conn, stream, command)).events)
        for row in await projections.due_reminders(self.pool, now, now + REMINDER_LOOKAHEAD):
            resource = self.catalogue.resource(row["resource"])
            if resource is None or Catalogue.reminder_at(resource, row["start"]) > now:
                continue
            async with self.pool.acquire() as conn, conn.transaction():
                first = await conn.execute(
                    "INSERT INTO reservations_reminded (booking_id) VALUES ($1) ON CONFLICT DO NOTHING",
                    row["booking_id"],
                )
                if first.endswith(" 1"):
                    ref = SlotRef(resource.code, row["start"])
                    messages = say.reminder(row["number"], resource, ref)
                    await self.push(conn, row["user_id"], messages, f"reminder:{row['booking_id']}", None)
                    done += 1
        return done

    # The clerks.

    async def attendees(self, user: StaffUser, ref: SlotRef, end: datetime) -> list[dict[str, Any]]:
        """Bookings of a resource from `ref.start` to `end` with the answers in clear; the view is
        recorded in the audit log with the read."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await projections.attendees(conn, ref.resource, ref.start, end)
            await record_view(
                conn, user, "view_attendees", ref.stream, {"until": end.isoformat(), "bookings": len(rows)}
            )
            for row in rows:
                row["answers"] = {
                    key: await self.personal.decrypt(token, conn=conn)
                    for key, token in row["answers"].items()
                }
            return rows

    async def cancel(self, user: StaffUser, booking_id: uuid.UUID, reason: str) -> None:
        """A clerk cancels a booking with a reason; the resident is told. Raises `DomainError`."""
        row = await projections.booking(self.pool, booking_id)
        resource = self.catalogue.resource(row["resource"]) if row else None
        if row is None or resource is None:
            raise refused("unknown_booking")
        command = Cancel(
            booking_id=booking_id, user_id=None, by=user.username, reason=reason.strip() or "窓口の都合",
            capacity=resource.capacity, hold_hours=resource.hold_hours, now=self.clock(),
        )  # fmt: skip
        async with self.pool.acquire() as conn, conn.transaction():
            await self.decide(conn, SlotRef(resource.code, row["start"]).stream, command)

    async def mark(self, user: StaffUser, booking_id: uuid.UUID, attended: bool) -> None:
        row = await projections.booking(self.pool, booking_id)
        if row is None:
            raise refused("unknown_booking")
        stream = SlotRef(row["resource"], row["start"]).stream
        async with self.pool.acquire() as conn, conn.transaction():
            await self.decide(conn, stream, Mark(booking_id=booking_id, attended=attended, by=user.username))

    async def close(self, user: StaffUser, ref: SlotRef, reason: str) -> None:
        """Close a slot: every booked resident is told, with a button to book another day."""
        command = Close(
            resource=ref.resource, start=ref.start, by=user.username, reason=reason.strip() or "窓口の都合"
        )
        async with self.pool.acquire() as conn, conn.transaction():
            await self.decide(conn, ref.stream, command)

    async def set_capacity(self, user: StaffUser, ref: SlotRef, capacity: int) -> None:
        command = SetCapacity(resource=ref.resource, start=ref.start, capacity=capacity, by=user.username)
        async with self.pool.acquire() as conn, conn.transaction():
            await self.decide(conn, ref.stream, command)

    async def forget(self, user: StaffUser, resident: str) -> bool:
        """Shred the resident's answers (their key) and record who did it."""
        async with self.pool.acquire() as conn, conn.transaction():
            await record_view(conn, user, "forget_resident", resident)
            return await self.personal.forget(resident, conn=conn)
