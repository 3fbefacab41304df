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
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cityhall.events import decider
from cityhall.events.envelope import Event

SOURCE = "/services/reservations"


CALLER_NAME = "caller_name"
CALLER_PHONE = "caller_phone"
"""The answers a clerk records besides the questions when booking for a phone caller."""


def booking_number(booking_id: uuid.UUID) -> str:
    """What the resident and the clerk quote: short, and the same wherever it is shown."""
    return "R-" + booking_id.hex[:8].upper()


class Book(decider.Command):
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


class Cancel(decider.Command):
    booking_id: uuid.UUID
    user_id: str | None
    """The resident who asks (it must be theirs); None for a clerk."""
    by: str = ""
    reason: str = ""
    capacity: int
    hold_hours: int
    now: datetime


class Wait(decider.Command):
    user_id: str
    resource: str
    start: datetime
    capacity: int
    answers: dict[str, str] = Field(default_factory=dict)


class Unwait(decider.Command):
    """The resident leaves the waitlist (or declines the seat offered: it passes to the next)."""

    user_id: str
    capacity: int
    hold_hours: int
    now: datetime


class Lapse(decider.Command):
    """An offer's hold ran out: the seat passes to the next waiting resident, if any."""

    offer_id: uuid.UUID
    capacity: int
    hold_hours: int
    now: datetime


class Mark(decider.Command):
    booking_id: uuid.UUID
    attended: bool
    by: str


class Close(decider.Command):
    resource: str
    start: datetime
    by: str
    reason: str


class SetCapacity(decider.Command):
    resource: str
    start: datetime
    capacity: int
    by: str
    hold_hours: int
    now: datetime


Command = Book | Cancel | Wait | Unwait | Lapse | Mark | Close | SetCapacity


class ReservationsEvent(Event):
    """Every event of a slot's stream (`cityhall.reservations.<name>.v1`)."""

    DOMAIN = "reservations"


class BookingMade(ReservationsEvent):
    booking_id: uuid.UUID
    number: str
    user_id: str
    resource: str
    start: datetime
    answers: dict[str, str]
    by: str = ""
    offer_id: uuid.UUID | None = None


class BookingCancelled(ReservationsEvent):
    booking_id: uuid.UUID
    user_id: str
    by: str
    """"" when the resident cancelled; the clerk's login otherwise."""
    reason: str = ""


class WaitlistJoined(ReservationsEvent):
    user_id: str
    resource: str
    start: datetime
    answers: dict[str, str] = Field(default_factory=dict)


class SeatOffered(ReservationsEvent):
    offer_id: uuid.UUID
    user_id: str
    resource: str
    start: datetime
    until: datetime


class OfferLapsed(ReservationsEvent):
    offer_id: uuid.UUID
    user_id: str


class WaitlistLeft(ReservationsEvent):
    user_id: str
    resource: str
    start: datetime


class WaitlistEnded(ReservationsEvent):
    """A closed slot will offer no seat: the resident waiting (or holding an offer) is told."""

    user_id: str
    reason: str


class AttendanceMarked(ReservationsEvent):
    booking_id: uuid.UUID
    attended: bool
    by: str


class SlotClosed(ReservationsEvent):
    resource: str
    start: datetime
    by: str
    reason: str


class CapacitySet(ReservationsEvent):
    resource: str
    start: datetime
    capacity: int
    by: str


# A resource's settings: one stream per resource (`resource-<code>`), seeded from the catalogue
# file once and edited by its department in the dashboard. `settings` is the whole resource as
# the catalogue writes it (`catalogue.Resource`, as JSON).


class SeedResource(decider.Command):
    settings: dict[str, Any]


class Occupied(BaseModel):
    """A future slot that residents hold: the edited rules must keep it, with enough seats."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: datetime
    taken: int
    """Seats booked plus seats held by open offers."""
    waiting: int
    capacity: int | None
    """A clerk's capacity for this slot, which an edit of the resource's seats leaves alone."""


class EditResource(decider.Command):
    settings: dict[str, Any]
    by: str
    occupied: list[Occupied] = Field(default_factory=list)
    """The resource's future slots with anyone booked, offered or waiting (from the read model)."""


class ResourceSeeded(ReservationsEvent):
    code: str
    settings: dict[str, Any]


class ResourceEdited(ReservationsEvent):
    code: str
    settings: dict[str, Any]
    by: str
    changed: list[str]
    """The settings that changed (their catalogue names), for the history."""
