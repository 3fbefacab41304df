"""A slot's decider, pure: `decide(command, slot) -> events`, `evolve(slot, event)`.

The seats a slot gives are its capacity; a seat is taken by an active booking or held by an open
waitlist offer. A booking is made once (the same booking id again changes nothing), cancelled
once, and only its own resident (or a clerk) cancels it. A freed seat goes to the first waiting
resident as an offer held for the catalogue's hours; nobody is booked without confirming.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from cityhall.events.decider import Decider, DomainError
from cityhall.events.envelope import Event
from cityhall.reservations.events import (
    AttendanceMarked,
    Book,
    BookingCancelled,
    BookingMade,
    Cancel,
    CapacitySet,
    Close,
    Command,
    Lapse,
    Mark,
    OfferLapsed,
    SeatOffered,
    SetCapacity,
    SlotClosed,
    Unwait,
    Wait,
    WaitlistEnded,
    WaitlistJoined,
    WaitlistLeft,
    booking_number,
)

REFUSED = {
    "full": "この時間は満席です。",
    "closed": "この日時の受付は終了しました。",
    "already_booked": "この時間はすでにご予約があります。",
    "already_waiting": "この時間の空き待ちにすでに登録されています。",
    "seats_free": "この時間にはまだ空きがあります。",
    "not_waiting": "この時間の空き待ちには登録されていません。",
    "unknown_booking": "この予約は見つかりません。",
    "not_yours": "この予約はご本人のものではありません。",
    "already_cancelled": "この予約はすでにキャンセルされています。",
    "offer_gone": "空きのご案内の有効期限が切れています。",
    "below_booked": "定員は、すでに予約されている人数より少なくできません。",
    "bad_capacity": "定員は1〜500の数でご入力ください。",
    "bad_slot": "その日時には予約枠がないか、すでに過ぎています。",
    "bad_answer": "質問への回答が範囲外です。",
    "caller_missing": "お名前と電話番号を入力してください。",
    "pickup_by_phone": (
        "粗大ごみ収集は、電話での予約として登録できません。品目・手数料・収集場所は、"
        "ご本人がLINEでお申し込みになり、手数料をお支払いいただいた時点で確定します。"
    ),
    "pickup_moved": "粗大ごみ収集は別の日に移せません。取り消すと手数料は返金されます。",
}
"""Why a command is refused (the reason travels in the dashboard's URL; the dialog words its own)."""


def refused(reason: str) -> DomainError:
    return DomainError(reason, REFUSED[reason])


@dataclass(frozen=True)
class Seat:
    booking_id: uuid.UUID
    user_id: str
    number: str
    active: bool = True
    attended: bool | None = None


@dataclass(frozen=True)
class Waiting:
    user_id: str
    answers: tuple[tuple[str, str], ...] = ()
    """The sealed answers given when joining, which the booking from an offer takes."""


@dataclass(frozen=True)
class Offer:
    offer_id: uuid.UUID
    user_id: str
    until: datetime
    answers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Slot:
    resource: str = ""
    start: datetime | None = None
    seats: tuple[Seat, ...] = ()
    waiting: tuple[Waiting, ...] = ()
    """Residents waiting for a seat, first come first."""
    offers: tuple[Offer, ...] = ()
    capacity: int | None = None
    """A clerk's capacity for this slot; None: the catalogue's."""
    closed: bool = False

    def seat(self, booking_id: uuid.UUID) -> Seat | None:
        return next((s for s in self.seats if s.booking_id == booking_id), None)

    def active(self) -> list[Seat]:
        return [s for s in self.seats if s.active]

    def holds(self, user_id: str) -> Seat | None:
        return next((s for s in self.seats if s.active and s.user_id == user_id), None)

    def is_waiting(self, user_id: str) -> bool:
        return any(w.user_id == user_id for w in self.waiting) or any(
            o.user_id == user_id for o in self.offers
        )

    def offer(self, offer_id: uuid.UUID) -> Offer | None:
        return next((o for o in self.offers if o.offer_id == offer_id), None)

    def seats_of(self, catalogue_capacity: int) -> int:
        return self.capacity if self.capacity is not None else catalogue_capacity

    def free(self, catalogue_capacity: int) -> int:
        """Seats neither booked nor held for an offer."""
        return self.seats_of(catalogue_capacity) - len(self.active()) - len(self.offers)


def decide(command: Command, slot: Slot) -> list[Event]:
    match command:
        case Book():
            return _book(command, slot)
        case Cancel():
            seat = slot.seat(command.booking_id)
            if seat is None:
                raise refused("unknown_booking")
            if command.user_id is not None and command.user_id != seat.user_id:
                raise refused("not_yours")
            if not seat.active:
                raise refused("already_cancelled")
            cancelled = BookingCancelled(
                booking_id=seat.booking_id, user_id=seat.user_id, by=command.by, reason=command.reason
            )
            freed = replace(slot, seats=tuple(s for s in slot.seats if s.booking_id != seat.booking_id))
            offers = _offer_free_seats(
                freed, command.capacity, command.hold_hours, command.now, cause=seat.booking_id
            )
            return [cancelled, *offers]
        case Wait():
            if slot.closed:
                raise refused("closed")
            if slot.holds(command.user_id):
                raise refused("already_booked")
            if slot.is_waiting(command.user_id):
                raise refused("already_waiting")
            if slot.free(command.capacity) > 0:
                raise refused("seats_free")
            return [
                WaitlistJoined(
                    user_id=command.user_id,
                    resource=command.resource,
                    start=command.start,
                    answers=command.answers,
                )
            ]
        case Unwait():
            if not slot.is_waiting(command.user_id):
                raise refused("not_waiting")
            held = [o for o in slot.offers if o.user_id == command.user_id]
            declined: list[Event] = [OfferLapsed(offer_id=o.offer_id, user_id=o.user_id) for o in held]
            left = WaitlistLeft(
                user_id=command.user_id, resource=slot.resource, start=slot.start or command.now
            )
            rest = evolve(slot, left)
            for event in declined:
                rest = evolve(rest, event)
            cause = held[0].offer_id if held else uuid.uuid5(uuid.NAMESPACE_URL, f"left:{command.user_id}")
            passed = _offer_free_seats(rest, command.capacity, command.hold_hours, command.now, cause=cause)
            return [*declined, left, *passed] if held else [left]
        case Lapse():
            offer = slot.offer(command.offer_id)
            if offer is None:
                return []  # taken up or lapsed already
            lapsed = OfferLapsed(offer_id=offer.offer_id, user_id=offer.user_id)
            rest = replace(slot, offers=tuple(o for o in slot.offers if o.offer_id != offer.offer_id))
            return [
                lapsed,
                *_offer_free_seats(
                    rest, command.capacity, command.hold_hours, command.now, cause=offer.offer_id
                ),
            ]
        case Mark():
            seat = slot.seat(command.booking_id)
            if seat is None or not seat.active:
                raise refused("unknown_booking")
            if seat.attended is command.attended:
                return []
            return [AttendanceMarked(booking_id=seat.booking_id, attended=command.attended, by=command.by)]
        case Close():
            if slot.closed:
                return []
            closed = SlotClosed(
                resource=command.resource, start=command.start, by=command.by, reason=command.reason
            )
            dropped: list[Event] = [
                BookingCancelled(
                    booking_id=s.booking_id, user_id=s.user_id, by=command.by, reason=command.reason
                )
                for s in slot.active()
            ]
            withdrawn: list[Event] = [
                OfferLapsed(offer_id=o.offer_id, user_id=o.user_id) for o in slot.offers
            ]
            withdrawn += [
                WaitlistEnded(user_id=user_id, reason=command.reason)
                for user_id in [*(w.user_id for w in slot.waiting), *(o.user_id for o in slot.offers)]
            ]
            return [closed, *dropped, *withdrawn]
        case SetCapacity():
            if not 1 <= command.capacity <= 500:
                raise refused("bad_capacity")
            if command.capacity < len(slot.active()) + len(slot.offers):
                raise refused("below_booked")
            capacity_set = CapacitySet(
                resource=command.resource, start=command.start, capacity=command.capacity, by=command.by
            )
            # Seats a larger capacity frees go to the residents waiting, as a cancellation's do.
            cause = uuid.uuid5(uuid.NAMESPACE_URL, f"capacity:{command.start.isoformat()}:{command.capacity}")
            grown = evolve(slot, capacity_set)
            offers = _offer_free_seats(grown, command.capacity, command.hold_hours, command.now, cause=cause)
            return [capacity_set, *offers]


def _book(command: Book, slot: Slot) -> list[Event]:
    known = slot.seat(command.booking_id)
    if known is not None:
        if known.user_id != command.user_id:
            raise refused("not_yours")
        return []  # a double tap or a replay: the booking stands, once
    if slot.closed:
        raise refused("closed")
    if slot.holds(command.user_id):
        raise refused("already_booked")
    if command.offer_id is not None:
        offer = slot.offer(command.offer_id)
        if offer is None or offer.user_id != command.user_id or offer.until <= command.now:
            raise refused("offer_gone")
    elif slot.free(command.capacity) <= 0:
        raise refused("full")
    return [
        BookingMade(
            booking_id=command.booking_id,
            number=booking_number(command.booking_id),
            user_id=command.user_id,
            resource=command.resource,
            start=command.start,
            answers=command.answers,
            by=command.by,
            offer_id=command.offer_id,
        )
    ]


def _offer_free_seats(
    slot: Slot, capacity: int, hold_hours: int, now: datetime, *, cause: uuid.UUID
) -> list[Event]:
    """Offers of the seats now free to the first residents waiting (never to one holding an offer)."""
    offered: list[Event] = []
    free = slot.free(capacity)
    for waiting in slot.waiting:
        if free <= 0 or slot.closed:
            break
        offered.append(
            SeatOffered(
                offer_id=uuid.uuid5(cause, waiting.user_id),
                user_id=waiting.user_id,
                resource=slot.resource,
                start=slot.start or now,
                until=now + timedelta(hours=hold_hours),
            )
        )
        free -= 1
    return offered


def evolve(slot: Slot, event: Event) -> Slot:
    match event:
        case BookingMade():
            seat = Seat(event.booking_id, event.user_id, event.number)
            return replace(
                slot,
                resource=event.resource,
                start=event.start,
                seats=(*slot.seats, seat),
                waiting=tuple(w for w in slot.waiting if w.user_id != event.user_id),
                offers=tuple(o for o in slot.offers if o.offer_id != event.offer_id),
            )
        case BookingCancelled():
            return replace(
                slot,
                seats=tuple(
                    replace(s, active=False) if s.booking_id == event.booking_id else s for s in slot.seats
                ),
            )
        case WaitlistJoined():
            waiting = Waiting(event.user_id, tuple(sorted(event.answers.items())))
            return replace(slot, resource=event.resource, start=event.start, waiting=(*slot.waiting, waiting))
        case SeatOffered():
            answers = next((w.answers for w in slot.waiting if w.user_id == event.user_id), ())
            offer = Offer(event.offer_id, event.user_id, event.until, answers)
            rest = tuple(w for w in slot.waiting if w.user_id != event.user_id)
            return replace(slot, waiting=rest, offers=(*slot.offers, offer))
        case OfferLapsed():
            return replace(slot, offers=tuple(o for o in slot.offers if o.offer_id != event.offer_id))
        case WaitlistLeft():
            return replace(slot, waiting=tuple(w for w in slot.waiting if w.user_id != event.user_id))
        case AttendanceMarked():
            return replace(
                slot,
                seats=tuple(
                    replace(s, attended=event.attended) if s.booking_id == event.booking_id else s
                    for s in slot.seats
                ),
            )
        case SlotClosed():
            return replace(slot, resource=event.resource, start=event.start, closed=True, waiting=())
        case CapacitySet():
            return replace(slot, resource=event.resource, start=event.start, capacity=event.capacity)
    return slot


slot_decider: Decider[Command, Slot] = Decider(Slot(), decide, evolve)
