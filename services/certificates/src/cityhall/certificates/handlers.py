"""The service's I/O around its pure parts: what it consumes and what the provider tells it.

- `Intents` (consumer of `intents.certificates`): runs the dialog (dialog.py) for each
  resident intent. Before the consumer's transaction (`prepare`) it fetches from the network
  what the dialog will ask for (the photo from LINE, a checkout from the provider), so that no
  transaction waits on a slow remote end; then, in the transaction, it loads the resident's
  session, fetches what else the dialog asks for (requests' states, decrypted and encrypted
  fields) and writes the turn (commands, session, reply, dialog claim or release).
- `Notices` (consumer of `events.certificates`): tells the resident about what happened to
  their request when it did not come from their own tap: 受付 after payment, 本人確認完了,
  発行, 発送, 差し戻し with the refund, payment failed or expired, refund done.
- `PaymentCallbacks`: the provider's signed notice in, `ConfirmPayment` / `FailPayment` out.

What clerks decide is the `Desk` (desk.py).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import datetime

from cityhall.certificates import messages as say
from cityhall.certificates.catalogue import Catalogue
from cityhall.certificates.dialog import (
    DOMAIN,
    Decrypt,
    Dialog,
    DialogSettings,
    Encrypt,
    Facts,
    LoadRequest,
    Missing,
    Need,
    OpenCheckout,
    ResidentRequests,
    Session,
    StorePhoto,
)
from cityhall.certificates.domain import Request
from cityhall.certificates.events import (
    REQUESTS,
    SOURCE,
    CertificateIssued,
    CertificateMailed,
    Command,
    ConfirmPayment,
    DraftExpired,
    FailPayment,
    IdentityApproved,
    IdentityRejected,
    PaymentConfirmed,
    PaymentExpired,
    PaymentFailed,
    RefundCompleted,
    RefundRequested,
    request_stream,
)
from cityhall.certificates.projections import resident_request_ids
from cityhall.certificates.resident import ResidentLinks
from cityhall.events.db import Connection, Pool
from cityhall.events.decider import CommandHandler, DomainError
from cityhall.events.envelope import Envelope, registry
from cityhall.events.personal import PersonalData
from cityhall.events.store import EventStore
from cityhall.line.content import Downloader, Photo, PhotoRefused, PhotoStore, sniff
from cityhall.line.contracts import (
    DialogLeft,
    DialogReleased,
    ResidentIntent,
    dialog_event,
)
from cityhall.line.dialog import Conversation, SessionStore, intent_of
from cityhall.line.dialog import Turn as DialogTurn
from cityhall.payment_protocol.port import CallbackResult, Checkout, PaymentProvider, ProviderError, received

log = logging.getLogger(__name__)

SESSIONS = SessionStore("dialog_sessions", Session)
"""Where each resident is in the request dialog (drafts expire through housekeeping)."""
MAX_FETCHES = 100
"""Facts one intent may need (the 申請状況 of ten requests needs eleven)."""
NETWORK_TIMEOUT = 20.0
"""Seconds a download from LINE or a checkout at the provider may take before it counts as failed."""

Fetched = bytes | PhotoRefused | Checkout | ProviderError
"""What `Intents.prepare` brought from the network: a photo's bytes or a checkout, or why not."""


class NotPrepared(Exception):
    """The turn needs a network fact its preparation did not fetch (the resident's session
    changed in between): the consumer retries the message, preparing it again."""


