"""The certificate request's decider, given/when/then: every transition and every refusal."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from cityhall.certificates import events
from cityhall.certificates.domain import Request, certificate_decider
from cityhall.certificates.events import (
    Approve,
    AttachPhoto,
    Cancel,
    CertificateIssued,
    CertificateMailed,
    ChooseCopies,
    ChooseIdDocument,
    ChooseOption,
    ChoosePurpose,
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
from cityhall.events.envelope import Event
from cityhall.events.testing.decider import given

T0 = datetime(2025, 4, 1, 9, 0, tzinfo=UTC)
RID = uuid.UUID("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
PHOTO = uuid.UUID("11111111-2222-3333-4444-555555555555")
USER = "U" + "a" * 32
DEADLINE = T0 + timedelta(minutes=40)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def token(value: str) -> str:
    """What `PersonalData.encrypt` produces (the decider only checks the shape)."""
    return f"pd1:{USER}:{value}"


STARTED = RequestStarted(
    request_id=RID,
    number=request_number(RID),
    user_id=USER,
    certificate_code="juminhyo",
    certificate_name="住民票の写し",
    fee=300,
    postage=110,
    option_keys=("scope",),
    at=T0,
)
DRAFT: tuple[Event, ...] = (
    STARTED,
    OptionChosen(key="scope", value="self", label="本人のみ", at=at(1)),
    CopiesChosen(copies=2, at=at(2)),
    PurposeChosen(code="employment", label="就職・勤務先への提出", at=at(3)),
    RequesterDetailGiven(field="name", value=token("bmFtZQ"), at=at(4)),
    RequesterDetailGiven(field="birth_date", value=token("ZG9i"), at=at(5)),
    RequesterDetailGiven(field="address", value=token("YWRkcg"), at=at(6)),
    RequesterDetailGiven(field="phone", value=token("cGhvbmU"), at=at(7)),
    IdDocumentChosen(code="driving_licence", label="運転免許証", at=at(8)),
    IdPhotoAttached(photo_id=PHOTO, content_type="image/jpeg", size=1234, at=at(9)),
)
TOTAL = 300 * 2 + 110
SUBMITTED: tuple[Event, ...] = (
    *DRAFT,
    RequestSubmitted(amount=TOTAL, at=at(10)),
    PaymentRequested(
        checkout_id="co_1", checkout_url="https://pay/co_1", amount=TOTAL, expires_at=DEADLINE, at=at(10)
    ),
)
PAID: tuple[Event, ...] = (
    *SUBMITTED,
    PaymentConfirmed(payment_id="pay_1", checkout_id="co_1", amount=TOTAL, at=at(12)),
)
FAILED: tuple[Event, ...] = (*SUBMITTED, PaymentFailed(checkout_id="co_1", reason="failed", at=at(11)))
APPROVED: tuple[Event, ...] = (*PAID, IdentityApproved(by="cert-clerk", at=at(60)))
REJECTED: tuple[Event, ...] = (
    *PAID,
    IdentityRejected(by="cert-clerk", reason_code="photo_unreadable", reason_label="写真が不鮮明", at=at(60)),
    RefundRequested(payment_id="pay_1", amount=TOTAL, reason="rejected", at=at(60)),
)
ISSUED: tuple[Event, ...] = (*APPROVED, CertificateIssued(serial="A-0001", by="cert-clerk", at=at(90)))
MAILED: tuple[Event, ...] = (
    *ISSUED,
    CertificateMailed(tracking_number="1234-5678-9012", by="cert-clerk", at=at(120)),
)
CANCELLED_DRAFT: tuple[Event, ...] = (*DRAFT, RequestCancelled(stage="draft", at=at(11)))
EXPIRED: tuple[Event, ...] = (*SUBMITTED, PaymentExpired(at=at(41)))

START = Start(
    request_id=RID,
    user_id=USER,
    certificate_code="juminhyo",
    certificate_name="住民票の写し",
    fee=300,
    postage=110,
    option_keys=("scope",),
    at=T0,
)
SUBMIT = Submit(
    amount=TOTAL, checkout_id="co_1", checkout_url="https://pay/co_1", at=at(10), expires_at=DEADLINE
)
PAY = ConfirmPayment(payment_id="pay_1", checkout_id="co_1", amount=TOTAL, at=at(12))
APPROVE = Approve(by="cert-clerk", at=at(60))
REJECT = Reject(by="cert-clerk", reason_code="photo_unreadable", reason_label="写真が不鮮明", at=at(60))
ISSUE = Issue(serial="A-0001", by="cert-clerk", at=at(90))
MAIL = Mail(tracking_number="1234-5678-9012", by="cert-clerk", at=at(120))


def state(*history: Event) -> Request:
    return certificate_decider.fold(history)


# --- drafting --------------------------------------------------------------------------------


def test_start_opens_a_draft_with_its_number() -> None:
    given(certificate_decider).when(START).then(STARTED)
    assert state(STARTED).status == "drafting"
    assert STARTED.number == "C-0F1E2D3C"


def test_start_twice_is_refused() -> None:
    given(certificate_decider, STARTED).when(START).then_refused("already_started")


def test_each_drafting_answer_is_recorded() -> None:
    g = given(certificate_decider, STARTED)
    g.when(ChooseOption(key="scope", value="household", label="世帯全員", at=at(1))).then(
        OptionChosen(key="scope", value="household", label="世帯全員", at=at(1))
    )
    g.when(ChooseCopies(copies=10, at=at(1))).then(CopiesChosen(copies=10, at=at(1)))
    g.when(ChoosePurpose(code="bank", label="金融機関", at=at(1))).then(
        PurposeChosen(code="bank", label="金融機関", at=at(1))
    )
    g.when(GiveDetail(field="phone", value=token("x"), at=at(1))).then(
        RequesterDetailGiven(field="phone", value=token("x"), at=at(1))
    )
    g.when(ChooseIdDocument(code="passport", label="パスポート", at=at(1))).then(
        IdDocumentChosen(code="passport", label="パスポート", at=at(1))
    )
    g.when(AttachPhoto(photo_id=PHOTO, content_type="image/png", size=9, at=at(1))).then(
        IdPhotoAttached(photo_id=PHOTO, content_type="image/png", size=9, at=at(1))
    )


def test_drafting_commands_before_start_are_refused() -> None:
    for command in (
        ChooseCopies(copies=1, at=T0),
        ChooseOption(key="scope", value="self", label="本人のみ", at=T0),
        ChoosePurpose(code="bank", label="金融機関", at=T0),
        GiveDetail(field="name", value=token("x"), at=T0),
        ChooseIdDocument(code="passport", label="パスポート", at=T0),
        AttachPhoto(photo_id=PHOTO, content_type="image/png", size=9, at=T0),
        SUBMIT,
        PAY,
        APPROVE,
        ISSUE,
        MAIL,
        Cancel(at=T0),
    ):
        given(certificate_decider).when(command).then_refused("not_started")


def test_drafting_commands_after_submission_are_refused() -> None:
    for history in (SUBMITTED, PAID, CANCELLED_DRAFT):
        given(certificate_decider, *history).when(ChooseCopies(copies=1, at=at(30))).then_refused(
            "not_drafting"
        )


def test_an_option_the_certificate_does_not_have_is_refused() -> None:
    given(certificate_decider, STARTED).when(
        ChooseOption(key="colour", value="red", label="赤", at=at(1))
    ).then_refused("unknown_option")


@pytest.mark.parametrize("copies", [0, 11, -1])
def test_copies_outside_1_to_10_are_refused(copies: int) -> None:
    given(certificate_decider, STARTED).when(ChooseCopies(copies=copies, at=at(1))).then_refused(
        "invalid_copies"
    )


def test_personal_data_enters_events_only_encrypted() -> None:
    g = given(certificate_decider, STARTED)
    g.when(GiveDetail(field="name", value="山田 太郎", at=at(1))).then_refused("not_encrypted")
    g.when(GiveDetail(field="nickname", value=token("x"), at=at(1))).then_refused("unknown_field")


def test_a_certificate_that_asks_for_the_seal_card_number_needs_it_before_submitting() -> None:
    inkan = STARTED.model_copy(
        update={"certificate_code": "inkan", "option_keys": (), "extra_fields": ("seal_number",)}
    )
    start = START.model_copy(
        update={"certificate_code": "inkan", "option_keys": (), "extra_fields": ("seal_number",)}
    )
    given(certificate_decider).when(start).then(inkan)
    answered = (inkan, *DRAFT[2:])
    assert state(*answered).missing() == ["seal_number"]
    refusal = given(certificate_decider, *answered).when(SUBMIT).then_refused("incomplete")
    assert "seal_number" in str(refusal)
    number = GiveDetail(field="seal_number", value=token("MDAxMjM0NTY"), at=at(9.5))
    given(certificate_decider, *answered).when(number).then(
        RequesterDetailGiven(field="seal_number", value=number.value, at=at(9.5))
    )
    assert not state(
        *answered, RequesterDetailGiven(field="seal_number", value=number.value, at=at(9.5))
    ).missing()
    # Encrypted like the other answers, and only for a certificate that asks for it.
    given(certificate_decider, *answered).when(
        GiveDetail(field="seal_number", value="00123456", at=at(9.5))
    ).then_refused("not_encrypted")
    given(certificate_decider, *DRAFT).when(number).then_refused("unknown_field")


# --- 確定 -----------------------------------------------------------------------------------------


def test_submit_records_the_request_and_its_checkout() -> None:
    given(certificate_decider, *DRAFT).when(SUBMIT).then(*SUBMITTED[len(DRAFT) :])
    submitted = state(*SUBMITTED)
    assert (submitted.status, submitted.amount, submitted.payment_deadline) == (
        "payment_pending",
        TOTAL,
        DEADLINE,
    )


def test_submit_twice_is_one_request() -> None:
    given(certificate_decider, *SUBMITTED).when(SUBMIT).then_refused("already_submitted")


def test_an_incomplete_draft_cannot_be_submitted() -> None:
    refusal = given(certificate_decider, *DRAFT[:-1]).when(SUBMIT).then_refused("incomplete")
    assert "photo" in str(refusal)


def test_submit_must_charge_the_total() -> None:
    wrong = SUBMIT.model_copy(update={"amount": 300})
    given(certificate_decider, *DRAFT).when(wrong).then_refused("amount_mismatch")


def test_a_closed_request_cannot_be_submitted() -> None:
    given(certificate_decider, *CANCELLED_DRAFT).when(SUBMIT).then_refused("already_closed")


def test_total_is_fee_times_copies_plus_postage() -> None:
    assert state(*DRAFT).total == 710


# --- payment ---------------------------------------------------------------------------------


def test_payment_makes_the_request_paid() -> None:
    given(certificate_decider, *SUBMITTED).when(PAY).then(PAID[-1])
    assert state(*PAID).status == "paid"


def test_a_replayed_payment_changes_nothing() -> None:
    given(certificate_decider, *PAID).when(PAY).then()


def test_a_payment_for_another_checkout_is_refused() -> None:
    given(certificate_decider, *SUBMITTED).when(PAY.model_copy(update={"checkout_id": "co_x"})).then_refused(
        "unknown_checkout"
    )


def test_a_payment_of_the_wrong_amount_is_refused() -> None:
    given(certificate_decider, *SUBMITTED).when(PAY.model_copy(update={"amount": 1})).then_refused(
        "amount_mismatch"
    )


def test_a_late_payment_is_recorded_and_refunded() -> None:
    late = PAY.model_copy(update={"at": at(45)})
    given(certificate_decider, *EXPIRED).when(late).then(
        PaymentConfirmed(payment_id="pay_1", checkout_id="co_1", amount=TOTAL, at=at(45)),
        RefundRequested(payment_id="pay_1", amount=TOTAL, reason="late_payment", at=at(45)),
    )
    assert state(*EXPIRED).status == "expired"


def test_a_second_payment_is_refunded() -> None:
    history = (
        *FAILED,
        PaymentRequested(
            checkout_id="co_2", checkout_url="https://pay/co_2", amount=TOTAL, expires_at=DEADLINE, at=at(20)
        ),
        PaymentConfirmed(payment_id="pay_2", checkout_id="co_2", amount=TOTAL, at=at(21)),
    )
    second = ConfirmPayment(payment_id="pay_1", checkout_id="co_1", amount=TOTAL, at=at(22))
    given(certificate_decider, *history).when(second).then(
        PaymentConfirmed(payment_id="pay_1", checkout_id="co_1", amount=TOTAL, at=at(22)),
        RefundRequested(payment_id="pay_1", amount=TOTAL, reason="duplicate_payment", at=at(22)),
    )


def test_a_failed_payment_can_be_retried_with_a_new_checkout() -> None:
    given(certificate_decider, *SUBMITTED).when(
        FailPayment(checkout_id="co_1", reason="failed", at=at(11))
    ).then(FAILED[-1])
    assert state(*FAILED).status == "payment_failed"
    retry = RetryPayment(checkout_id="co_2", checkout_url="https://pay/co_2", at=at(15))
    given(certificate_decider, *FAILED).when(retry).then(
        PaymentRequested(
            checkout_id="co_2", checkout_url="https://pay/co_2", amount=TOTAL, expires_at=DEADLINE, at=at(15)
        )
    )


def test_retry_is_refused_unless_the_payment_failed_and_is_not_past_its_deadline() -> None:
    retry = RetryPayment(checkout_id="co_2", checkout_url="https://pay/co_2", at=at(15))
    given(certificate_decider, *SUBMITTED).when(retry).then_refused("not_awaiting_payment")
    given(certificate_decider, *PAID).when(retry).then_refused("not_awaiting_payment")
    given(certificate_decider, *FAILED).when(retry.model_copy(update={"at": at(41)})).then_refused(
        "payment_deadline_passed"
    )
    given(certificate_decider, *EXPIRED).when(retry).then_refused("already_closed")


def test_failure_notices_that_no_longer_matter_change_nothing() -> None:
    fail = FailPayment(checkout_id="co_1", reason="cancelled", at=at(13))
    given(certificate_decider, *FAILED).when(fail).then()  # repeated
    given(certificate_decider, *PAID).when(fail).then()  # paid meanwhile
    given(certificate_decider, *SUBMITTED).when(fail.model_copy(update={"checkout_id": "co_x"})).then_refused(
        "unknown_checkout"
    )


def test_unpaid_requests_expire_at_their_deadline() -> None:
    given(certificate_decider, *SUBMITTED).when(ExpirePayment(at=at(40))).then(PaymentExpired(at=at(40)))
    given(certificate_decider, *FAILED).when(ExpirePayment(at=at(41))).then(PaymentExpired(at=at(41)))


def test_expiry_is_refused_before_the_deadline_and_once_paid() -> None:
    given(certificate_decider, *SUBMITTED).when(ExpirePayment(at=at(39))).then_refused("not_due")
    given(certificate_decider, *PAID).when(ExpirePayment(at=at(41))).then_refused("not_awaiting_payment")
    given(certificate_decider, *DRAFT).when(ExpirePayment(at=at(41))).then_refused("not_awaiting_payment")
    given(certificate_decider, *EXPIRED).when(ExpirePayment(at=at(50))).then_refused("already_closed")


def test_an_idle_draft_expires() -> None:
    idle = timedelta(minutes=30)
    given(certificate_decider, *DRAFT).when(ExpireDraft(at=at(39), idle=idle)).then(DraftExpired(at=at(39)))
    assert state(*DRAFT, DraftExpired(at=at(39))).status == "expired"


def test_a_draft_answered_meanwhile_does_not_expire() -> None:
    idle = timedelta(minutes=30)
    given(certificate_decider, *DRAFT).when(ExpireDraft(at=at(38), idle=idle)).then_refused("not_idle")
    given(certificate_decider, *SUBMITTED).when(ExpireDraft(at=at(99), idle=idle)).then_refused(
        "not_drafting"
    )


# --- the identity check ------------------------------------------------------------------------


def test_approve() -> None:
    given(certificate_decider, *PAID).when(APPROVE).then(APPROVED[-1])


def test_reject_refunds_automatically() -> None:
    given(certificate_decider, *PAID).when(REJECT).then(*REJECTED[len(PAID) :])
    rejected = state(*REJECTED)
    assert rejected.status == "rejected" and rejected.refunds_pending == {"pay_1": TOTAL}


def test_reject_needs_a_reason() -> None:
    given(certificate_decider, *PAID).when(REJECT.model_copy(update={"reason_code": " "})).then_refused(
        "reason_required"
    )


def test_the_second_decision_finds_it_already_decided() -> None:
    for history in (APPROVED, REJECTED, ISSUED, MAILED):
        given(certificate_decider, *history).when(APPROVE).then_refused("already_decided")
        given(certificate_decider, *history).when(REJECT).then_refused("already_decided")


def test_no_decision_before_payment_or_after_cancelling() -> None:
    given(certificate_decider, *SUBMITTED).when(APPROVE).then_refused("not_paid")
    given(certificate_decider, *DRAFT).when(REJECT).then_refused("not_paid")
    given(certificate_decider, *EXPIRED).when(APPROVE).then_refused("already_closed")


# --- issue and mail ----------------------------------------------------------------------------


def test_issue_records_the_serial() -> None:
    given(certificate_decider, *APPROVED).when(ISSUE).then(ISSUED[-1])


def test_issue_refusals() -> None:
    given(certificate_decider, *PAID).when(ISSUE).then_refused("not_approved")
    given(certificate_decider, *ISSUED).when(ISSUE).then_refused("already_issued")
    given(certificate_decider, *REJECTED).when(ISSUE).then_refused("already_closed")
    given(certificate_decider, *APPROVED).when(ISSUE.model_copy(update={"serial": "  "})).then_refused(
        "serial_required"
    )


def test_mail_records_the_tracking_number_and_completes() -> None:
    given(certificate_decider, *ISSUED).when(MAIL).then(MAILED[-1])
    mailed = state(*MAILED)
    assert mailed.status == "mailed" and mailed.closed_at == at(120)


def test_mail_refusals() -> None:
    given(certificate_decider, *APPROVED).when(MAIL).then_refused("not_issued")
    given(certificate_decider, *MAILED).when(MAIL).then_refused("already_mailed")
    given(certificate_decider, *REJECTED).when(MAIL).then_refused("already_closed")
    given(certificate_decider, *ISSUED).when(MAIL.model_copy(update={"tracking_number": ""})).then_refused(
        "tracking_required"
    )


# --- cancelling --------------------------------------------------------------------------------


def test_cancel_a_draft() -> None:
    given(certificate_decider, *DRAFT).when(Cancel(at=at(11))).then(
        RequestCancelled(stage="draft", at=at(11))
    )


def test_cancel_before_payment_needs_no_refund() -> None:
    given(certificate_decider, *SUBMITTED).when(Cancel(at=at(11))).then(
        RequestCancelled(stage="submitted", at=at(11))
    )
    given(certificate_decider, *FAILED).when(Cancel(at=at(12))).then(
        RequestCancelled(stage="submitted", at=at(12))
    )


def test_cancel_after_payment_refunds() -> None:
    for history in (PAID, APPROVED):
        given(certificate_decider, *history).when(Cancel(at=at(70))).then(
            RequestCancelled(stage="submitted", at=at(70)),
            RefundRequested(payment_id="pay_1", amount=TOTAL, reason="cancelled", at=at(70)),
        )


def test_cancel_refusals() -> None:
    given(certificate_decider, *ISSUED).when(Cancel(at=at(100))).then_refused("already_issued")
    given(certificate_decider, *MAILED).when(Cancel(at=at(130))).then_refused("already_closed")
    given(certificate_decider, *CANCELLED_DRAFT).when(Cancel(at=at(12))).then_refused("already_closed")
    given(certificate_decider, *REJECTED).when(Cancel(at=at(70))).then_refused("already_closed")


# --- refunds -----------------------------------------------------------------------------------


def test_complete_a_refund_once() -> None:
    done = CompleteRefund(payment_id="pay_1", refund_id="re_1", amount=TOTAL, at=at(61))
    given(certificate_decider, *REJECTED).when(done).then(
        RefundCompleted(payment_id="pay_1", refund_id="re_1", amount=TOTAL, at=at(61))
    )
    completed = (*REJECTED, RefundCompleted(payment_id="pay_1", refund_id="re_1", amount=TOTAL, at=at(61)))
    given(certificate_decider, *completed).when(done).then()
    assert state(*completed).refunds_pending == {}


def test_refund_refusals() -> None:
    done = CompleteRefund(payment_id="pay_1", refund_id="re_1", amount=TOTAL, at=at(61))
    given(certificate_decider, *PAID).when(done).then_refused("no_refund_pending")
    given(certificate_decider, *REJECTED).when(done.model_copy(update={"amount": 1})).then_refused(
        "amount_mismatch"
    )


# --- the photo's retention ---------------------------------------------------------------------


def test_the_photo_is_purged_once_the_request_is_completed() -> None:
    purge = PurgePhoto(photo_id=PHOTO, reason="retention", at=at(9999))
    given(certificate_decider, *MAILED).when(purge).then(
        IdPhotoPurged(photo_id=PHOTO, reason="retention", at=at(9999))
    )
    given(certificate_decider, *MAILED, IdPhotoPurged(photo_id=PHOTO, reason="retention", at=at(9999))).when(
        purge
    ).then()
    given(certificate_decider, *PAID).when(purge).then_refused("not_completed")
    given(certificate_decider).when(purge).then_refused("not_started")


STORED_TYPES = {
    "cityhall.certificates.request_started.v1",
    "cityhall.certificates.option_chosen.v1",
    "cityhall.certificates.copies_chosen.v1",
    "cityhall.certificates.purpose_chosen.v1",
    "cityhall.certificates.requester_detail_given.v1",
    "cityhall.certificates.id_document_chosen.v1",
    "cityhall.certificates.id_photo_attached.v1",
    "cityhall.certificates.request_submitted.v1",
    "cityhall.certificates.payment_requested.v1",
    "cityhall.certificates.payment_confirmed.v1",
    "cityhall.certificates.payment_failed.v1",
    "cityhall.certificates.payment_expired.v1",
    "cityhall.certificates.draft_expired.v1",
    "cityhall.certificates.request_cancelled.v1",
    "cityhall.certificates.refund_requested.v1",
    "cityhall.certificates.refund_completed.v1",
    "cityhall.certificates.identity_approved.v1",
    "cityhall.certificates.identity_rejected.v1",
    "cityhall.certificates.certificate_issued.v1",
    "cityhall.certificates.certificate_mailed.v1",
    "cityhall.certificates.id_photo_purged.v1",
}


def test_the_event_types_declared_once_are_the_ones_stored() -> None:
    """Stored events name these types: the names derived from the classes must not drift."""
    declared = {
        cls.TYPE
        for cls in vars(events).values()
        if isinstance(cls, type) and issubclass(cls, events.CertificatesEvent) and cls.TYPE
    }
    assert declared == STORED_TYPES
