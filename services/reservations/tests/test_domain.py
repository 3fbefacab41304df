"""The slot's decider: seats, idempotent bookings, cancellations, the waitlist's offers."""

import contextlib
import uuid
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityhall.events.decider import DomainError
from cityhall.events.envelope import Event
from cityhall.line.japanese import JST
from cityhall.reservations.domain import Slot, slot_decider
from cityhall.reservations.events import (
    Book,
    BookingCancelled,
    BookingMade,
    Cancel,
    Close,
    Command,
    Lapse,
    Mark,
    OfferLapsed,
    SeatOffered,
    SetCapacity,
    SlotClosed,
    Wait,
)

START = datetime(2026, 12, 9, 13, 0, tzinfo=JST)
NOW = datetime(2026, 12, 7, 10, 0, tzinfo=JST)
HOLD = 2


def book(user: str, capacity: int = 2, booking_id: uuid.UUID | None = None, **extra: object) -> Book:
    return Book(
        booking_id=booking_id or uuid.uuid4(), user_id=user, resource="kenshin", start=START,
        capacity=capacity, answers={"child_age": "pd1:x"}, now=NOW, **extra,  # type: ignore[arg-type]
    )  # fmt: skip


def cancel(booking_id: uuid.UUID, user: str | None, capacity: int = 2, now: datetime = NOW) -> Cancel:
    return Cancel(booking_id=booking_id, user_id=user, capacity=capacity, hold_hours=HOLD, now=now)