class Intents:
    """Runs the pure dialog for each intent, doing the I/O it asks for."""

    def __init__(
        self,
        *,
        catalogue: Catalogue,
        store: EventStore,
        requests: CommandHandler[Command, Request],
        personal: PersonalData,
        photos: PhotoStore,
        content: Downloader,
        provider: PaymentProvider,
        links: ResidentLinks,
        clock: Callable[[], datetime],
        settings: DialogSettings | None = None,
        network_timeout: float = NETWORK_TIMEOUT,
    ) -> None:
        self.dialog = Dialog(catalogue=catalogue, links=links, settings=settings)
        self.network_timeout = network_timeout
        self._prepared: dict[uuid.UUID, dict[Need, Fetched]] = {}
        self.store, self.requests, self.personal = store, requests, personal
        self.photos, self.content, self.provider, self.clock = photos, content, provider, clock
        self.conversation: Conversation[Session, Command] = Conversation(
            domain=DOMAIN, source=SOURCE, store=store, clock=clock, sessions=SESSIONS, commands=requests
        )

    async def prepare(self, envelope: Envelope, pool: Pool) -> None:
        """Outside any transaction: run the dialog as far as it goes without writing and fetch
        what it asks of LINE or the provider, for `on_intent` to record."""
        intent = self._intent(envelope)
        if intent is None:
            return
        async with pool.acquire() as conn:
            session = await SESSIONS.load(conn, intent.user_id, now=self.clock())
        facts = Facts(now=self.clock())
        fetched: dict[Need, Fetched] = {}
        for _ in range(MAX_FETCHES):
            try:
                self.dialog.decide(session, intent, envelope, facts)
                break
            except Missing as missing:
                need = missing.need
                if isinstance(need, StorePhoto | OpenCheckout):
                    fetched[need] = await self._from_network(need)
                    facts.known[need] = _as_recorded(need, fetched[need])
                else:
                    async with pool.acquire() as conn:
                        facts.known[need] = await self._fetch(need, intent, conn, {})
        if fetched:
            self._prepared[envelope.id] = fetched

    async def _from_network(self, need: StorePhoto | OpenCheckout) -> Fetched:
        try:
            async with asyncio.timeout(self.network_timeout):
                if isinstance(need, StorePhoto):
                    return await self.content.download(need.message_id)
                return await self.provider.create_checkout(
                    need.request_id, need.amount, need.return_url, attempt=need.attempt
                )
        except PhotoRefused as refused:
            return refused
        except ProviderError as failed:
            return failed
        except TimeoutError:
            log.warning("%s timed out after %.0f s", type(need).__name__, self.network_timeout)
            if isinstance(need, StorePhoto):
                return PhotoRefused("unavailable")  # the resident is asked to send it again
            return ProviderError("the payment provider did not answer in time")

    @staticmethod
    def _intent(envelope: Envelope) -> ResidentIntent | None:
        """The intent the dialog answers; None for what it leaves alone."""
        intent = intent_of(envelope)
        if intent is None or intent.kind in ("follow", "unfollow"):
            return None  # notify keeps the friend registry; a blocked resident's draft simply expires
        return intent

    async def on_intent(self, envelope: Envelope, conn: Connection) -> None:
        if envelope.type == DialogLeft.TYPE:
            await self._left(envelope, conn)
            return
        prepared = self._prepared.pop(envelope.id, {})
        intent = self._intent(envelope)
        if intent is None:
            return
        session = (await self.conversation.begin(conn, envelope, intent)).session
        facts = Facts(now=self.clock())
        for _ in range(MAX_FETCHES):
            try:
                turn = self.dialog.decide(session, intent, envelope, facts)
                break
            except Missing as missing:
                facts.known[missing.need] = await self._fetch(missing.need, intent, conn, prepared)
        else:
            raise RuntimeError(f"intent {envelope.id} needed more than {MAX_FETCHES} facts")
        try:
            await self.conversation.finish(conn, turn)
        except DomainError as exc:
            # A clerk or the provider changed the request since it was read: nothing was written.
            log.info("intent %s for %s refused: %s", envelope.id, intent.user_id, exc.reason)
            closed = DialogTurn[Session, Command](intent, envelope)
            closed.say(say.request_closed())
            await self.conversation.finish(conn, closed)
            return
        for photo_id in turn.discarded_photos:
            await self.photos.delete(conn, photo_id)

    async def _fetch(
        self, need: Need, intent: ResidentIntent, conn: Connection, prepared: dict[Need, Fetched]
    ) -> object:
        match need:
            case LoadRequest(request_id=request_id):
                state, _version = await self.requests.load(request_stream(request_id), conn=conn)
                return state
            case ResidentRequests(limit=limit):
                return await resident_request_ids(conn, intent.user_id, limit=limit)
            case Decrypt(token=token):
                return await self.personal.decrypt(token, conn=conn)
            case Encrypt(value=value):
                return await self.personal.encrypt(intent.user_id, value, conn=conn)
            case StorePhoto() | OpenCheckout() if need not in prepared:
                raise NotPrepared(f"{need} was not fetched before the transaction")
            case StorePhoto():
                data = prepared[need]
                if not isinstance(data, bytes):
                    return data
                try:
                    return await self.photos.put(
                        conn,
                        user_id=intent.user_id,
                        owner=need.request_id,
                        data=data,
                        photo_id=need.photo_id,
                    )
                except PhotoRefused as refused:
                    return refused
            case OpenCheckout():
                return prepared[need]

    async def _left(self, envelope: Envelope, conn: Connection) -> None:
        """The resident tapped another domain's tile mid-request: the draft stays, say how to go on."""
        left = envelope.event()
        if not isinstance(left, DialogLeft):
            raise TypeError(f"{envelope.type} did not load as a DialogLeft")
        if await SESSIONS.load(conn, left.user_id) is None:
            return  # nothing unfinished
        # A push: the postback's reply token belongs to the domain the resident went to.
        key = f"certificates:left:{left.webhook_event_id}"
        await self.conversation.send(conn, left.user_id, [say.draft_kept()], key=key, caused_by=envelope)


def _as_recorded(need: StorePhoto | OpenCheckout, fetched: Fetched) -> object:
    """What `on_intent` will know once it has recorded `fetched` (a photo is checked, not stored)."""
    if isinstance(need, StorePhoto) and isinstance(fetched, bytes):
        try:
            return Photo(need.photo_id, sniff(fetched), len(fetched))
        except PhotoRefused as refused:
            return refused
    return fetched


class Notices:
    def __init__(
        self, conversation: Conversation[Session, Command], requests: CommandHandler[Command, Request]
    ) -> None:
        self.conversation = conversation
        self.requests = requests

    async def on_event(self, envelope: Envelope, conn: Connection) -> None:
        if REQUESTS.id_of(envelope.subject) is None or not registry.knows(envelope.type):
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
                release = await SESSIONS.end(conn, state.user_id, request_id=state.request_id)
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
        if messages:
            key = f"certificates:notice:{envelope.id}"
            await self.conversation.send(conn, state.user_id, messages, key=key, caused_by=envelope)
        if release:
            released = DialogReleased(user_id=state.user_id, domain=DOMAIN)
            out = dialog_event(released, source=SOURCE, caused_by=envelope)
            await self.conversation.store.append(out.subject, None, [out], conn=conn)


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
        notice = received(self.provider, body, signature)
        if isinstance(notice, CallbackResult):
            return notice
        stream = request_stream(notice.reference)
        command: ConfirmPayment | FailPayment
        if notice.kind == "paid" and notice.payment_id:
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
