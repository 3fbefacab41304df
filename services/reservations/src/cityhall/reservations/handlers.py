"""reservations' I/O: the resident's intents (around the pure dialog), the slot commands with
what they tell residents, the sweep (waitlist offers that lapsed, the day-before reminders) and
the clerks' actions."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from linebot.v3.messaging import Message

from cityhall.events.db import Connection, Pool
from cityhall.events.decider import CommandHandler, Decision, DomainError
from cityhall.events.envelope import Envelope
from cityhall.events.personal import PersonalData, SubjectForgotten
from cityhall.events.store import EventStore
from cityhall.line import postback
from cityhall.line.dialog import IDLE, Conversation, SessionStore
from cityhall.reservations import dialog, projections, resources
from cityhall.reservations import messages as say
from cityhall.reservations.bulky.dialog import SEALED, Facts, is_pickup
from cityhall.reservations.bulky.domain import Pickup
from cityhall.reservations.bulky.events import PICKUP_COMMANDS, PickupCommand
from cityhall.reservations.catalogue import CalendarImportError, CalendarRow, Catalogue, Resource, SlotRef
from cityhall.reservations.domain import Slot, refused, slot_decider
from cityhall.reservations.events import (
    CALLER_NAME,
    CALLER_PHONE,
    SOURCE,
    Book,
    BookingCancelled,
    BookingMade,
    Cancel,
    Close,
    Command,
    EditResource,
    Lapse,
    Mark,
    Occupied,
    OfferLapsed,
    SeatOffered,
    SeedResource,
    SetCapacity,
    WaitlistEnded,
)
from cityhall.reservations.ics import Links
from cityhall.web import StaffUser
from cityhall.web.personal import forget_resident, read_personal


class PickupDesk(Protocol):
    """What the bookings ask of bulky-waste pickups (`bulky.handlers.Pickups`, which in turn uses
    this service): a protocol, so that the two modules do not import each other."""

    async def decide(
        self, conn: Connection, stream: str, command: PickupCommand, *, caused_by: Envelope | None = None
    ) -> Decision[Pickup]: ...

    async def facts(self, conn: Connection, turn: dialog.Turn) -> Facts: ...

    async def reminder(
        self, conn: Connection, number: str, ref: SlotRef, booking_id: uuid.UUID
    ) -> list[Message] | None: ...

    async def annotate(self, conn: Connection, rows: list[dict[str, Any]]) -> None: ...


PERSONAL_STEPS = SEALED | {"question"}
"""The dialog's steps whose typed text is sealed with the resident's key before it is kept."""
REMINDER_LOOKAHEAD = timedelta(days=2)
"""How far ahead the sweep looks for bookings whose reminder may be due."""
SETTINGS_PING = 30.0
"""Seconds between checks that the connection listening for changed settings is alive."""


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
        self.pool, self.store, self.links, self.clock = pool, store, links, clock
        self.seeds = catalogue
        """The catalogue file: it seeds the resources not yet in the store."""
        self.catalogue = catalogue
        """The catalogue with each resource's settings as last edited (`refresh` keeps it current)."""
        self._generation = -1
        self._followed = False
        """Whether `follow_settings` listens for changes of the settings (else each turn checks)."""
        self._announced, self._read = 0, -1
        """Changes of the settings announced, and how many of them the catalogue has read."""
        self.personal = PersonalData(pool)
        self.slots: CommandHandler[Command, Slot] = CommandHandler(store, slot_decider, source=SOURCE)
        self.settings: CommandHandler[resources.ResourceCommand, resources.Settings] = CommandHandler(
            store, resources.resource_decider, source=SOURCE
        )
        self.pickups: PickupDesk | None = None
        """Bulky-waste pickups with their fee (set by the composition root when it has a payment port)."""
        self.conversation: Conversation[dialog.Session, Command | PickupCommand] = Conversation(
            domain=say.DOMAIN,
            source=SOURCE,
            store=store,
            clock=lambda: self.clock(),
            sessions=SessionStore("reservations_sessions", dialog.Session, idle=IDLE),
        )

    # The resident.

    async def respond(self, turn: dialog.Turn, conn: Connection) -> None:
        """One intent (`Conversation.handler` begins and finishes the turn): fetch what the dialog
        needs, run it, then run its commands here, so that a seat someone else took a moment
        before is answered by the dialog rather than failing the turn."""
        try:
            view = await self._view(conn, turn)
        except SubjectForgotten:
            turn.session = None
            turn.say(*say.forgotten())
            return
        before = turn.session
        dialog.respond(turn, view)
        if turn.commands:
            # All of the turn's commands, or none. A refused command has written nothing (the
            # handler refuses before it appends), so only a turn of several needs a savepoint to
            # undo the ones before: not the one-command turn refused by a full session.
            several = len(turn.commands) > 1
            try:
                async with conn.transaction() if several else contextlib.nullcontext():
                    for stream, command in turn.commands:
                        if isinstance(command, PICKUP_COMMANDS):
                            if self.pickups is None:
                                raise LookupError("a pickup command, and no pickups")
                            await self.pickups.decide(conn, stream, command, caused_by=turn.envelope)
                        else:
                            await self.decide(conn, stream, command, caused_by=turn.envelope)
            except DomainError as exc:
                dialog.refused(turn, exc.reason, before, view)
            turn.commands.clear()

    async def _view(self, conn: Connection, turn: dialog.Turn) -> dialog.View:
        """What the dialog needs for this turn: seats left of the resource it is about, the slot a
        button names, the resident's bookings, their answers (sealed and in clear)."""
        await self.refresh(conn)
        intent, session, now = turn.intent, turn.session, self.clock()
        code, stamp = dialog.named(intent.postback_data) if intent.kind == "postback" else ("", "")
        code = code or (session.resource if session else "")
        resource = self.catalogue.resource(code)
        fields: dict[str, Any] = {}
        if resource is not None:
            earliest, last = self.catalogue.window(resource, now)
            rows, fields["active"] = await projections.slot_counts_and_active(
                conn, resource.code, earliest, last, intent.user_id, now
            )
            fields["left"] = projections.free_seats(rows, resource.capacity)
        ref = SlotRef.parse(code, stamp) if stamp else None
        if ref is not None:
            fields["slot"], _version = await self.slots.load(ref.stream, conn=conn)
        tapped = postback.decode(intent.postback_data) if intent.kind == "postback" else None
        if (tapped is not None and tapped.action == "list") or (
            intent.text or ""
        ).strip() in dialog.LIST_WORDS:
            fields["upcoming"] = await self._upcoming(conn, intent.user_id, now)
            fields["waiting"] = [
                (found, SlotRef(found.code, row["start"]))
                for row in await projections.waiting_for(conn, intent.user_id, now)
                if (found := self.catalogue.resource(row["resource"])) is not None
            ]
        if session is not None and session.answers:
            fields["answers"] = [await self.personal.decrypt(a, conn=conn) for a in session.sealed()]
        if self.pickups is not None:
            fields["bulky"] = await self.pickups.facts(conn, turn)
        if intent.kind == "text" and intent.text and session is not None and session.step in PERSONAL_STEPS:
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
        self,
        conn: Connection,
        stream: str,
        command: Command,
        *,
        caused_by: Envelope | None = None,
        tell_cancelled: bool = True,
    ) -> Decision[Slot]:
        """Run `command` on the slot (retried on a lost race) and, in the same transaction, tell
        each resident it concerns besides the one acting: a seat offered, a booking a clerk
        cancelled (unless `tell_cancelled` is False: a move tells of itself)."""
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
            elif isinstance(event, OfferLapsed) and isinstance(command, Lapse):
                messages = say.offer_lapsed(resource, ref)
                await self.push(conn, event.user_id, messages, f"lapsed:{event.offer_id}", envelope)
            elif isinstance(event, WaitlistEnded):
                messages = say.waitlist_ended(resource, ref, event.reason)
                await self.push(conn, event.user_id, messages, f"waitlist-ended:{envelope.id}", envelope)
            elif isinstance(event, BookingCancelled) and event.by and tell_cancelled:
                seat = state.seat(event.booking_id)
                number = seat.number if seat else ""
                messages = say.cancelled_by_staff(number, resource, ref, event.reason)
                await self.push(conn, event.user_id, messages, f"cancelled:{event.booking_id}", envelope)
        return decision

    async def push(
        self, conn: Connection, user_id: str, messages: Sequence[Message], key: str, caused_by: Envelope
    ) -> None:
        """Tell a resident what a decision did to them (a push, through the outbox)."""
        if not user_id.startswith("U"):
            return  # a phone caller's booking: the clerk tells them
        await self.conversation.send(conn, user_id, messages, key=f"reservations:{key}", caused_by=caused_by)

    async def booking_made(self, conn: Connection, ref: SlotRef, booking_id: uuid.UUID) -> Envelope:
        """The event that made a booking: what a later message about it is caused by."""
        for recorded in await self.store.read_stream(ref.stream, conn=conn):
            if recorded.type == BookingMade.TYPE and recorded.envelope.data.get("booking_id") == str(
                booking_id
            ):
                return recorded.envelope
        raise LookupError(f"no booking {booking_id} in {ref.stream}")

    # The sweep: offers whose hold ran out pass on; reminders the day before.

    async def sweep(self) -> int:
        """One pass; returns what it did (offers lapsed + reminders sent)."""
        await self.refresh()
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
                    booked = await self.booking_made(conn, ref, row["booking_id"])
                    pickup = (
                        await self.pickups.reminder(conn, row["number"], ref, row["booking_id"])
                        if self.pickups is not None and is_pickup(resource)
                        else None
                    )
                    messages = pickup or say.reminder(row["number"], resource, ref)
                    await self.push(conn, row["user_id"], messages, f"reminder:{row['booking_id']}", booked)
                    done += 1
        return done

    # The clerks.

    async def attendees(self, user: StaffUser, ref: SlotRef, end: datetime) -> list[dict[str, Any]]:
        """Bookings of a resource from `ref.start` to `end` with the answers in clear; the view is
        recorded in the audit log with the read."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await projections.attendees(conn, ref.resource, ref.start, end)
            for row in rows:  # each booking's answers read and recorded together
                stream = SlotRef(row["resource"], row["start"]).stream
                detail = {"number": row["number"]}
                viewed = await read_personal(
                    conn, self.personal, user, "view_attendees", stream, row["answers"], detail
                )
                row["answers"] = dict(viewed)
            if self.pickups is not None:
                await self.pickups.annotate(conn, rows)
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

    async def move(self, user: StaffUser, booking_id: uuid.UUID, stamp: str, reason: str) -> uuid.UUID:
        """Move a booking to another slot of its resource, in one transaction: the new booking (same
        resident, same answers) and the old one cancelled; the resident is told. Raises `DomainError`."""
        row = await projections.booking(self.pool, booking_id)
        resource = self.catalogue.resource(row["resource"]) if row else None
        if row is None or resource is None or row["status"] != "booked":
            raise refused("unknown_booking")
        if is_pickup(resource):
            raise refused(
                "pickup_moved"
            )  # its fee is for its day: cancelled (refunded) and applied for again
        new = SlotRef.parse(resource.code, stamp)
        if new is None or not self.catalogue.is_slot(resource, new.start) or new.start <= self.clock():
            raise refused("bad_slot")
        old = SlotRef(resource.code, row["start"])
        moved_id = uuid.uuid5(booking_id, new.stamp)
        why = reason.strip() or "窓口の都合"
        book = Book(
            booking_id=moved_id, user_id=row["user_id"], resource=resource.code, start=new.start,
            capacity=resource.capacity, answers=row["answers"], by=user.username, now=self.clock(),
        )  # fmt: skip
        cancel = Cancel(
            booking_id=booking_id, user_id=None, by=user.username, reason=why, capacity=resource.capacity,
            hold_hours=resource.hold_hours, now=self.clock(),
        )  # fmt: skip
        async with self.pool.acquire() as conn, conn.transaction():
            made = await self.decide(conn, new.stream, book)
            await self.decide(conn, old.stream, cancel, tell_cancelled=False)
            seat = made.state.seat(moved_id)
            messages = say.moved_by_staff(row["number"], seat.number if seat else "", resource, old, new, why)
            moved = await self.booking_made(conn, new, moved_id)
            await self.push(conn, row["user_id"], messages, f"moved:{booking_id}", moved)
        return moved_id

    async def book_for_caller(
        self, user: StaffUser, ref: SlotRef, name: str, phone: str, answers: dict[str, str]
    ) -> str:
        """A clerk books for a phone caller; the caller's name, number and answers are sealed with a
        key of their own (forgotten like a resident's). Returns the booking number."""
        resource = self.catalogue.resource(ref.resource)
        if resource is None or not self.catalogue.is_slot(resource, ref.start) or ref.start <= self.clock():
            raise refused("bad_slot")
        if is_pickup(resource):  # its fee, items and address are the resident's own application
            raise refused("pickup_by_phone")
        values: dict[str, str] = {}
        for question in resource.questions:
            value = question.parse(answers.get(question.key, ""))
            if value is None or not question.within(value):
                raise refused("bad_answer")
            values[question.key] = str(value)
        if not name.strip() or not phone.strip():
            raise refused("caller_missing")
        caller = f"phone-{uuid.uuid4().hex}"
        values |= {CALLER_NAME: name.strip(), CALLER_PHONE: phone.strip()}
        booking_id = uuid.uuid4()
        async with self.pool.acquire() as conn, conn.transaction():
            sealed = {k: await self.personal.encrypt(caller, v, conn=conn) for k, v in values.items()}
            command = Book(
                booking_id=booking_id, user_id=caller, resource=resource.code, start=ref.start,
                capacity=resource.capacity, answers=sealed, by=user.username, now=self.clock(),
            )  # fmt: skip
            made = await self.decide(conn, ref.stream, command)
        seat = made.state.seat(booking_id)
        return seat.number if seat else ""

    async def close_day(self, user: StaffUser, resource_code: str, day: date, reason: str) -> int:
        """Close every slot of the day (a holiday, an emergency); each booked resident is told."""
        resource = self.catalogue.resource(resource_code)
        if resource is None:
            raise refused("bad_slot")
        starts = self.catalogue.slots_on(resource, day)
        for start in starts:
            await self.close(user, SlotRef(resource.code, start), reason)
        return len(starts)

    async def mark(self, user: StaffUser, booking_id: uuid.UUID, attended: bool) -> None:
        row = await projections.booking(self.pool, booking_id)
        if row is None:
            raise refused("unknown_booking")
        stream = SlotRef(row["resource"], row["start"]).stream
        async with self.pool.acquire() as conn, conn.transaction():
            await self.decide(conn, stream, Mark(booking_id=booking_id, attended=attended, by=user.username))

    async def close(self, user: StaffUser, ref: SlotRef, reason: str) -> None:
        """Close a slot: every booked resident is told, with a button to book another day."""
        async with self.pool.acquire() as conn, conn.transaction():
            await self.decide(conn, ref.stream, self._closing(user, ref, reason))

    async def set_capacity(self, user: StaffUser, ref: SlotRef, capacity: int) -> None:
        command = self._capacity(user, ref, capacity)
        async with self.pool.acquire() as conn, conn.transaction():
            await self.decide(conn, ref.stream, command)

    async def import_calendar(self, user: StaffUser, rows: Sequence[CalendarRow]) -> int:
        """A checked slot calendar applied in one transaction: each row sets its slot's seats or
        closes it (residents told as by hand). A refused row (a past slot, seats below those booked)
        raises `CalendarImportError` with its line, and nothing is written."""
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            for row in rows:
                try:
                    if row.ref.start <= now:
                        raise refused("bad_slot")
                    command = (
                        self._closing(user, row.ref, row.reason)
                        if row.seats is None
                        else self._capacity(user, row.ref, row.seats)
                    )
                    await self.decide(conn, row.ref.stream, command)
                except DomainError as exc:
                    raise CalendarImportError(row.row, str(exc)) from exc
        return len(rows)

    def _closing(self, user: StaffUser, ref: SlotRef, reason: str) -> Close:
        return Close(
            resource=ref.resource, start=ref.start, by=user.username, reason=reason.strip() or "窓口の都合"
        )

    def _capacity(self, user: StaffUser, ref: SlotRef, capacity: int) -> SetCapacity:
        resource = self.catalogue.resource(ref.resource)
        if resource is None:
            raise refused("bad_slot")
        return SetCapacity(
            resource=ref.resource, start=ref.start, capacity=capacity, by=user.username,
            hold_hours=resource.hold_hours, now=self.clock(),
        )  # fmt: skip

    async def forget(self, user: StaffUser, resident: str) -> bool:
        """Shred the resident's answers (their key) and record who did it."""
        async with self.pool.acquire() as conn, conn.transaction():
            return await forget_resident(conn, self.personal, user, resident)

    # The resources' settings: seeded from the file, edited by their departments.

    async def seed(self) -> int:
        """Put the file's resources that the store does not have yet into it; returns how many."""
        seeded = 0
        for resource in self.seeds.resources:
            command = SeedResource(settings=resource.model_dump(mode="json"))
            decision = await self.settings.handle(resources.stream(resource.code), command)
            seeded += len(decision.events)
        return seeded

    async def follow_settings(self) -> None:
        """Until cancelled, listen for the read model's announcements of changed settings, so that
        `refresh` reads nothing on a turn when nothing changed. A background task: when it fails,
        the runtime starts it again, and meanwhile `refresh` checks the settings' generation."""
        async with self.pool.acquire() as conn:
            channel = projections.RESOURCES_CHANGED + await conn.fetchval("SELECT current_schema()")
            await conn.add_listener(channel, self._settings_changed)
            try:
                self._announced += 1  # whatever changed before it listened
                self._followed = True
                while True:
                    await asyncio.sleep(SETTINGS_PING)
                    await conn.fetchval("SELECT 1")  # raises on a dead connection
            finally:
                self._followed = False
                with contextlib.suppress(Exception):
                    await conn.remove_listener(channel, self._settings_changed)

    def _settings_changed(self, *_args: object) -> None:
        self._announced += 1

    async def refresh(self, conn: Connection | None = None) -> Catalogue:
        """The catalogue with the settings the read model holds, re-read only when they changed."""
        if self._followed and self._read == self._announced:
            return self.catalogue
        announced = self._announced  # one announced while reading is read again next time
        db = conn or self.pool
        if self._generation < 0 and not await projections.resources_ready(db):
            return self.catalogue  # the projection has not made its table yet: the file's settings
        generation = await projections.resources_generation(db)
        if generation != self._generation:
            stored = {row["code"]: row["settings"] for row in await projections.resource_settings(db)}
            self._use(stored, generation)
        self._read = announced
        return self.catalogue

    def _use(self, stored: dict[str, Any], generation: int) -> None:
        categories = {c.code for c in self.seeds.categories}
        edited = {
            code: resource
            for code, settings in stored.items()
            if (resource := Resource.model_validate(settings)).category in categories
        }
        merged = [edited.pop(r.code, r) for r in self.seeds.resources] + list(edited.values())
        self.catalogue = self.seeds.model_copy(update={"resources": merged})
        self._generation = generation

    async def edit_resource(self, user: StaffUser, edited: Resource) -> list[str]:
        """A department's edit of a resource's settings, as an event (who and when). Refused with a
        `DomainError` naming the slot when it would take away a future slot residents hold or
        seats they booked. Returns the settings that changed (none: nothing was written)."""
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            occupied = [Occupied(**row) for row in await projections.occupied(conn, edited.code, now)]
            command = EditResource(
                settings=edited.model_dump(mode="json"), by=user.username, occupied=occupied
            )
            decision = await self.settings.handle(resources.stream(edited.code), command, conn=conn)
        if decision.events:  # this replica uses it at once; the others once the projection has it
            merged = [edited if r.code == edited.code else r for r in self.catalogue.resources]
            self.catalogue = self.catalogue.model_copy(update={"resources": merged})
        return [str(c) for e in decision.events for c in e.data.get("changed", [])]

    async def resource_history(self, code: str) -> list[dict[str, Any]]:
        """Who changed a resource's settings and when, newest first."""
        recorded = await self.store.read_stream(resources.stream(code))
        return [
            {
                "at": r.recorded_at,
                "by": r.envelope.data.get("by", ""),
                "changed": r.envelope.data.get("changed"),
            }
            for r in reversed(recorded)
        ]
