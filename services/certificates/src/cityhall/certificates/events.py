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

from pydantic import Field

from cityhall.events import decider
from cityhall.events.envelope import Event
from cityhall.events.store import Streams

SOURCE = "/services/certificates"
CATEGORY = "certificateRequest"

PersonalField = Literal["name", "birth_date", "address", "phone"]
PERSONAL_FIELDS: tuple[PersonalField, ...] = ("name", "birth_date", "address", "phone")
"""What every request asks of the resident."""
ExtraField = Literal["seal_number"]
EXTRA_FIELDS: tuple[ExtraField, ...] = ("seal_number",)
"""Personal fields only some certificates ask for (the catalogue's `asks`): the 印鑑登録証 number."""
MIN_COPIES, MAX_COPIES = 1, 10


REQUESTS = Streams(CATEGORY, "C")
request_stream = REQUESTS.stream
request_number = REQUESTS.number
"""The number a resident and a clerk quote: short, unambiguous, derived from the id."""


# --- commands ------------------------------------------------------------------------------


class Start(decider.Command):
    request_id: uuid.UUID
    user_id: str
    certificate_code: str
    certificate_name: str
    fee: int = Field(ge=0)
    postage: int = Field(ge=0)
    option_keys: tuple[str, ...]
    extra_fields: tuple[ExtraField, ...] = ()
    at: datetime


class ChooseOption(decider.Command):
    key: str
    value: str
    label: str
    at: datetime


class ChooseCopies(decider.Command):
    copies: int
    at: datetime


class ChoosePurpose(decider.Command):
    code: str
    label: str
    at: datetime


class GiveDetail(decider.Command):
    field: str
    value: str
    """Encrypted with `PersonalData.encrypt`: a plain value is refused."""
    at: datetime


class ChooseIdDocument(decider.Command):
    code: str
    label: str
    at: datetime


class AttachPhoto(decider.Command):
    photo_id: uuid.UUID
    content_type: str
    size: int
    at: datetime


class Submit(decider.Command):
    """確定: the request is final and a checkout was opened for its total."""

    amount: int
    checkout_id: str
    checkout_url: str
    at: datetime
    expires_at: datetime


class RetryPayment(decider.Command):
    """A new checkout after a failed or cancelled payment (the deadline stays)."""

    checkout_id: str
    checkout_url: str
    at: datetime


class ConfirmPayment(decider.Command):
    payment_id: str
    checkout_id: str
    amount: int
    at: datetime


class FailPayment(decider.Command):
    checkout_id: str
    reason: str
    at: datetime


class ExpirePayment(decider.Command):
    at: datetime


class ExpireDraft(decider.Command):
    at: datetime
    idle: timedelta
    """How long a draft may sit without an answer."""


class Cancel(decider.Command):
    """The resident withdraws the request (中止 while drafting, or cancel before issue)."""

    at: datetime


class Approve(decider.Command):
    by: str
    at: datetime


class Reject(decider.Command):
    by: str
    reason_code: str
    reason_label: str
    note: str = ""
    at: datetime


class CompleteRefund(decider.Command):
    payment_id: str
    refund_id: str
    amount: int
    at: datetime


class Issue(decider.Command):
    serial: str
    by: str
    at: datetime


class Mail(decider.Command):
    tracking_number: str
    by: str
    at: datetime


class PurgePhoto(decider.Command):
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


class CertificatesEvent(Event):
    """Each subclass is an event `cityhall.certificates.<snake_case name>.v1`, registered."""

    DOMAIN = "certificates"


class RequestStarted(CertificatesEvent):
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


class OptionChosen(CertificatesEvent):
    key: str
    value: str
    label: str
    at: datetime


class CopiesChosen(CertificatesEvent):
    copies: int
    at: datetime


class PurposeChosen(CertificatesEvent):
    code: str
    label: str
    at: datetime


class RequesterDetailGiven(CertificatesEvent):
    field: PersonalField | ExtraField
    value: str
    """Encrypted with the resident's key (`pd1:…`)."""
    at: datetime


class IdDocumentChosen(CertificatesEvent):
    code: str
    label: str
    at: datetime


class IdPhotoAttached(CertificatesEvent):
    photo_id: uuid.UUID
    """The photo itself stays in the service's encrypted photo table."""
    content_type: str
    size: int
    at: datetime


# --- events: submission and payment --------------------------------------------------------


class RequestSubmitted(CertificatesEvent):
    amount: int
    at: datetime


class PaymentRequested(CertificatesEvent):
    checkout_id: str
    checkout_url: str
    amount: int
    expires_at: datetime
    at: datetime


class PaymentConfirmed(CertificatesEvent):
    payment_id: str
    checkout_id: str
    amount: int
    at: datetime


class PaymentFailed(CertificatesEvent):
    checkout_id: str
    reason: str
    at: datetime


class PaymentExpired(CertificatesEvent):
    at: datetime


class DraftExpired(CertificatesEvent):
    at: datetime


class RequestCancelled(CertificatesEvent):
    stage: Literal["draft", "submitted"]
    at: datetime


class RefundRequested(CertificatesEvent):
    payment_id: str
    amount: int
    reason: Literal["rejected", "cancelled", "late_payment", "duplicate_payment"]
    at: datetime


class RefundCompleted(CertificatesEvent):
    payment_id: str
    refund_id: str
    amount: int
    at: datetime


# --- events: the department's work ---------------------------------------------------------


class IdentityApproved(CertificatesEvent):
    by: str
    at: datetime


class IdentityRejected(CertificatesEvent):
    by: str
    reason_code: str
    reason_label: str
    note: str = ""
    at: datetime


class CertificateIssued(CertificatesEvent):
    serial: str
    by: str
    at: datetime


class CertificateMailed(CertificatesEvent):
    tracking_number: str
    by: str
    at: datetime


class IdPhotoPurged(CertificatesEvent):
    photo_id: uuid.UUID
    reason: str
    at: datetime
