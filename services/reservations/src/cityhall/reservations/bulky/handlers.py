"""Bulky waste's I/O: the checkout opened before 確定して支払う's transaction, the pickup's
commands, the provider's signed notice, what residents are told, and the sweep (unpaid pickups
released at the hold's end, refunds made).

- `prepare` (before the intents consumer's transaction): for 確定して支払う, the checkout for the
  session's fee, so that no transaction waits on the provider.
- `callback`: a verified notice becomes `Pay` on the pickup (a forged one is 400 and changes
  nothing, a replayed one is recognised by its payment id).
- `on_event` (consumer of `events.reservations`): a cancelled seat withdraws its pickup (refund
  due when paid), whoever cancelled it; paid → the 受付番号; expired, refunds → the resident told.
- `sweep`: unpaid past the hold → expired with its seat released, in one transaction; refunds
  due → through the provider, then recorded.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING, Any

from linebot.v3.messaging import Message

from cityhall.events.db import Connection, Pool
from cityhall.events.decider import CommandHandler, Decision, DomainError
from cityhall.events.envelope import Envelope
from cityhall.line import postback
from cityhall.line.contracts import ResidentIntent
from cityhall.line.dialog import intent_of
from cityhall.payment_protocol.port import CallbackResult, Checkout, PaymentProvider, ProviderError, received
from cityhall.reservations.bulky import dialog as bulky
from cityhall.reservations.bulky import messages as tell
from cityhall.reservations.bulky import projections
from cityhall.reservations.bulky.domain import Pickup, pickup_decider
from cityhall.reservations.bulky.events import (
    CompleteRefund,
    Expire,
    Pay,
    PickupCommand,
    PickupExpired,
    PickupOrdered,
    PickupPaid,
    PickupRefunded,
    PickupWithdrawn,
    RefundDue,
    Withdraw,
    pickup_stream,
)
from cityhall.reservations.bulky.prices import PriceList, fee
from cityhall.reservations.catalogue import SlotRef
from cityhall.reservations.dialog import Turn
from cityhall.reservations.events import SOURCE, BookingCancelled, Cancel

if TYPE_CHECKING:
    from cityhall.reservations.handlers import Reservations

log = logging.getLogger(__name__)
NETWORK_TIMEOUT = 20.0
"""Seconds the provider may take to open a checkout or refund before it counts as failed."""
UNPAID = "system"
"""Who cancels a seat whose pickup was not paid in time (the bookings' `cancelled_by`)."""


class Pickups:
    def __init__(
        self,
        service: Reservations,
        prices: PriceList,
        provider: PaymentProvider,
        return_url: str,
        *,
        network_timeout: float = NETWORK_TIMEOUT,
    ) -> None:
        prices.check(service.catalogue)
        self.service, self.prices, self.provider, self.return_url = service, prices, provider, return_url
        self.network_timeout = network_timeout
        self.pickups: CommandHandler[PickupCommand, Pickup] = CommandHandler(
            service.store, pickup_decider, source=SOURCE
        )
        self._prepared: dict[uuid.UUID, Checkout | ProviderError] = {}

    @property
    def pool(self) -> Pool:
        return self.service.pool

    # The resident's turn.

    def prepares(self, envelope: Envelope) -> bool:
        """Whether `prepare` has a checkout to open for this intent (a tap on 確定して支払う): the
        consumer then handles it on its own, outside its batches."""
        return _payment_tap(envelope) is not None

    async def prepare(self, envelope: Envelope, pool: Pool) -> None:
        """Outside any transaction: the checkout 確定して支払う will record."""
        tap = _payment_tap(envelope)
        if tap is None:
            return
        intent, tapped = tap
        sessions = self.service.conversation.sessions
        if sessions is None:
            return
        async with pool.acquire() as conn:
            session = await sessions.load(conn, intent.user_id, now=self.service.clock())
        if session is None or session.draft != tapped.uuid("d") or session.step != bulky.CONFIRM:
            return  # a double tap or a stale button: the dialog answers without a checkout
        amount = fee(self.prices.lines(session.cart))
        attempt = bulky.checkout_attempt(session)
        try:
            async with asyncio.timeout(self.network_timeout):
                checkout: Checkout | ProviderError = await self.provider.create_checkout(
                    session.draft, amount, self.return_url, attempt=attempt
                )
        except ProviderError as failed:
            checkout = failed
        except TimeoutError:
            checkout = ProviderError("the payment provider did not answer in time")
        if isinstance(checkout, ProviderError):
            log.warning("checkout for pickup %s not opened: %s", session.draft, checkout)
        self._prepared[envelope.id] = checkout

    async def facts(self, conn: Connection, turn: Turn) -> bulky.Facts:
        intent = turn.intent
        tapped = postback.decode(intent.postback_data) if intent.kind == "postback" else None
        if tapped is None or tapped.action != "bk_pay":
            return bulky.Facts(self.prices)
        draft = tapped.uuid("d")
        pickup = (await self.pickups.load(pickup_stream(draft), conn=conn))[0] if draft else None
        return bulky.Facts(self.prices, self._prepared.pop(turn.envelope.id, None), pickup)

    async def decide(
        self, conn: Connection, stream: str, command: PickupCommand, *, caused_by: Envelope | None = None
    ) -> Decision[Pickup]:
        return await self.pickups.handle(stream, command, caused_by=caused_by, conn=conn)

    # The provider.

    async def callback(self, body: bytes, signature: str | None) -> CallbackResult:
        """400 for a forged notice (nothing changes), 200 for a genuine one, also when replayed."""
        notice = received(self.provider, body, signature)
        if isinstance(notice, CallbackResult):
            return notice
        stream = pickup_stream(notice.reference)
        async with self.pool.acquire() as conn, conn.transaction():
            state, _version = await self.pickups.load(stream, conn=conn)
            if state.status == "new":
                return CallbackResult(404, "no such pickup")
            if notice.kind == "paid" and notice.payment_id:
                pay = Pay(payment_id=notice.payment_id, checkout_id=notice.checkout_id, amount=notice.amount)
                recorded = bool((await self.pickups.handle(stream, pay, conn=conn)).events)
            else:  # that checkout can no longer be paid: the seat is freed now, not at the hold's end
                why = "failed" if notice.kind == "failed" else "cancelled"
                ended = Expire(now=self.service.clock(), reason=why, checkout_id=notice.checkout_id)
                recorded = await self._release(conn, notice.reference, ended)
        return CallbackResult(200, "recorded" if recorded else "already recorded")

    # What residents are told, and what a cancelled seat does to its pickup.

    async def on_event(self, envelope: Envelope, conn: Connection) -> None:
        event = envelope.event()
        match event:
            case BookingCancelled():
                stream = pickup_stream(event.booking_id)
                state, _version = await self.pickups.load(stream, conn=conn)
                if state.status in ("unpaid", "paid"):
                    who = event.by or event.user_id
                    await self.pickups.handle(stream, Withdraw(by=who), caused_by=envelope, conn=conn)
            case PickupPaid():
                ordered = await self._ordered(conn, event.booking_id)
                resource = self.service.catalogue.resource(ordered.resource) if ordered else None
                if ordered is not None and resource is not None:
                    ref = SlotRef(resource.code, ordered.start)
                    here = await self._where(conn, ref, event.booking_id)
                    messages = tell.receipt(
                        ordered.number, resource, ref, ordered.lines, event.booking_id, here
                    )
                    await self.service.push(
                        conn, event.user_id, messages, f"bulky-paid:{event.payment_id}", envelope
                    )
            case PickupExpired():
                ordered = await self._ordered(conn, event.booking_id)
                if ordered is not None:
                    ref = SlotRef(ordered.resource, ordered.start)
                    messages = tell.expired(ref, event.reason)
                    await self.service.push(
                        conn, event.user_id, messages, f"bulky-expired:{event.booking_id}", envelope
                    )
            case PickupWithdrawn() if event.paid:
                ordered = await self._ordered(conn, event.booking_id)
                if ordered is not None:
                    messages = tell.refund_coming(ordered.number, ordered.fee)
                    await self.service.push(
                        conn, event.user_id, messages, f"bulky-withdrawn:{event.booking_id}", envelope
                    )
            case RefundDue() if event.reason != "cancelled":
                messages = tell.late_payment(event.amount, event.reason)
                await self.service.push(
                    conn, event.user_id, messages, f"bulky-refund-due:{event.payment_id}", envelope
                )
            case PickupRefunded():
                ordered = await self._ordered(conn, event.booking_id)
                messages = tell.refunded(ordered.number if ordered else "", event.amount)
                await self.service.push(
                    conn, event.user_id, messages, f"bulky-refunded:{event.payment_id}", envelope
                )

    async def _where(self, conn: Connection, ref: SlotRef, booking_id: uuid.UUID) -> tell.Where:
        """The pickup's address and phone, read from its booking's sealed answers."""
        made = await self.service.booking_made(conn, ref, booking_id)
        sealed: dict[str, str] = made.data.get("answers") or {}
        clear = {k: await self.service.personal.decrypt(v, conn=conn) for k, v in sealed.items()}
        return bulky.where(self.prices.district_of(ref.resource) or "", clear)

    async def reminder(
        self, conn: Connection, number: str, ref: SlotRef, booking_id: uuid.UUID
    ) -> list[Message] | None:
        """The day before a pickup: its items, its address, by what time (None: no pickup ordered)."""
        resource = self.service.catalogue.resource(ref.resource)
        ordered = await self._ordered(conn, booking_id)
        if resource is None or ordered is None:
            return None
        return tell.reminder(number, resource, ref, ordered.lines, await self._where(conn, ref, booking_id))

    async def _ordered(self, conn: Connection, booking_id: uuid.UUID) -> PickupOrdered | None:
        for recorded in await self.service.store.read_stream(pickup_stream(booking_id), conn=conn):
            if recorded.type == PickupOrdered.TYPE:
                ordered = recorded.envelope.event()
                return ordered if isinstance(ordered, PickupOrdered) else None
        return None

    async def _release(self, conn: Connection, booking_id: uuid.UUID, command: Expire) -> bool:
        """End an unpaid pickup and free its seat, in the caller's transaction; False when it is
        not unpaid any more (paid, or ended already)."""
        decision = await self.pickups.handle(pickup_stream(booking_id), command, conn=conn)
        state = decision.state
        resource = self.service.catalogue.resource(state.resource)
        if not decision.events or resource is None or state.start is None:
            return False
        why = "お支払いの期限切れ" if command.reason == "timeout" else "お支払いが完了しなかったため"
        cancel = Cancel(
            booking_id=booking_id, user_id=None, by=UNPAID, reason=why, capacity=resource.capacity,
            hold_hours=resource.hold_hours, now=command.now,
        )  # fmt: skip
        try:
            await self.service.decide(
                conn, SlotRef(resource.code, state.start).stream, cancel, tell_cancelled=False
            )
        except DomainError as exc:  # a clerk cancelled it already: the seat is free
            log.info("unpaid pickup %s: seat not cancelled: %s", booking_id, exc.reason)
        return True

    # The staff's list.

    async def annotate(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        """Each booking of a day's list that is a pickup gets `pickup`: items, fee, payment."""
        found = await projections.of_bookings(conn, [r["booking_id"] for r in rows])
        for row in rows:
            pickup = found.get(row["booking_id"])
            if pickup is not None:
                items = "、".join(f"{line['name']}×{line['count']}" for line in pickup["lines"])
                here = bulky.where(self.prices.district_of(row["resource"]) or "", row["answers"])
                row["pickup"] = {
                    "items": items, "fee": pickup["fee"], "payment": projections.payment(pickup),
                    "address": here.address, "phone": here.phone,
                }  # fmt: skip

    # The sweep.

    async def sweep(self) -> int:
        """One pass: unpaid pickups past their hold released; refunds made. Returns how many."""
        now, done = self.service.clock(), 0
        for booking_id in await projections.unpaid_due(self.pool, now):
            async with self.pool.acquire() as conn, conn.transaction():
                done += await self._release(conn, booking_id, Expire(now=now))
        for row in await projections.refunds_due(self.pool):
            try:
                async with asyncio.timeout(self.network_timeout):
                    refund = await self.provider.refund(row["payment_id"], row["amount"])
            except (ProviderError, TimeoutError) as exc:
                log.warning("refund of %s not done yet: %r", row["payment_id"], exc)
                continue
            command = CompleteRefund(payment_id=refund.payment_id, refund_id=refund.refund_id)
            async with self.pool.acquire() as conn, conn.transaction():
                refunded = await self.pickups.handle(pickup_stream(row["booking_id"]), command, conn=conn)
            done += bool(refunded.events)
        return done


def _payment_tap(envelope: Envelope) -> tuple[ResidentIntent, postback.Postback] | None:
    """The intent and its postback if it is a tap on 確定して支払う (a checkout to open), else None."""
    intent = intent_of(envelope)
    if intent is None or intent.kind != "postback":
        return None
    tapped = postback.decode(intent.postback_data)
    return (intent, tapped) if tapped is not None and tapped.action == "bk_pay" else None
