"""A pickup's decider, pure: `decide(command, pickup) -> events`, `evolve(pickup, event)`.

Ordered with its checkout (the seat is booked on the slot in the same transaction), then paid
once: a replayed notice (the same payment id) changes nothing; money that comes when the pickup
is no longer waiting for it (after the hold ran out, a second payment, the wrong amount) is
recorded and given back. Unpaid at the hold's end, it expires (the handler releases the seat
with it); withdrawn when its seat is cancelled, refunded if it was paid.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from cityhall.events.decider import Decider
from cityhall.events.envelope import Event
from cityhall.reservations.bulky.events import (
    CompleteRefund,
    Expire,
    Order,
    Pay,
    PickupCommand,
    PickupExpired,
    PickupOrdered,
    PickupPaid,
    PickupRefunded,
    PickupWithdrawn,
    RefundDue,
    Withdraw,
)
from cityhall.reservations.bulky.prices import fee
from cityhall.reservations.events import booking_number

Status = Literal["new", "unpaid", "paid", "expired", "withdrawn"]


@dataclass(frozen=True)
class Pickup:
    status: Status = "new"
    booking_id: uuid.UUID | None = None
    user_id: str = ""
    resource: str = ""
    start: datetime | None = None
    fee: int = 0
    checkout_id: str = ""
    checkout_url: str = ""
    until: datetime | None = None
    paid_by: str = ""
    """The payment id that paid the fee."""
    payments: tuple[str, ...] = ()
    """Every payment id seen (a replayed notice is one of them)."""
    refunds: tuple[tuple[str, int], ...] = ()
    """Payments to give back (payment id, amount), until refunded."""
    refunded: tuple[str, ...] = ()


def decide(command: PickupCommand, pickup: Pickup) -> list[Event]:
    match command:
        case Order():
            if pickup.status != "new":
                return []  # a double tap or a replay: ordered once
            total = fee(command.lines)
            return [
                PickupOrdered(
                    booking_id=command.booking_id, number=booking_number(command.booking_id),
                    user_id=command.user_id, resource=command.resource, start=command.start,
                    lines=command.lines, fee=total, checkout_id=command.checkout_id,
                    checkout_url=command.checkout_url, until=command.until,
                )
            ]  # fmt: skip
        case Pay():
            if pickup.status == "new" or pickup.booking_id is None or command.payment_id in pickup.payments:
                return []
            expected = command.amount == pickup.fee and command.checkout_id == pickup.checkout_id
            if pickup.status == "unpaid" and expected:
                return [
                    PickupPaid(
                        booking_id=pickup.booking_id, user_id=pickup.user_id,
                        payment_id=command.payment_id, amount=command.amount,
                    )
                ]  # fmt: skip
            reason = (
                "amount" if pickup.status == "unpaid" else "duplicate" if pickup.status == "paid" else "late"
            )
            return [
                RefundDue(
                    booking_id=pickup.booking_id, user_id=pickup.user_id, payment_id=command.payment_id,
                    amount=command.amount, reason=reason,
                )
            ]  # fmt: skip
        case Expire():
            if pickup.status != "unpaid" or pickup.booking_id is None or pickup.until is None:
                return []
            if command.reason == "timeout" and command.now < pickup.until:
                return []
            if command.reason != "timeout" and command.checkout_id != pickup.checkout_id:
                return []
            return [
                PickupExpired(booking_id=pickup.booking_id, user_id=pickup.user_id, reason=command.reason)
            ]
        case Withdraw():
            if pickup.status not in ("unpaid", "paid") or pickup.booking_id is None:
                return []
            paid = pickup.status == "paid"
            withdrawn: list[Event] = [
                PickupWithdrawn(
                    booking_id=pickup.booking_id, user_id=pickup.user_id, by=command.by, paid=paid
                )
            ]
            if paid:
                withdrawn.append(
                    RefundDue(
                        booking_id=pickup.booking_id, user_id=pickup.user_id, payment_id=pickup.paid_by,
                        amount=pickup.fee, reason="cancelled",
                    )
                )  # fmt: skip
            return withdrawn
        case CompleteRefund():
            due = dict(pickup.refunds)
            if pickup.booking_id is None or command.payment_id not in due:
                return []
            if command.payment_id in pickup.refunded:
                return []
            return [
                PickupRefunded(
                    booking_id=pickup.booking_id, user_id=pickup.user_id, payment_id=command.payment_id,
                    refund_id=command.refund_id, amount=due[command.payment_id],
                )
            ]  # fmt: skip


def evolve(pickup: Pickup, event: Event) -> Pickup:
    match event:
        case PickupOrdered():
            return replace(
                pickup, status="unpaid", booking_id=event.booking_id, user_id=event.user_id,
                resource=event.resource, start=event.start, fee=event.fee, checkout_id=event.checkout_id,
                checkout_url=event.checkout_url, until=event.until,
            )  # fmt: skip
        case PickupPaid():
            return replace(
                pickup, status="paid", paid_by=event.payment_id, payments=(*pickup.payments, event.payment_id)
            )
        case RefundDue():
            payments = (
                pickup.payments
                if event.payment_id in pickup.payments
                else (*pickup.payments, event.payment_id)
            )
            return replace(
                pickup, payments=payments, refunds=(*pickup.refunds, (event.payment_id, event.amount))
            )
        case PickupExpired():
            return replace(pickup, status="expired")
        case PickupWithdrawn():
            return replace(pickup, status="withdrawn")
        case PickupRefunded():
            return replace(pickup, refunded=(*pickup.refunded, event.payment_id))
    return pickup


pickup_decider: Decider[PickupCommand, Pickup] = Decider(Pickup(), decide, evolve)
