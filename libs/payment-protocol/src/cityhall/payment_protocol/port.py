"""The payment provider port, the merchant's side: open a checkout, verify the provider's signed
confirmation, refund. Every service that takes a fee (certificates, reservations' bulky waste)
pays through it; `connect` builds the one a service uses from its settings.

LINE Pay has closed in Japan, so the fee goes through a payment provider behind this port.
`HttpPaymentProvider` speaks the small HTTP protocol below; the simulated provider that the
embedded run serves at `/pay` (the `cityhall-payment-simulator` package) implements its other
side, and a real provider's adapter would implement `PaymentProvider` the same way. What both
sides share (the secret, the notice's signature) is `cityhall.payment_protocol`.

- `POST {base}/api/checkouts` `{reference, amount, currency, return_url, callback_url}` with
  `Authorization: Bearer <secret>` and an `Idempotency-Key`: `{checkout_id, url}`.
- The provider POSTs a JSON notice to `callback_url` with `X-Payment-Signature`: the hex
  HMAC-SHA256 of the raw body under the shared secret. A notice whose signature does not match
  is forged (the service answers 400); a replayed one is recognised by its payment id.
- `POST {base}/api/refunds` `{payment_id, amount}`, idempotent per payment: `{refund_id}`.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from cityhall.payment_protocol import shared_secret, signature_matches
from cityhall.payment_protocol.env import MerchantEnv
from cityhall.runtime.service import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Checkout:
    url: str
    checkout_id: str


@dataclass(frozen=True)
class Refund:
    refund_id: str
    payment_id: str
    amount: int


class PaymentNotice(BaseModel):
    """What the provider tells us about a checkout (the verified callback body)."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    notice_id: str
    kind: Literal["paid", "failed", "cancelled"]
    checkout_id: str
    reference: uuid.UUID
    """The request id the checkout was opened for."""
    amount: int
    payment_id: str | None = None
    at: datetime


class ForgedCallback(ValueError):
    """The callback's signature is missing or wrong, or its body is not a notice."""


class ProviderError(Exception):
    """The provider could not do what was asked (unreachable, refused, or answered nonsense)."""


class PaymentProvider(Protocol):
    async def create_checkout(
        self, request_id: uuid.UUID, amount: int, return_url: str, *, attempt: int = 1
    ) -> Checkout:
        """A checkout for `amount` yen; the same `(request_id, attempt)` gives the same checkout."""

    def verify_callback(self, body: bytes, signature: str | None) -> PaymentNotice:
        """The notice in a callback, or `ForgedCallback`."""

    async def refund(self, payment_id: str, amount: int) -> Refund:
        """Give `amount` yen of a payment back; repeating it refunds once."""


def verify(secret: str, body: bytes, signature: str | None) -> PaymentNotice:
    """Check the HMAC over the raw body, then parse it; `ForgedCallback` when either fails."""
    if not signature_matches(secret, body, signature):
        raise ForgedCallback("the payment notice's signature does not match")
    try:
        return PaymentNotice.model_validate(json.loads(body))
    except (ValueError, ValidationError) as exc:
        raise ForgedCallback(f"the payment notice is not valid: {exc}") from exc


class HttpPaymentProvider:
    """The provider port over HTTP (the simulated provider, or any provider speaking its protocol)."""

    def __init__(self, base_url: str, secret: str, callback_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        self.callback_url = callback_url
        self._http = httpx.AsyncClient(
            timeout=timeout, headers={"authorization": f"Bearer {secret}"}, follow_redirects=False
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def _post(self, path: str, payload: dict[str, object], key: str) -> dict[str, object]:
        try:
            response = await self._http.post(
                f"{self.base_url}{path}", json=payload, headers={"idempotency-key": key}
            )
        except httpx.HTTPError as exc:
            raise ProviderError(f"payment provider unreachable: {exc!r}") from exc
        if response.status_code >= 300:
            raise ProviderError(f"payment provider answered {response.status_code}: {response.text[:300]}")
        try:
            body = response.json()
        except ValueError as exc:
            raise ProviderError("payment provider answered with something that is not JSON") from exc
        if not isinstance(body, dict):
            raise ProviderError("payment provider answered with something that is not an object")
        return body

    async def create_checkout(
        self, request_id: uuid.UUID, amount: int, return_url: str, *, attempt: int = 1
    ) -> Checkout:
        body = await self._post(
            "/api/checkouts",
            {
                "reference": str(request_id),
                "amount": amount,
                "currency": "JPY",
                "return_url": return_url,
                "callback_url": self.callback_url,
            },
            key=f"checkout:{request_id}:{attempt}",
        )
        url, checkout_id = body.get("url"), body.get("checkout_id")
        if not isinstance(url, str) or not isinstance(checkout_id, str):
            raise ProviderError(f"payment provider's checkout lacks url or checkout_id: {body}")
        return Checkout(url=url, checkout_id=checkout_id)

    def verify_callback(self, body: bytes, signature: str | None) -> PaymentNotice:
        return verify(self.secret, body, signature)

    async def refund(self, payment_id: str, amount: int) -> Refund:
        body = await self._post(
            "/api/refunds", {"payment_id": payment_id, "amount": amount}, key=f"refund:{payment_id}"
        )
        refund_id = body.get("refund_id")
        if not isinstance(refund_id, str):
            raise ProviderError(f"payment provider's refund lacks refund_id: {body}")
        return Refund(refund_id=refund_id, payment_id=payment_id, amount=amount)


def connect(
    service: str, env: MerchantEnv, settings: Settings, *, callback_url: str, embedded: bool
) -> HttpPaymentProvider:
    """The provider `service` pays through: `CITYHALL_PAYMENTS_URL`, or in the development profile
    the simulated provider at `<public URL>/pay`. The simulated provider runs only in development,
    so production must name a real one; the embedded development run generates the secret."""
    development = settings.profile == "development"
    if env.payments_url is None and not development:
        raise SystemExit(
            f"{service} needs a payment provider in the production profile: set "
            "CITYHALL_PAYMENTS_URL (the simulated provider at /pay runs only with "
            "CITYHALL_PROFILE=development)"
        )
    key = shared_secret(env.payments_secret, settings.data_dir, generate=embedded and development)
    return HttpPaymentProvider(env.payments_url or f"{settings.public_url}/pay", key, callback_url)


@dataclass(frozen=True)
class CallbackResult:
    """What a merchant answers the provider's notice with."""

    status: int
    message: str


def received(provider: PaymentProvider, body: bytes, signature: str | None) -> PaymentNotice | CallbackResult:
    """The verified notice of a callback, or the answer to one that is not (400: forged, or a
    paid notice without its payment id); nothing is changed for those."""
    try:
        notice = provider.verify_callback(body, signature)
    except ForgedCallback as exc:
        log.warning("payment callback refused: %s", exc)
        return CallbackResult(400, "invalid signature or body")
    if notice.kind == "paid" and not notice.payment_id:
        return CallbackResult(400, "a paid notice needs a payment_id")
    return notice
