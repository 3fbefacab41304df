"""The environment every merchant service reads to reach the payment provider (each adds where the
provider sends its notices, which is its own)."""

from __future__ import annotations

from pydantic import Field

from cityhall.payment_protocol import SECRET_ENV
from cityhall.runtime.env import EnvSettings


class MerchantEnv(EnvSettings):
    payments_url: str | None = Field(None, alias="CITYHALL_PAYMENTS_URL")
    """The provider's API; unset: the simulated provider at `<public URL>/pay` (development only)."""
    payments_secret: str | None = Field(None, alias=SECRET_ENV)
    return_url: str = Field("https://line.me/R/", alias="CITYHALL_PAYMENTS_RETURN_URL")
    """Where the checkout page sends the resident back to."""
