"""The booking dialog's state and what a turn reads (`Session`, `View`, `Turn`), with the helpers
the bulky-waste steps share with it: a module of its own, so that `dialog` and `bulky.dialog` both
read it and neither imports the other."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from cityhall.line import dialog
from cityhall.reservations import messages as say
from cityhall.reservations.bulky.events import PickupCommand
from cityhall.reservations.bulky.facts import Facts
from cityhall.reservations.catalogue import Catalogue, Resource, SlotRef
from cityhall.reservations.domain import Slot
from cityhall.reservations.events import Command


@dataclass
class Session:
    draft: uuid.UUID
    """The booking this dialog makes (its id, so a second 確定 is the same booking)."""
    step: str
    """"category", "resource", "residency", "day", "time", "question" or "confirm"."""
    category: str = ""
    resource: str = ""
    start: str = ""
    """The chosen slot's stamp (`YYYYMMDDHHMM`)."""
    answers: str = ""
    """The answers so far, each sealed with the resident's key, one a line."""
    waiting: bool = False
    """Answering the questions to join the waitlist rather than to book."""
    replaces: str = ""
    """`<stamp>/<booking id>` of the booking a change replaces."""
    district: str = ""
    """A bulky-waste pickup's district (libs/town's key)."""
    cart: str = ""
    """A bulky-waste pickup's items so far (`code:count,…`)."""

    def sealed(self) -> list[str]:
        return self.answers.split("\n") if self.answers else []


@dataclass(frozen=True)
class View:
    """What the handler fetched for one turn."""

    catalogue: Catalogue
    now: datetime
    ics_url: Callable[[uuid.UUID], str]
    left: Mapping[datetime, int] = field(default_factory=dict)
    """Free seats by slot start, for the resource the turn is about (read model)."""
    slot: Slot | None = None
    """The slot the tapped button names (event store)."""
    answers: Sequence[str] = ()
    """The session's answers, in clear."""
    sealed: str | None = None
    """The text the resident typed, sealed with their key."""
    active: int = 0
    """The resident's active bookings of the resource the turn is about."""
    upcoming: Sequence[say.Upcoming] = ()
    waiting: Sequence[tuple[Resource, SlotRef]] = ()
    """The slots the resident waits for (予約確認)."""
    bulky: Facts | None = None
    """The price list and what a bulky-waste turn needs (None: the service takes no bulky waste)."""

    def free(self, resource: Resource, start: datetime) -> int:
        return self.left.get(start, resource.capacity)


Turn = dialog.Turn[Session, Command | PickupCommand]
"""A turn's commands go to slots, and for a bulky-waste pickup to its own stream."""


def weeks(view: View, resource: Resource) -> list[list[say.DayView]]:
    """The window's open days, Monday to Sunday per week, each with its free seats."""
    found: dict[date, list[say.DayView]] = {}
    for day in view.catalogue.bookable_days(resource, view.now):
        starts = view.catalogue.bookable_slots(resource, day, view.now)
        left = sum(max(view.free(resource, s), 0) for s in starts)
        found.setdefault(day - timedelta(days=day.weekday()), []).append(say.DayView(day, left))
    return [found[monday] for monday in sorted(found)]


def still_bookable(turn: Turn, session: Session, stamp: str, view: View) -> tuple[Resource, SlotRef] | None:
    """The session's chosen slot if `stamp` names it and it may still be booked (time passes
    between the choice and 確定); otherwise the turn says why and None."""
    resource = view.catalogue.resource(session.resource)
    ref = SlotRef.parse(session.resource, stamp)
    if resource is None or ref is None or stamp != session.start:
        turn.say(*say.stale())
        return None
    reason = view.catalogue.refusal(resource, ref.start, view.now)
    if reason is not None:
        turn.session = None
        turn.say(*say.time_refused(resource, reason))
        return None
    return resource, ref