class Run:
    """A slot's history, built by deciding commands one after another."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    @property
    def slot(self) -> Slot:
        return slot_decider.fold(self.events)

    def __call__(self, command: Command) -> list[Event]:
        new = list(slot_decider.decide(command, self.slot))
        self.events.extend(new)
        return new


def test_seats_are_given_up_to_the_capacity_then_the_slot_is_full() -> None:
    run = Run()
    [made] = run(book("U1"))
    assert (
        isinstance(made, BookingMade)
        and made.number.startswith("R-")
        and made.answers == {"child_age": "pd1:x"}
    )
    run(book("U2"))
    with pytest.raises(DomainError) as full:
        run(book("U3"))
    assert full.value.reason == "full"
    assert len(run.slot.active()) == 2


def test_the_same_booking_twice_is_one_booking_and_a_resident_holds_one_seat() -> None:
    run, booking_id = Run(), uuid.uuid4()
    run(book("U1", booking_id=booking_id))
    assert run(book("U1", booking_id=booking_id)) == []  # double tap, replay
    with pytest.raises(DomainError, match="すでにご予約"):
        run(book("U1"))
    with pytest.raises(DomainError) as forged:
        run(book("U2", booking_id=booking_id))
    assert forged.value.reason == "not_yours"


def test_only_the_resident_or_a_clerk_cancels_and_only_once() -> None:
    run, booking_id = Run(), uuid.uuid4()
    run(book("U1", booking_id=booking_id))
    with pytest.raises(DomainError, match="ご本人のもの"):
        run(cancel(booking_id, "U2"))
    [cancelled] = run(cancel(booking_id, "U1"))
    assert isinstance(cancelled, BookingCancelled) and cancelled.by == ""
    with pytest.raises(DomainError) as again:
        run(cancel(booking_id, None))
    assert again.value.reason == "already_cancelled"
    with pytest.raises(DomainError, match="見つかりません"):
        run(cancel(uuid.uuid4(), "U1"))


def test_a_cancellation_offers_the_seat_to_the_first_waiting_and_a_lapse_passes_it_on() -> None:
    run, first = Run(), uuid.uuid4()
    run(book("U1", capacity=1, booking_id=first))
    with pytest.raises(DomainError, match="まだ空き"):
        Run()(Wait(user_id="U2", resource="kenshin", start=START, capacity=1))
    run(Wait(user_id="U2", resource="kenshin", start=START, capacity=1))
    run(Wait(user_id="U3", resource="kenshin", start=START, capacity=1))
    with pytest.raises(DomainError) as twice:
        run(Wait(user_id="U3", resource="kenshin", start=START, capacity=1))
    assert twice.value.reason == "already_waiting"
    _, offered = run(cancel(first, "U1", capacity=1))
    assert isinstance(offered, SeatOffered) and offered.user_id == "U2"
    assert offered.until == NOW + timedelta(hours=HOLD)
    # The held seat is nobody else's, and nobody is booked without confirming.
    assert run.slot.active() == []
    with pytest.raises(DomainError, match="満席"):
        run(book("U9", capacity=1))
    lapsed, passed = run(Lapse(offer_id=offered.offer_id, capacity=1, hold_hours=HOLD, now=offered.until))
    assert isinstance(lapsed, OfferLapsed) and isinstance(passed, SeatOffered) and passed.user_id == "U3"
    with pytest.raises(DomainError, match="有効期限"):
        run(book("U2", capacity=1, offer_id=offered.offer_id))
    late = book("U3", capacity=1, offer_id=passed.offer_id).model_copy(update={"now": passed.until})
    with pytest.raises(DomainError, match="有効期限"):
        run(late)
    [taken] = run(book("U3", capacity=1, offer_id=passed.offer_id))
    assert isinstance(taken, BookingMade) and run.slot.offers == () and run.slot.waiting == ()
    assert run(Lapse(offer_id=passed.offer_id, capacity=1, hold_hours=HOLD, now=NOW)) == []


def test_closing_a_slot_cancels_every_booking_and_refuses_new_ones() -> None:
    run = Run()
    run(book("U1"))
    run(book("U2"))
    closed, *cancelled = run(Close(resource="kenshin", start=START, by="kenko-clerk", reason="台風のため"))
    assert isinstance(closed, SlotClosed)
    assert {c.user_id for c in cancelled if isinstance(c, BookingCancelled)} == {"U1", "U2"}
    with pytest.raises(DomainError, match="受付は終了"):
        run(book("U3"))
    assert run(Close(resource="kenshin", start=START, by="kenko-clerk", reason="")) == []


def test_capacity_is_never_set_below_the_seats_booked_and_attendance_is_marked_once() -> None:
    run, booking_id = Run(), uuid.uuid4()
    run(book("U1", booking_id=booking_id))
    run(book("U2"))
    with pytest.raises(DomainError, match="少なくできません"):
        run(SetCapacity(resource="kenshin", start=START, capacity=1, by="kenko-clerk"))
    run(SetCapacity(resource="kenshin", start=START, capacity=3, by="kenko-clerk"))
    run(book("U3"))
    assert run.slot.free(2) == 0
    assert len(run(Mark(booking_id=booking_id, attended=True, by="kenko-clerk"))) == 1
    assert run(Mark(booking_id=booking_id, attended=True, by="kenko-clerk")) == []


USERS = st.sampled_from([f"U{i}" for i in range(8)])
ACTS = st.lists(
    st.one_of(
        st.tuples(st.just("book"), USERS),
        st.tuples(st.just("cancel"), USERS),
        st.tuples(st.just("wait"), USERS),
        st.tuples(st.just("lapse"), USERS),
        st.tuples(st.just("accept"), USERS),
        st.tuples(st.just("capacity"), st.integers(0, 6)),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(capacity=st.integers(1, 4), acts=ACTS)
def test_no_interleaving_of_commands_gives_more_seats_than_the_capacity(
    capacity: int, acts: list[tuple[str, object]]
) -> None:
    run = Run()
    for act, arg in acts:
        slot = run.slot
        command: Command
        if act == "book":
            command = book(str(arg), capacity=capacity)
        elif act == "cancel":
            held = slot.holds(str(arg))
            command = cancel(held.booking_id if held else uuid.uuid4(), str(arg), capacity=capacity)
        elif act == "wait":
            command = Wait(user_id=str(arg), resource="kenshin", start=START, capacity=capacity)
        elif act in ("lapse", "accept"):
            offer = next((o for o in slot.offers if o.user_id == arg), None)
            if offer is None:
                continue
            command = (
                Lapse(offer_id=offer.offer_id, capacity=capacity, hold_hours=HOLD, now=NOW)
                if act == "lapse"
                else book(str(arg), capacity=capacity, offer_id=offer.offer_id)
            )
        else:
            command = SetCapacity(resource="kenshin", start=START, capacity=int(str(arg)), by="clerk")
        with contextlib.suppress(DomainError):
            run(command)
        after = run.slot
        seats = after.seats_of(capacity)
        assert len(after.active()) + len(after.offers) <= seats
        holders = [s.user_id for s in after.active()]
        assert len(holders) == len(set(holders))  # nobody holds two seats of a slot
        booked_ids = [s.booking_id for s in after.seats]
        assert len(booked_ids) == len(set(booked_ids))  # no seat given twice
