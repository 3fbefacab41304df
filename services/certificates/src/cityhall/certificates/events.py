"""The certificates service's commands and events.

One stream per request, `certificateRequest-<uuid>`, on `events.certificates`. The
requester's name, date of birth, address and phone enter events only encrypted with the
resident's key (`cityhall.events.personal`); the identity-document photo never enters an
event at all: events carry its id, the photo stays in the service's encrypted photo table.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cityhall.events.envelope import Event, registry

SOURCE = "/services/certificates"
CATEGORY = "certificateRequest"

PersonalField = Literal["name", "birth_date", "address", "phone"]
PERSONAL_FIELDS: tuple[PersonalField, ...] = ("name", "birth_date", "address", "phone")
"""What every request asks of the resident."""
ExtraField = Literal["seal_number"]
EXTRA_FIELDS: tuple[ExtraField, ...] = ("seal_number",)
"""Personal fields only some certificates ask for (the catalogue's `asks`): the 印鑑登録証 number."""
MIN_COPIES, MAX_COPIES = 1, 10


def request_stream(request_id: uuid.UUID) -> str:
    return f"{CATEGORY}-{request_id}"


def request_number(request_id: uuid.UUID) -> str:
    """The number a resident and a clerk quote: short, unambiguous, derived from the id."""
    return "C-" + request_id.hex[:8].upper()


# --- commands ------------------------------------------------------------------------------


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Start(_Command):
    request_id: uuid.UUID
    user_id: str
    certificate_code: str
    certificate_name: str
    fee: int = Field(ge=0)
    postage: int = Field(ge=0)
    option_keys: tuple[str, ...]
    extra_fields: tuple[ExtraField, ...] = ()
    at: datetime


class ChooseOption(_Command):
    key: str
    value: str
    label: str
    at: datetime


class ChooseCopies(_Command):
    copies: int
    at: datetime


class ChoosePurpose(_Command):
    code: str
    label: str
    at: datetime


class GiveDetail(_Command):
    field: str
    value: str
    """Encrypted with `PersonalData.encrypt`: a plain value is refused."""
    at: datetime


class ChooseIdDocument(_Command):
    code: str
    label: str
    at: datetime


class AttachPhoto(_Command):
    photo_id: uuid.UUID
    content_type: str
    size: int
    at: datetime


class Submit(_Command):
    """確定: the request is final and a checkout was opened for its total."""

    amount: int
    checkout_id: str
    checkout_url: str
    at: datetime
    expires_at: datetime


class RetryPayment(_Command):
    """A new checkout after a failed or cancelled payment (the deadline stays)."""

    checkout_id: str
    checkout_url: str
    at: datetime


class ConfirmPayment(_Command):
    payment_id: str
    checkout_id: str
    amount: int
    at: datetime


class FailPayment(_Command):
    checkout_id: str
    reason: str
    at: datetime


class ExpirePayment(_Command):
    at: datetime


class ExpireDraft(_Command):
    at: datetime
    idle: timedelta
    """How long a draft may sit without an answer."""


class Cancel(_Command):
    """The resident withdraws the request (中止 while drafting, or cancel before issue)."""

    at: datetime


class Approve(_Command):
    by: str
    at: datetime


class Reject(_Command):
    by: str
    reason_code: str
    reason_label: str
    note: str = ""
    at: datetime


class CompleteRefund(_Command):
    payment_id: str
    refund_id: str
    amount: int
    at: datetime


class Issue(_Command):
    serial: str
    by: str
    at: datetime


class Mail(_Command):
    tracking_number: str
    by: str
    at: datetime


class PurgePhoto(_Command):
    photo_id: uuid.UUID
    reason: str
    at: datetime


Command = (
    Start
    | ChooseOption
    | ChooseCopies
    | ChoosePurpose
    | GiveDetail
    | ChooseIdDocument
    | AttachPhoto
    | Submit
    | RetryPayment
    | ConfirmPayment
    | FailPayment
    | ExpirePayment
    | ExpireDraft
    | Cancel
    | Approve
    | Reject
    | CompleteRefund
    | Issue
    | Mail
    | PurgePhoto
)


# --- events: drafting ----------------------------------------------------------------------


@registry.register
class RequestStarted(Event):
    TYPE = "cityhall.certificates.request_started.v1"
    request_id: uuid.UUID
    number: str
    user_id: str
    certificate_code: str
    certificate_name: str
    fee: int
    """Yen per copy, as the catalogue said when the request started."""
    postage: int
    option_keys: tuple[str, ...]
    at: datetime
    extra_fields: tuple[ExtraField, ...] = ()
    """Personal fields this certificate asks for besides `PERSONAL_FIELDS`."""


@registry.register
class OptionChosen(Event):
    TYPE = "cityhall.certificates.option_chosen.v1"
    key: str
    value: str
    label: str
    at: datetime


@registry.register
class CopiesChosen(Event):
    TYPE = "cityhall.certificates.copies_chosen.v1"
    copies: int
    at: datetime


@registry.register
class PurposeChosen(Event):
    TYPE = "cityhall.certificates.purpose_chosen.v1"
    code: str
    label: str
    at: datetime


@registry.register
class RequesterDetailGiven(Event):
    TYPE = "cityhall.certificates.requester_detail_given.v1"
    field: PersonalField | ExtraField
    value: str
    """Encrypted with the resident's key (`pd1:…`)."""
    at: datetime


@registry.register
class IdDocumentChosen(Event):
    TYPE = "cityhall.certificates.id_document_chosen.v1"
    code: str
    label: str
    at: datetime


@registry.register
class IdPhotoAttached(Event):
    TYPE = "cityhall.certificates.id_photo_attached.v1"
    photo_id: uuid.UUID
    """The photo itself stays in the service's encrypted photo table."""
    content_type: str
    size: int
    at: datetime


# --- events: submission and payment --------------------------------------------------------


@registry.register
class RequestSubmitted(Event):
    TYPE = "cityhall.certificates.request_submitted.v1"
    amount: int
    at: datetime


@registry.register
class PaymentRequested(Event):
    TYPE = "cityhall.certificates.payment_requested.v1"
    checkout_id: str
    checkout_url: str
    amount: int
    expires_at: datetime
    at: datetime


@registry.register
class PaymentConfirmed(Event):
    TYPE = "cityhall.certificates.payment_confirmed.v1"
    payment_id: str
    checkout_id: str
    amount: int
    at: datetime


@registry.register
class PaymentFailed(Event):
    TYPE = "cityhall.certificates.payment_failed.v1"
    checkout_id: str
    reason: str
    at: datetime


@registry.register
class PaymentExpired(Event):
    TYPE = "cityhall.certificates.payment_expired.v1"
    at: datetime


@registry.register
class DraftExpired(Event):
    TYPE = "cityhall.certificates.draft_expired.v1"
    at: datetime


@registry.register
class RequestCancelled(Event):
    TYPE = "cityhall.certificates.request_cancelled.v1"
    stage: Literal["draft", "submitted"]
    at: datetime


@registry.register
class RefundRequested(Event):
    TYPE = "cityhall.certificates.refund_requested.v1"
    payment_id: str
    amount: int
    reason: Literal["rejected", "cancelled", "late_payment", "duplicate_payment"]
    at: datetime


@registry.register
class RefundCompleted(Event):
    TYPE = "cityhall.certificates.refund_completed.v1"
    payment_id: str
    refund_id: str
    amount: int
    at: datetime


# --- events: the department's work ---------------------------------------------------------


@registry.register
class IdentityApproved(Event):
    TYPE = "cityhall.certificates.identity_approved.v1"
    by: str
    at: datetime


@registry.register
class IdentityRejected(Event):
    TYPE = "cityhall.certificates.identity_rejected.v1"
    by: str
    reason_code: str
    reason_label: str
    note: str = ""
    at: datetime


@registry.register
class CertificateIssued(Event):
    TYPE = "cityhall.certificates.certificate_issued.v1"
    serial: str
    by: str
    at: datetime


@registry.register
class CertificateMailed(Event):
    TYPE = "cityhall.certificates.certificate_mailed.v1"
    tracking_number: str
    by: str
    at: datetime


@registry.register
class IdPhotoPurged(Event):
    TYPE = "cityhall.certificates.id_photo_purged.v1"
    photo_id: uuid.UUID
    reason: str
    at: datetime
