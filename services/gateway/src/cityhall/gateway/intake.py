"""A verified webhook's events become intents in the gateway's store, and the bus accepts them.

All intents of one request are appended in one transaction, with the dialog updates that
routing made: a request is recorded completely or not at all. Each intent is its own
stream, `intent-<webhookEventId>`, and its envelope id is derived from `webhookEventId`,
so a redelivered event is a no-op append and publishes nothing new.

An intent for a domain that no running service consumes (`served`) is answered here, in the
same transaction: the answer (`answers.py`) is an `OutboundMessageRequested` with the
intent's reply token, appended to this store, which is the gateway's outbox too. A postback
that takes a resident out of a served domain's dialog also tells that domain (`DialogLeft`).
Neither costs a round trip: they join the intents' one statement.

Requests that arrive together share a transaction (group commit, `Coalescer`): under load,
one transaction with a few statements records the intents of many requests, instead of a
transaction per request. A batch that fails is written again one request at a time, so a
request can only fail on its own account.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client import Counter

from cityhall.events.coalescer import Coalescer
from cityhall.events.db import unflushed_transaction
from cityhall.events.envelope import Envelope
from cityhall.events.store import EventStore, Position
from cityhall.events.telemetry import current_traceparent
from cityhall.gateway.answers import answer
from cityhall.gateway.declared import DOMAINS
from cityhall.gateway.publication import Acceptances
from cityhall.gateway.routing import Dialog, load_dialogs, route, save_dialogs
from cityhall.gateway.webhook import Received, WebhookReader
from cityhall.line.contracts import (
    DialogLeft,
    ResidentIntent,
    intent_id,
    intents_topic,
    outbound_message,
)
from cityhall.line.dialog import IDLE

log = logging.getLogger(__name__)

INTENTS = Counter(
    "cityhall_gateway_intents",
    "Resident intents recorded, by the domain they were routed to (a redelivered event counts again).",
    ["domain"],
)

UNSERVED = Counter(
    "cityhall_gateway_unserved_intents",
    "Intents for a domain that no running service consumes; the gateway answered them itself.",
    ["domain"],
)

SOURCE = "/services/gateway"
BUDGET = 1.5
"""Seconds for recording and publishing a request's intents; LINE waits 2 s for the answer."""
MAX_BATCH = 200
"""Requests recorded in one transaction at most."""
GATHER = 0.005
"""Seconds the writer waits before each transaction for more requests to join it. At 1,000
requests/s, each transaction then records ~8 requests instead of ~3, and the relay publishes
fewer, larger batches: the gateway's CPU went from 81-83 % of a core (2 ms) to 68-74 % (5 ms);
10 ms saved ~10 points more but added 5 ms to every answer (bench/RESULTS.md, 2026-12-03)."""


class NotAccepted(Exception):
    """The intents were not recorded and accepted by the bus within the budget: answer 500."""


def stream_of(webhook_event_id: str) -> str:
    return f"intent-{webhook_event_id}"


