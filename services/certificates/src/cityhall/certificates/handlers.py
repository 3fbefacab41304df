"""Wiring: what the service consumes, what the provider tells it, and what clerks decide.

- `Notices` (consumer of `events.certificates`): tells the resident about what happened to
  their request when it did not come from their own tap: 受付 after payment, 本人確認完了,
  発行, 発送, 差し戻し with the refund, payment failed or expired, refund done.
- `PaymentCallbacks`: the provider's signed notice in, `ConfirmPayment` / `FailPayment` out.
- `Desk`: the dashboard's commands (approve, reject, issue, mail, forget), each recorded in
  the audit log in the same transaction.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cityhall.certificates import messages as say
from cityhall.certificates.catalogue import Catalogue
from cityhall.certificates.domain import Request
from cityhall.certificates.events import (
    CATEGORY,
    SOURCE,
    Approve,
    CertificateIssued,
    CertificateMailed,
    Command,
    ConfirmPayment,
    DraftExpired,
    FailPayment,
    IdentityApproved,
    IdentityRejected,
    Issue,
    Mail,
    PaymentConfirmed,
    PaymentExpired,
    PaymentFailed,
    RefundCompleted,
    RefundRequested,
    Reject,
    request_stream,
)
from cityhall.certificates.payments import ForgedCallback, PaymentProvider
from cityhall.certificates.photos import PhotoStore
from cityhall.events.db import Connection, Pool
from cityhall.events.decider import CommandHandler, Decision, DomainError
from cityhall.events.envelope import Envelope, registry
from cityhall.events.personal import PersonalData
from cityhall.events.store import EventStore
from cityhall.line.contracts import DialogReleased, dialog_event, outbound_message
from cityhall.web import StaffUser, record_view

log = logging.getLogger(__name__)

DEPARTMENT = "certificates"


class Notices:
    def __init__(self, store: EventStore, requests: CommandHandler[Command, Request]) -> None:
        self.store = store
        self.requests = requests

    async def on_event(self, envelope: Envelope, conn: Connection) -> None:
        if not envelope.subject.startswith(CATEGORY + "-") or not registry.knows(envelope.type):
            return
        event = envelope.event()
        state, _version = await self.requests.load(envelope.subject, conn=conn)
        if not state.user_id:
            return
        messages = []
        release = False
        match event:
            case PaymentConfirmed() if state.payment_id == event.payment_id:
                messages.append(say.received(state))
            case PaymentFailed() if state.status == "payment_failed" and state.checkouts[-1:] == (
                event.checkout_id,
            ):
                messages.append(say.payment_failed(state))
            case PaymentExpired():
                messages.append(say.payment_expired(state))
            case DraftExpired():
                messages.append(say.draft_expired())
                deleted: str = await conn.execute(
                    "DELETE FROM dialog_sessions WHERE user_id = $1 AND request_id = $2",
                    state.user_id,
                    state.request_id,
                )
                release = deleted.endswith(" 1")
            case IdentityApproved():
                messages.append(say.identity_confirmed(state))
            case IdentityRejected():
                messages.append(say.rejected(state, event.reason_label, event.note))
            case CertificateIssued():
                messages.append(say.issued(state))
            case CertificateMailed():
                messages.append(say.mailed(state, event.tracking_number))
            case RefundRequested() if event.reason in ("late_payment", "duplicate_payment"):
                messages.append(say.late_payment_refund(state, event.amount, event.reason))
            case RefundCompleted():
                messages.append(say.refunded(state, event.amount))
        out: list[Envelope] = []
        if messages:
            out.append(
                outbound_message(
                    to=state.user_id,
                    messages=messages,
                    source=SOURCE,
                    idempotency_key=f"certificates:notice:{envelope.id}",
                    caused_by=envelope,
                )
            )
        if release:
            out.append(
                dialog_event(
                    DialogReleased(user_id=state.user_id, domain="certificates"),
                    source=SOURCE,
                    caused_by=envelope,
                )
            )
        for answer in out:
            await self.store.append(answer.subject, None, [answer], conn=conn)


@dataclass(frozen=True)
class CallbackResult:
    status: int
    message: str


class PaymentCallbacks:
    def __init__(
        self,
        pool: Pool,
        requests: CommandHandler[Command, Request],
        provider: PaymentProvider,
        clock: Callable[[], datetime],
    ) -> None:
        self.pool = pool
        self.requests = requests
        self.provider = provider
        self.clock = clock

    async def receive(self, body: bytes, signature: str | None) -> CallbackResult:
        """400 for a forged notice (nothing changes), 200 for a genuine one, also when replayed."""
        try:
            notice = self.provider.verify_callback(body, signature)
        except ForgedCallback as exc:
            log.warning("payment callback refused: %s", exc)
            return CallbackResult(400, "invalid signature or body")
        stream = request_stream(notice.reference)
        command: ConfirmPayment | FailPayment
        if notice.kind == "paid":
            if not notice.payment_id:
                return CallbackResult(400, "a paid notice needs a payment_id")
            command = ConfirmPayment(
                payment_id=notice.payment_id,
                checkout_id=notice.checkout_id,
                amount=notice.amount,
                at=self.clock(),
            )
        else:
            command = FailPayment(checkout_id=notice.checkout_id, reason=notice.kind, at=self.clock())
        async with self.pool.acquire() as conn, conn.transaction():
            state, _version = await self.requests.load(stream, conn=conn)
            if state.status == "new":
                return CallbackResult(404, "no such request")
            try:
                decision = await self.requests.handle(stream, command, conn=conn)
            except DomainError as exc:
                log.error("payment notice %s for %s refused: %s", notice.notice_id, stream, exc)
                return CallbackResult(409, exc.reason)
        return CallbackResult(200, "recorded" if decision.events else "already recorded")


class Desk:
    """What clerks do from the dashboard. Each decision is audited with who and when."""

    def __init__(
        self,
        pool: Pool,
        requests: CommandHandler[Command, Request],
        catalogue: Catalogue,
        personal: PersonalData,
        photos: PhotoStore,
        clock: Callable[[], datetime],
    ) -> None:
        self.pool = pool
        self.requests = requests
        self.catalogue = catalogue
        self.personal = personal
        self.photos = photos
        self.clock = clock

    async def _decide(
        self, user: StaffUser, request_id: uuid.UUID, command: Command, action: str, detail: dict[str, Any]
    ) -> Decision[Request]:
        stream = request_stream(request_id)
        async with self.pool.acquire() as conn, conn.transaction():
            state, _version = await self.requests.load(stream, conn=conn)
            if state.status == "new":
                raise DomainError("not_started", "no such request")
            decision = await self.requests.handle(stream, command, conn=conn)
            await record_view(conn, user, action, stream, detail, department=DEPARTMENT)
        return decision

    async def approve(self, user: StaffUser, request_id: uuid.UUID) -> Decision[Request]:
        return await self._decide(
            user, request_id, Approve(by=user.username, at=self.clock()), "approve_identity", {}
        )

    async def reject(
        self, user: StaffUser, request_id: uuid.UUID, reason_code: str, note: str
    ) -> Decision[Request]:
        reason = self.catalogue.rejection_reason(reason_code)
        if reason is None:
            raise DomainError("reason_required", "choose a reason from the list")
        command = Reject(
            by=user.username,
            reason_code=reason.code,
            reason_label=reason.label,
            note=note[:500],
            at=self.clock(),
        )
        return await self._decide(user, request_id, command, "reject_identity", {"reason": reason.code})

    async def issue(self, user: StaffUser, request_id: uuid.UUID, serial: str) -> Decision[Request]:
        command = Issue(serial=serial[:64], by=user.username, at=self.clock())
        return await self._decide(
            user, request_id, command, "issue_certificate", {"serial": serial.strip()[:64]}
        )

    async def mail(self, user: StaffUser, request_id: uuid.UUID, tracking_number: str) -> Decision[Request]:
        command = Mail(tracking_number=tracking_number[:64], by=user.username, at=self.clock())
        return await self._decide(
            user, request_id, command, "mail_certificate", {"tracking_number": tracking_number.strip()[:64]}
        )

    async def forget(self, user: StaffUser, resident: str, *, number: str | None = None) -> int:
        """Crypto-shred a resident: their key goes (every personal field unreadable), photos deleted.
        `number`: the request the resident was found by, kept in the audit log."""
        async with self.pool.acquire() as conn, conn.transaction():
            await self.personal.forget(resident, conn=conn)
            deleted = await self.photos.delete_resident(conn, resident)
            await record_view(
                conn,
                user,
                "forget_resident",
                f"resident-{resident}",
                {"photos_deleted": deleted} | ({"number": number} if number else {}),
                department=DEPARTMENT,
            )
        return deleted
