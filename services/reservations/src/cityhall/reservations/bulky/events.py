"""A bulky-waste pickup's commands and events: one stream per pickup (`bulky-<booking id>`, on
`events.reservations` beside the slot it holds a seat of). The booking id is the slot booking's,
so the pickup, its seat and its checkout are named by one id.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from cityhall.events import decider
from cityhall.reservations.events import ReservationsEvent


def pickup_stream(booking_id: uuid.UUID) -> str:
    return f"bulky-{booking_id.hex}"


class Line(BaseModel):
    """One item of the price list in a pickup, with how many and the fee of each."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    code: str
    name: str
    fee: int
    count: int

    @property
    def total(self) -> int:
        return self.fee * self.count


RefundReason = Literal["cancelled", "late", "duplicate", "amount"]
"""Why money is given back: the pickup was cancelled after payment; paid after the hold ran out
(the seat was released); paid twice; paid an amount that is not the fee."""


class Order(decider.Command):
    booking_id: uuid.UUID
    user_id: str
    resource: str
    start: datetime
    lines: list[Line]
    checkout_id: str
    checkout_url: str
    until: datetime
    """Paid by then, or the seat is released."""


class Pay(decider.Command):
    """The provider's verified notice that a checkout was paid."""

    payment_id: str
    checkout_id: str
    amount: int


ExpiryReason = Literal["timeout", "failed", "cancelled"]
"""Why an unpaid pickup ends: its hold ran out, or the provider says its checkout failed or the
resident gave up on it (that checkout can no longer be paid)."""


class Expire(decider.Command):
    now: datetime
    reason: ExpiryReason = "timeout"
    checkout_id: str = ""
    """For a failed or abandoned checkout: the one the notice is about (an older one ends nothing)."""


class Withdraw(decider.Command):
    """The pickup's seat was cancelled (by the resident, a clerk, or a closed day)."""

    by: str


class CompleteRefund(decider.Command):
    payment_id: str
    refund_id: str


PickupCommand = Order | Pay | Expire | Withdraw | CompleteRefund
PICKUP_COMMANDS = (Order, Pay, Expire, Withdraw, CompleteRefund)


class PickupOrdered(ReservationsEvent):
    booking_id: uuid.UUID
    number: str
    user_id: str
    resource: str
    start: datetime
    lines: list[Line]
    fee: int
    checkout_id: str
    checkout_url: str
    until: datetime


class PickupPaid(ReservationsEvent):
    booking_id: uuid.UUID
    user_id: str
    payment_id: str
    amount: int


class PickupExpired(ReservationsEvent):
    """Not paid (in time, or at all): the seat is released with it."""

    booking_id: uuid.UUID
    user_id: str
    reason: ExpiryReason = "timeout"


class PickupWithdrawn(ReservationsEvent):
    booking_id: uuid.UUID
    user_id: str
    by: str
    paid: bool


class RefundDue(ReservationsEvent):
    booking_id: uuid.UUID
    user_id: str
    payment_id: str
    amount: int
    reason: RefundReason


class PickupRefunded(ReservationsEvent):
    booking_id: uuid.UUID
    user_id: str
    payment_id: str
    refund_id: str
    amount: int
