"""The certificates service's own environment variables (documented in app.py and README.md)."""

from __future__ import annotations

from pydantic import Field

from cityhall.payment_protocol.env import MerchantEnv

CATALOGUE_ENV = "CITYHALL_CERTIFICATES_CATALOGUE"


class CertificatesEnv(MerchantEnv):
    """Besides the provider's (`MerchantEnv`): the catalogue, the timers, where notices come."""

    catalogue: str | None = Field(None, alias=CATALOGUE_ENV)
    """The catalogue file; unset: the packaged catalogue.yaml."""
    payment_timeout_minutes: float = Field(30, alias="CITYHALL_PAYMENT_TIMEOUT_MINUTES", gt=0)
    draft_idle_minutes: float = Field(30, alias="CITYHALL_DRAFT_IDLE_MINUTES", gt=0)
    photo_retention_days: float = Field(30, alias="CITYHALL_ID_PHOTO_RETENTION_DAYS", gt=0)
    sweep_seconds: float = Field(5, alias="CITYHALL_CERTIFICATES_SWEEP_SECONDS", gt=0)
    callback_url: str | None = Field(None, alias="CITYHALL_PAYMENTS_CALLBACK_URL")
