"""A verified webhook's events become intents in the gateway's store, and the bus accepts them.

All intents of one request are appended in one transaction, with the dialog updates that
routing made: a request is recorded completely or not at all. Each intent is its own
stream, `intent-<webhookEventId>`, and its envelope id is derived from `webhookEventId`,
so a redelivered event is a no-op append and publishes nothing new.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from cityhall.events.envelope import Envelope
from cityhall.events.store import NO_STREAM, EventStore
from cityhall.gateway.publication import Acceptances
from cityhall.gateway.routing import route
from cityhall.gateway.webhook import Received, WebhookReader
from cityhall.line.contracts import ResidentIntent, intent_id, intents_topic

log = logging.getLogger(__name__)

SOURCE = "/services/gateway"
BUDGET = 1.5
"""Seconds for recording and publishing a request's intents; LINE waits 2 s for the answer."""


class NotAccepted(Exception):
    """The intents were not recorded and accepted by the bus within the budget: answer 500."""


def stream_of(webhook_event_id: str) -> str:
    return f"intent-{webhook_event_id}"


def intent_envelope(event: Received, domain: str) -> Envelope:
    intent = ResidentIntent(
        webhook_event_id=event.webhook_event_id,
        user_id=event.user_id,
        domain=domain,
        kind=event.kind,
        timestamp=event.timestamp,
        reply_token=event.reply_token,
        is_redelivery=event.is_redelivery,
        text=event.text,
        message_id=event.message_id,
        location=event.location,
        postback_data=event.postback_data,
        postback_params=event.postback_params,
        raw=event.raw,
    )
    # Wrapped while the request's span is current, so the intent carries its traceparent.
    return Envelope.wrap(
        intent,
        source=SOURCE,
        subject=stream_of(event.webhook_event_id),
        id=intent_id(event.webhook_event_id),
        topic=intents_topic(domain),
        key=event.user_id,
    )


class Intake:
    def __init__(
        self,
        reader: WebhookReader,
        store: EventStore,
        acceptances: Acceptances,
        *,
        budget: float = BUDGET,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.reader = reader
        self.store = store
        self.acceptances = acceptances
        self.budget = budget
        self.clock = clock

    async def receive(self, body: bytes, signature: str | None) -> int:
        """Record the body's events as intents and wait until the bus accepted them.

        Returns how many events the body had that became intents. Raises `InvalidSignature` or
        `BadWebhook` (nothing recorded) or `NotAccepted`.
        """
        events = self.reader.read(body, signature)
        if not events:
            return 0
        ids = [intent_id(e.webhook_event_id) for e in events]
        try:
            async with asyncio.timeout(self.budget):
                with self.acceptances.expect(ids) as waiters:
                    await self._record(events)
                    await self.acceptances.wait(waiters)
        except TimeoutError:
            raise NotAccepted(f"the bus did not accept {len(ids)} intent(s) within {self.budget} s") from None
        return len(events)

    async def _record(self, events: list[Received]) -> None:
        now = self.clock()
        async with self.store.pool.acquire() as conn, conn.transaction():
            for event in events:
                domain = await route(conn, event, now)
                envelope = intent_envelope(event, domain)
                # NOTIFY after the commit, not in it: notifying commits serialise on one lock.
                await self.store.append(envelope.subject, NO_STREAM, [envelope], conn=conn, notify=False)
        self.store.notify()