def resident_intent(event: Received, domain: str) -> ResidentIntent:
    return ResidentIntent(
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


def intent_envelope(intent: ResidentIntent, traceparent: str | None) -> Envelope:
    return Envelope.wrap(
        intent,
        source=SOURCE,
        traceparent=traceparent,
        subject=stream_of(intent.webhook_event_id),
        id=intent_id(intent.webhook_event_id),
        topic=intents_topic(intent.domain),
        key=intent.user_id,
    )


def left_envelope(intent: ResidentIntent, left: str, caused_by: Envelope) -> Envelope:
    """Tells `left` that this intent's postback took the resident out of its dialog."""
    notice = DialogLeft(
        user_id=intent.user_id,
        domain=left,
        to_domain=intent.domain,
        webhook_event_id=intent.webhook_event_id,
        timestamp=intent.timestamp,
    )
    return Envelope.wrap(
        notice,
        source=SOURCE,
        subject=f"dialogLeft-{intent.webhook_event_id}",
        id=uuid.uuid5(caused_by.id, "dialog-left"),
        caused_by=caused_by,
        topic=intents_topic(left),
        key=intent.user_id,
    )


@dataclass(frozen=True)
class _Request:
    events: list[Received]
    traceparent: str | None  # the webhook request's span, for the intents to carry


class Intake:
    def __init__(
        self,
        reader: WebhookReader,
        store: EventStore,
        acceptances: Acceptances,
        *,
        budget: float = BUDGET,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        wake_relay: Callable[[], None] | None = None,
        served: Collection[str] = DOMAINS,
    ) -> None:
        self.reader = reader
        self.served = frozenset(served)
        """The domains some running service consumes; the gateway answers intents to the others."""
        self.store = store
        self.wake_relay = wake_relay or store.notify
        """Called after each commit; by default the store's NOTIFY."""
        self.acceptances = acceptances
        self.budget = budget
        self.clock = clock
        self._writes: Coalescer[_Request, Position] = Coalescer(
            self._write, max_batch=MAX_BATCH, gather=GATHER
        )

    async def receive(self, body: bytes, signature: str | None) -> int:
        """Record the body's events as intents and wait until the bus accepted them.

        Returns how many events the body had that became intents. Raises `InvalidSignature` or
        `BadWebhook` (nothing recorded) or `NotAccepted`.
        """
        events = self.reader.read(body, signature)
        if not events:
            return 0
        try:
            async with asyncio.timeout(self.budget):
                # The position of the request's last intent, once the group commit recorded it.
                position = await self._writes.submit(_Request(events, current_traceparent()))
                await self.acceptances.wait(position)
        except TimeoutError:
            raise NotAccepted(
                f"the bus did not accept {len(events)} intent(s) within {self.budget} s"
            ) from None
        return len(events)

    async def _write(self, batch: list[_Request]) -> list[Position]:
        """One transaction: route every event in arrival order, save the dialogs, append the intents."""
        now = self.clock()
        unique = {e.webhook_event_id: (e, r.traceparent) for r in reversed(batch) for e in reversed(r.events)}
        events = list(reversed(unique.values()))  # the first of each webhookEventId, in arrival order
        # No waiting for the WAL flush: LINE gets its 200 only once Kafka has acknowledged the
        # intents, so the bus, not this commit, makes the answer safe. A commit lost in a crash
        # before the relay read it was never answered 200, and LINE redelivers it; one lost
        # after it was published is on the bus already, and intent ids derive from
        # webhookEventId, so a republished intent is the same message to consumers.
        async with self.store.pool.acquire() as conn, unflushed_transaction(conn):
            before = await load_dialogs(conn, {event.user_id for event, _ in events})
            dialogs: dict[str, Dialog | None] = dict(before)
            envelopes = {}  # by webhookEventId: the intent and what it brings about
            for event, traceparent in events:
                envelopes[event.webhook_event_id] = self._route(event, traceparent, dialogs, now)
            await save_dialogs(conn, before, dialogs)
            positions = await self.store.start_streams(
                [e for group in envelopes.values() for e in group], conn=conn
            )
        # After the commit, not in it: notifying commits serialise on one lock.
        self.wake_relay()
        for group in envelopes.values():  # counted once recorded: a failed batch is written again
            domain = group[0].data["domain"]
            INTENTS.labels(domain).inc()
            if domain not in self.served:
                UNSERVED.labels(domain=domain).inc()
                log.warning("no running service consumes intents.%s: the gateway answered it", domain)
        return [
            max(positions[e.id] for event in r.events for e in envelopes[event.webhook_event_id])
            for r in batch
        ]

    def _route(
        self, event: Received, traceparent: str | None, dialogs: dict[str, Dialog | None], now: datetime
    ) -> list[Envelope]:
        """The intent's envelope, then a notice to the dialog it leaves and the answer it gets."""
        previous = dialogs.get(event.user_id)
        domain, after = route(previous, event, now)
        if after is not None and after.domain not in self.served:
            after = None  # nothing would answer there: the resident's words go to the guide
        dialogs[event.user_id] = after
        intent = resident_intent(event, domain)
        envelope = intent_envelope(intent, traceparent)
        out = [envelope]
        if (
            event.routing == "postback"
            and previous is not None
            and previous.updated_at > now - IDLE
            and previous.domain != domain
            and previous.domain in self.served
            and after != previous
        ):
            out.append(left_envelope(intent, previous.domain, envelope))
        if domain not in self.served:
            messages = answer(intent, self.served)
            if messages:
                out.append(
                    outbound_message(
                        to=intent.user_id,
                        messages=messages,
                        source=SOURCE,
                        idempotency_key=f"gateway:{intent.webhook_event_id}",
                        reply_to=intent,
                        caused_by=envelope,
                    )
                )
        return out
