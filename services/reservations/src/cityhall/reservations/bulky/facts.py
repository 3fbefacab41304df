"""What the handler fetches for a bulky-waste turn (read by the booking dialog's `View`)."""

from __future__ import annotations

from dataclasses import dataclass

from cityhall.payment_protocol.port import Checkout, ProviderError
from cityhall.reservations.bulky.domain import Pickup
from cityhall.reservations.bulky.prices import PriceList


@dataclass(frozen=True)
class Facts:
    """What the handler fetched for a bulky turn."""

    prices: PriceList
    checkout: Checkout | ProviderError | None = None
    """The checkout `prepare` opened for 確定して支払う (before the transaction)."""
    pickup: Pickup | None = None
    """The pickup a 確定して支払う names (a double tap, a replay)."""
