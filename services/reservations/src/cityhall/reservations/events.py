"""reservations' commands and events. One stream per slot (`slot-<resource>-<YYYYMMDDHHMM>`, on
`events.reservations`): its bookings, its waitlist and the seats offered from it, appended with the
expected version, so two residents racing for the last seat cannot both get it. A booking's
answers are tokens sealed with the resident's key (`cityhall.events.personal`), never clear text.

Commands carry what the decider cannot know itself: the catalogue's capacity and hold, and the
time (`now`) from the handler's clock.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from cityhall.events.envelope import Event, registry

SOURCE = "/services/reservations"


def booking_number(booking_id: uuid.UUID) -> str:
    """What the resident and the clerk quote: short, and the same wherever it is shown."""
    return "R-" + booking_id.hex[:8].upper()


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True)


class Book(_Command):
    booking_id: uuid.UUID
    user_id: str
    resource: str
    start: datetime
    capacity: int
    """The catalogue's seats (a clerk's `SetCapacity` overrides it)."""
    answers: dict[str, str] = Field(default_factory=dict)
    """Question key → the answer sealed with the resident's key."""
    by: str = ""
    """The clerk who booked on a caller's behalf; "" for the resident."""
    offer_id: uuid.UUID | None = None
    """The waitlist offer this booking takes up."""
    now: datetime


class Cancel(_Command):
    booking_id: uuid.UUID
    user_id: str | None
    """The resident who asks (it must be theirs); None for a clerk."""
    by: str = ""
    reason: str = ""
    capacity: int
    hold_hours: int
    now: datetime


class Wait(_Command):
    user_id: str
    resource: str
    start: datetime
    capacity: int
    answers: dict[str, str] = Field(default_factory=dict)


class Lapse(_Command):
    """An offer's hold ran out: the seat passes to the next waiting resident, if any."""

    offer_id: uuid.UUID
    capacity: int
    hold_hours: int
    now: datetime


class Mark(_Command):
    booking_id: uuid.UUID
    attended: bool
    by: str


class Close(_Command):
    resource: str
    start: datetime
    by: str
    reason: str


class SetCapacity(_Command):
    resource: str
    start: datetime
    capacity: int
    by: str


Command = Book | Cancel | Wait | Lapse | Mark | Close | SetCapacity


@registry.register
class BookingMade(Event):
    TYPE = "cityhall.reservations.booking_made.v1"
    booking_id: uuid.UUID
    number: str
    user_id: str
    resource: str
    start: datetime
    answers: dict[str, str]
    by: str = ""
    offer_id: uuid.UUID | None = None


@registry.register
class BookingCancelled(Event):
    TYPE = "cityhall.reservations.booking_cancelled.v1"
    booking_id: uuid.UUID
    user_id: str
    by: str
    """"" when the resident cancelled; the clerk's login otherwise."""
    reason: str = ""


@registry.register
class WaitlistJoined(Event):
    TYPE = "cityhall.reservations.waitlist_joined.v1"
    user_id: str
    resource: str
    start: datetime
    answers: dict[str, str] = Field(default_factory=dict)


@registry.register
class SeatOffered(Event):
    TYPE = "cityhall.reservations.seat_offered.v1"
    offer_id: uuid.UUID
    user_id: str
    resource: str
    start: datetime
    until: datetime


@registry.register
class OfferLapsed(Event):
    TYPE = "cityhall.reservations.offer_lapsed.v1"
    offer_id: uuid.UUID
    user_id: str


@registry.register
class AttendanceMarked(Event):
    TYPE = "cityhall.reservations.attendance_marked.v1"
    booking_id: uuid.UUID
    attended: bool
    by: str


@registry.register
class SlotClosed(Event):
    TYPE = "cityhall.reservations.slot_closed.v1"
    resource: str
    start: datetime
    by: str
    reason: str


@registry.register
class CapacitySet(Event):
    TYPE = "cityhall.reservations.capacity_set.v1"
    resource: str
    start: datetime
    capacity: int
    by: str
