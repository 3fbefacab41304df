"""The decider for one certificate request (stream `certificateRequest-<uuid>`).

    drafting ──確定──▶ payment_pending ──paid──▶ paid ──approve──▶ approved ──issue──▶ issued ──mail──▶ mailed
       │                 │    ▲   │                │
       │                 ▼    │   │                └──reject──▶ rejected (+ refund)
       │           payment_failed │
       │                 │        └──30 min unpaid──▶ expired
       └──中止 / idle──▶ cancelled / expired          (cancel before issue ──▶ cancelled, + refund if paid)

Pure: every refusal is a `DomainError` with a stable reason code. Repeating a command whose
effect already happened (a replayed payment callback, a refund recorded twice, a photo purged
twice) decides nothing instead of failing, so redelivered messages are harmless.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal, TypeVar

from cityhall.certificates.events import (
    MAX_COPIES,
    MIN_COPIES,
    PERSONAL_FIELDS,
    Approve,
    AttachPhoto,
    Cancel,
    CertificateIssued,
    CertificateMailed,
    ChooseCopies,
    ChooseIdDocument,
    ChooseOption,
    ChoosePurpose,
    Command,
    CompleteRefund,
    ConfirmPayment,
    CopiesChosen,
    DraftExpired,
    ExpireDraft,
    ExpirePayment,
    FailPayment,
    GiveDetail,
    IdDocumentChosen,
    IdentityApproved,
    IdentityRejected,
    IdPhotoAttached,
    IdPhotoPurged,
    Issue,
    Mail,
    OptionChosen,
    PaymentConfirmed,
    PaymentExpired,
    PaymentFailed,
    PaymentRequested,
    PurgePhoto,
    PurposeChosen,
    RefundCompleted,
    RefundRequested,
    Reject,
    RequestCancelled,
    RequesterDetailGiven,
    RequestStarted,
    RequestSubmitted,
    RetryPayment,
    Start,
    Submit,
    request_number,
)
from cityhall.events.decider import Decider, DomainError
from cityhall.events.envelope import Event
from cityhall.events.personal import is_encrypted

Status = Literal[
    "new",
    "drafting",
    "payment_pending",
    "payment_failed",
    "paid",
    "approved",
    "rejected",
    "issued",
    "mailed",
    "cancelled",
    "expired",
]

AWAITING_PAYMENT: frozenset[Status] = frozenset({"payment_pending", "payment_failed"})
CLOSED: frozenset[Status] = frozenset({"rejected", "mailed", "cancelled", "expired"})
"""Nothing more happens to the request (except refunds and the photo's deletion)."""
DECIDED: frozenset[Status] = frozenset({"approved", "rejected", "issued", "mailed"})


T = TypeVar("T")


class InvariantBroken(RuntimeError):
    """A request's own history contradicts itself (a bug or an edited store), not a refusal."""


def required(value: T | None, what: str) -> T:
    """`value`, which the request's status promises is there."""
    if value is None:
        raise InvariantBroken(f"the request has no {what}")
    return value


@dataclass(frozen=True)
class Request:
    status: Status = "new"
    request_id: uuid.UUID | None = None
    number: str = ""
    user_id: str = ""
    certificate_code: str = ""
    certificate_name: str = ""
    fee: int = 0
    postage: int = 0
    option_keys: tuple[str, ...] = ()
    extra_fields: tuple[str, ...] = ()
    options: dict[str, str] = field(default_factory=dict)
    option_labels: dict[str, str] = field(default_factory=dict)
    copies: int | None = None
    purpose: str | None = None
    purpose_label: str = ""
    details: dict[str, str] = field(default_factory=dict)
    """Personal field -> encrypted value."""
    id_document: str | None = None
    id_document_label: str = ""
    photo_id: uuid.UUID | None = None
    photo_purged: bool = False
    last_activity: datetime | None = None
    submitted_at: datetime | None = None
    amount: int = 0
    payment_deadline: datetime | None = None
    checkouts: tuple[str, ...] = ()
    checkout_url: str = ""
    payment_id: str | None = None
    payments: tuple[str, ...] = ()
    refunds_pending: dict[str, int] = field(default_factory=dict)
    refunds_done: dict[str, int] = field(default_factory=dict)
    decided_by: str = ""
    reject_reason: str = ""
    reject_note: str = ""
    serial: str = ""
    tracking_number: str = ""
    closed_at: datetime | None = None

    @property
    def total(self) -> int:
        return self.fee * (self.copies or 0) + self.postage

    def missing(self) -> list[str]:
        """What the resident still has to give before 確定, in the order the dialog asks."""
        gaps = [f"option:{key}" for key in self.option_keys if key not in self.options]
        if self.copies is None:
            gaps.append("copies")
        if self.purpose is None:
            gaps.append("purpose")
        gaps += [f for f in (*PERSONAL_FIELDS, *self.extra_fields) if f not in self.details]
        if self.id_document is None:
            gaps.append("id_document")
        if self.photo_id is None:
            gaps.append("photo")
        return gaps


def _refuse(reason: str, message: str = "") -> DomainError:
    return DomainError(reason, message or reason)


def _require_started(state: Request) -> None:
    if state.status == "new":
        raise _refuse("not_started", "no such request")


def _require_drafting(state: Request) -> None:
    _require_started(state)
    if state.status != "drafting":
        raise _refuse("not_drafting", "the request was submitted or closed already")


def _require_open(state: Request) -> None:
    _require_started(state)
    if state.status in CLOSED:
        raise _refuse("already_closed", f"the request is {state.status}")


def decide(command: Command, state: Request) -> Sequence[Event]:
    match command:
        case Start():
            if state.status != "new":
                raise _refuse("already_started")
            return [
                RequestStarted(
                    request_id=command.request_id,
                    number=request_number(command.request_id),
                    user_id=command.user_id,
                    certificate_code=command.certificate_code,
                    certificate_name=command.certificate_name,
                    fee=command.fee,
                    postage=command.postage,
                    option_keys=command.option_keys,
                    extra_fields=command.extra_fields,
                    at=command.at,
                )
            ]
        case ChooseOption():
            _require_drafting(state)
            if command.key not in state.option_keys:
                raise _refuse("unknown_option", f"{state.certificate_code} has no option {command.key}")
            return [OptionChosen(key=command.key, value=command.value, label=command.label, at=command.at)]
        case ChooseCopies():
            _require_drafting(state)
            if not MIN_COPIES <= command.copies <= MAX_COPIES:
                raise _refuse("invalid_copies", f"copies must be {MIN_COPIES} to {MAX_COPIES}")
            return [CopiesChosen(copies=command.copies, at=command.at)]
        case ChoosePurpose():
            _require_drafting(state)
            return [PurposeChosen(code=command.code, label=command.label, at=command.at)]
        case GiveDetail():
            _require_drafting(state)
            if command.field not in PERSONAL_FIELDS and command.field not in state.extra_fields:
                raise _refuse("unknown_field", f"no personal field {command.field}")
            if not is_encrypted(command.value):
                raise _refuse("not_encrypted", "personal data enters events only encrypted")
            return [RequesterDetailGiven(field=command.field, value=command.value, at=command.at)]
        case ChooseIdDocument():
            _require_drafting(state)
            return [IdDocumentChosen(code=command.code, label=command.label, at=command.at)]
        case AttachPhoto():
            _require_drafting(state)
            return [
                IdPhotoAttached(
                    photo_id=command.photo_id,
                    content_type=command.content_type,
                    size=command.size,
                    at=command.at,
                )
            ]
        case Submit():
            return _submit(command, state)
        case RetryPayment():
            _require_open(state)
            if state.status != "payment_failed":
                raise _refuse("not_awaiting_payment", f"the request is {state.status}")
            deadline = required(state.payment_deadline, "payment deadline")
            if command.at >= deadline:
                raise _refuse("payment_deadline_passed")
            return [
                PaymentRequested(
                    checkout_id=command.checkout_id,
                    checkout_url=command.checkout_url,
                    amount=state.amount,
                    expires_at=deadline,
                    at=command.at,
                )
            ]
        case ConfirmPayment():
            return _confirm_payment(command, state)
        case FailPayment():
            _require_started(state)
            if command.checkout_id not in state.checkouts:
                raise _refuse("unknown_checkout")
            if state.status != "payment_pending" or command.checkout_id != state.checkouts[-1]:
                return []  # a late or repeated notice about a checkout that no longer matters
            return [PaymentFailed(checkout_id=command.checkout_id, reason=command.reason, at=command.at)]
        case ExpirePayment():
            _require_open(state)
            if state.status not in AWAITING_PAYMENT:
                raise _refuse("not_awaiting_payment", f"the request is {state.status}")
            if command.at < required(state.payment_deadline, "payment deadline"):
                raise _refuse("not_due", "the payment deadline has not passed")
            return [PaymentExpired(at=command.at)]
        case ExpireDraft():
            _require_drafting(state)
            if command.at - required(state.last_activity, "last activity") < command.idle:
                raise _refuse("not_idle", "the resident answered since")
            return [DraftExpired(at=command.at)]
        case Cancel():
            return _cancel(command, state)
        case Approve():
            _require_decidable(state)
            return [IdentityApproved(by=command.by, at=command.at)]
        case Reject():
            _require_decidable(state)
            if not command.reason_code.strip() or not command.reason_label.strip():
                raise _refuse("reason_required", "a rejection needs a reason")
            return [
                IdentityRejected(
                    by=command.by,
                    reason_code=command.reason_code,
                    reason_label=command.reason_label,
                    note=command.note.strip(),
                    at=command.at,
                ),
                RefundRequested(
                    payment_id=required(state.payment_id, "payment"),
                    amount=state.amount,
                    reason="rejected",
                    at=command.at,
                ),
            ]
        case CompleteRefund():
            _require_started(state)
            if command.payment_id in state.refunds_done:
                return []
            if command.payment_id not in state.refunds_pending:
                raise _refuse("no_refund_pending", f"no refund is due for payment {command.payment_id}")
            if command.amount != state.refunds_pending[command.payment_id]:
                raise _refuse("amount_mismatch", "the refund is not for the amount due")
            return [
                RefundCompleted(
                    payment_id=command.payment_id,
                    refund_id=command.refund_id,
                    amount=command.amount,
                    at=command.at,
                )
            ]
        case Issue():
            _require_open(state)
            if state.status in ("issued", "mailed"):
                raise _refuse("already_issued", f"issued already as {state.serial}")
            if state.status != "approved":
                raise _refuse("not_approved", "the identity check has not approved the request")
            serial = command.serial.strip()
            if not serial:
                raise _refuse("serial_required", "the certificate's serial number is required")
            return [CertificateIssued(serial=serial, by=command.by, at=command.at)]
        case Mail():
            _require_started(state)
            if state.status == "mailed":
                raise _refuse("already_mailed", f"mailed already as {state.tracking_number}")
            _require_open(state)
            if state.status != "issued":
                raise _refuse("not_issued", "the certificate has not been issued")
            tracking = command.tracking_number.strip()
            if not tracking:
                raise _refuse("tracking_required", "the tracking number is required")
            return [CertificateMailed(tracking_number=tracking, by=command.by, at=command.at)]
        case PurgePhoto():
            _require_started(state)
            if state.photo_purged or state.photo_id != command.photo_id:
                return []
            if state.status not in CLOSED:
                raise _refuse("not_completed", "the photo is kept until the request is completed")
            return [IdPhotoPurged(photo_id=command.photo_id, reason=command.reason, at=command.at)]
    raise TypeError(f"not a certificate command: {command!r}")


def _submit(command: Submit, state: Request) -> Sequence[Event]:
    _require_started(state)
    if state.status in CLOSED:
        raise _refuse("already_closed", f"the request is {state.status}")
    if state.status != "drafting":
        raise _refuse("already_submitted", "確定 was tapped already")
    gaps = state.missing()
    if gaps:
        raise _refuse("incomplete", "missing: " + ", ".join(gaps))
    if command.amount != state.total:
        raise _refuse("amount_mismatch", f"the total is {state.total}, not {command.amount}")
    return [
        RequestSubmitted(amount=command.amount, at=command.at),
        PaymentRequested(
            checkout_id=command.checkout_id,
            checkout_url=command.checkout_url,
            amount=command.amount,
            expires_at=command.expires_at,
            at=command.at,
        ),
    ]


def _confirm_payment(command: ConfirmPayment, state: Request) -> Sequence[Event]:
    _require_started(state)
    if command.payment_id in state.payments:
        return []  # a replayed confirmation
    if command.checkout_id not in state.checkouts:
        raise _refuse("unknown_checkout", "the payment is not for this request")
    if command.amount != state.amount:
        raise _refuse("amount_mismatch", f"paid {command.amount}, due {state.amount}")
    confirmed = PaymentConfirmed(
        payment_id=command.payment_id, checkout_id=command.checkout_id, amount=command.amount, at=command.at
    )
    if state.status in AWAITING_PAYMENT:
        return [confirmed]
    # Money arrived for a request that no longer wants it: give it back.
    reason: Literal["late_payment", "duplicate_payment"] = (
        "duplicate_payment" if state.payment_id is not None else "late_payment"
    )
    return [
        confirmed,
        RefundRequested(payment_id=command.payment_id, amount=command.amount, reason=reason, at=command.at),
    ]


def _cancel(command: Cancel, state: Request) -> Sequence[Event]:
    _require_open(state)
    if state.status in ("issued", "mailed"):
        raise _refuse("already_issued", "an issued certificate cannot be cancelled")
    if state.status == "drafting":
        return [RequestCancelled(stage="draft", at=command.at)]
    cancelled = RequestCancelled(stage="submitted", at=command.at)
    if state.status in ("paid", "approved"):
        return [
            cancelled,
            RefundRequested(
                payment_id=required(state.payment_id, "payment"),
                amount=state.amount,
                reason="cancelled",
                at=command.at,
            ),
        ]
    return [cancelled]


def _require_decidable(state: Request) -> None:
    _require_started(state)
    if state.status in DECIDED:
        raise _refuse("already_decided", f"the identity check was decided already ({state.status})")
    _require_open(state)
    if state.status != "paid":
        raise _refuse("not_paid", "the fee has not been paid")


def evolve(state: Request, event: Event) -> Request:
    match event:
        case RequestStarted():
            return replace(
                state,
                status="drafting",
                request_id=event.request_id,
                number=event.number,
                user_id=event.user_id,
                certificate_code=event.certificate_code,
                certificate_name=event.certificate_name,
                fee=event.fee,
                postage=event.postage,
                option_keys=tuple(event.option_keys),
                extra_fields=tuple(event.extra_fields),
                last_activity=event.at,
            )
        case OptionChosen():
            return replace(
                state,
                options={**state.options, event.key: event.value},
                option_labels={**state.option_labels, event.key: event.label},
                last_activity=event.at,
            )
        case CopiesChosen():
            return replace(state, copies=event.copies, last_activity=event.at)
        case PurposeChosen():
            return replace(state, purpose=event.code, purpose_label=event.label, last_activity=event.at)
        case RequesterDetailGiven():
            return replace(state, details={**state.details, event.field: event.value}, last_activity=event.at)
        case IdDocumentChosen():
            return replace(
                state, id_document=event.code, id_document_label=event.label, last_activity=event.at
            )
        case IdPhotoAttached():
            return replace(state, photo_id=event.photo_id, last_activity=event.at)
        case RequestSubmitted():
            return replace(state, status="payment_pending", submitted_at=event.at, amount=event.amount)
        case PaymentRequested():
            return replace(
                state,
                status="payment_pending",
                checkouts=(*state.checkouts, event.checkout_id),
                checkout_url=event.checkout_url,
                payment_deadline=event.expires_at,
            )
        case PaymentConfirmed():
            if state.status in AWAITING_PAYMENT:
                return replace(
                    state,
                    status="paid",
                    payment_id=event.payment_id,
                    payments=(*state.payments, event.payment_id),
                )
            return replace(state, payments=(*state.payments, event.payment_id))
        case PaymentFailed():
            return replace(state, status="payment_failed")
        case PaymentExpired() | DraftExpired():
            return replace(state, status="expired", closed_at=event.at)
        case RequestCancelled():
            return replace(state, status="cancelled", closed_at=event.at)
        case RefundRequested():
            return replace(state, refunds_pending={**state.refunds_pending, event.payment_id: event.amount})
        case RefundCompleted():
            pending = dict(state.refunds_pending)
            pending.pop(event.payment_id, None)
            return replace(
                state,
                refunds_pending=pending,
                refunds_done={**state.refunds_done, event.payment_id: event.amount},
            )
        case IdentityApproved():
            return replace(state, status="approved", decided_by=event.by)
        case IdentityRejected():
            return replace(
                state,
                status="rejected",
                decided_by=event.by,
                reject_reason=event.reason_label,
                reject_note=event.note,
                closed_at=event.at,
            )
        case CertificateIssued():
            return replace(state, status="issued", serial=event.serial)
        case CertificateMailed():
            return replace(state, status="mailed", tracking_number=event.tracking_number, closed_at=event.at)
        case IdPhotoPurged():
            return replace(state, photo_purged=True)
    return state


certificate_decider: Decider[Command, Request] = Decider(Request(), decide, evolve)
