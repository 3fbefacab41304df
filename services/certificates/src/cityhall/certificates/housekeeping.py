"""The service's timers and errands, one background loop:

- a request not paid by its deadline (30 minutes after 確定) expires; the resident is told;
- a draft left without an answer for 30 minutes expires (a resident who blocked the account
  mid-flow leaves exactly that); the resident is told and the dialog released;
- refunds that are due go to the payment provider, then `RefundCompleted` is recorded;
- identity-document photos are deleted a retention period (default 30 days) after the request
  was completed, and at once for drafts that never got submitted.

Each errand reads the projections and acts through the decider, which refuses anything that
is no longer true (a payment that arrived, an answer given meanwhile), so a late projection
or two replicas sweeping at once do no harm.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cityhall.certificates import projections
from cityhall.certificates.domain import Request
from cityhall.certificates.events import (
    Command,
    CompleteRefund,
    ExpireDraft,
    ExpirePayment,
    PurgePhoto,
    request_stream,
)
from cityhall.events.db import Pool
from cityhall.events.decider import CommandHandler, DomainError
from cityhall.line.content import PhotoStore
from cityhall.payment_protocol.port import PaymentProvider, ProviderError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Timers:
    draft_idle: timedelta = timedelta(minutes=30)
    photo_retention: timedelta = timedelta(days=30)
    interval: float = 5.0
    batch: int = 100


@dataclass
class Swept:
    payments_expired: int = 0
    drafts_expired: int = 0
    refunds: int = 0
    photos_deleted: int = 0


class Housekeeping:
    def __init__(
        self,
        pool: Pool,
        requests: CommandHandler[Command, Request],
        photos: PhotoStore,
        provider: PaymentProvider,
        clock: Callable[[], datetime],
        timers: Timers | None = None,
    ) -> None:
        self.pool = pool
        self.requests = requests
        self.photos = photos
        self.provider = provider
        self.clock = clock
        self.timers = timers or Timers()

    async def run(self) -> None:
        while True:
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("housekeeping sweep failed; trying again")
            await asyncio.sleep(self.timers.interval)

    async def sweep(self) -> Swept:
        swept = Swept()
        swept.payments_expired = await self.expire_payments()
        swept.drafts_expired = await self.expire_drafts()
        swept.refunds = await self.refund()
        swept.photos_deleted = await self.purge_photos()
        return swept

    async def _try(self, request_id: uuid.UUID, command: Command) -> bool:
        try:
            decision = await self.requests.handle(request_stream(request_id), command)
        except DomainError as exc:
            log.debug("housekeeping: %s refused for %s: %s", type(command).__name__, request_id, exc.reason)
            return False
        return bool(decision.events)

    async def expire_payments(self) -> int:
        now = self.clock()
        due = await projections.payments_due(self.pool, now, limit=self.timers.batch)
        return sum([await self._try(request_id, ExpirePayment(at=now)) for request_id in due])

    async def expire_drafts(self) -> int:
        now = self.clock()
        idle = await projections.drafts_idle_since(
            self.pool, now - self.timers.draft_idle, limit=self.timers.batch
        )
        command = ExpireDraft(at=now, idle=self.timers.draft_idle)
        return sum([await self._try(request_id, command) for request_id in idle])

    async def refund(self) -> int:
        rows = await projections.refunds_due(self.pool, limit=self.timers.batch)
        done = 0
        for row in rows:
            try:
                refund = await self.provider.refund(row["payment_id"], row["amount"])
            except ProviderError as exc:
                log.warning("refund of %s not done yet: %s", row["payment_id"], exc)
                continue
            command = CompleteRefund(
                payment_id=refund.payment_id,
                refund_id=refund.refund_id,
                amount=refund.amount,
                at=self.clock(),
            )
            done += await self._try(row["request_id"], command)
        return done

    async def purge_photos(self) -> int:
        now = self.clock()
        rows = await projections.photos_due(
            self.pool, now - self.timers.photo_retention, limit=self.timers.batch
        )
        deleted = 0
        for row in rows:
            reason = "retention" if row["submitted_at"] is not None else "never_submitted"
            async with self.pool.acquire() as conn, conn.transaction():
                try:
                    decision = await self.requests.handle(
                        request_stream(row["request_id"]),
                        PurgePhoto(photo_id=row["photo_id"], reason=reason, at=now),
                        conn=conn,
                    )
                except DomainError:
                    continue
                if decision.events:
                    await self.photos.delete(conn, row["photo_id"])
                    deleted += 1
        return deleted
