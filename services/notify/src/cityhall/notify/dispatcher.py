"""The delivery queue and the dispatcher that works it.

The `line.outbound` consumer only records each request in `delivery_queue`, in the same
transaction as its inbox row and offset, so consuming never waits on LINE. The dispatcher
(one active per schema, an advisory lock) reads the queue in commit order and delivers with
many workers at once, one request at a time per key (the resident), so each resident gets
their messages in the order they were requested. A request leaves the queue in the same
transaction that records its outcome; a crash leaves it queued and the next dispatcher
sends it again, under the same retry key (see delivery.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from linebot.v3.messaging import Message
from opentelemetry.trace import SpanKind
from prometheus_client import Counter

from cityhall.events.backoff import Backoff
from cityhall.events.coalescer import Coalescer
from cityhall.events.db import Connection, Pool
from cityhall.events.envelope import Envelope, Event
from cityhall.events.store import EventStore
from cityhall.events.telemetry import span_from
from cityhall.events.waiting import wake_or_timeout
from cityhall.line.contracts import OutboundMessageRequested
from cityhall.notify.events import SOURCE, MessageDelivered, MessageDeliveryFailed, MessageSkipped
from cityhall.notify.line_api import serialised

log = logging.getLogger(__name__)

_DELIVERY_RETRY = Backoff(base=0.4, cap=30.0, jitter=False)
"""A delivery that failed (the database, say): again after 0.4 s, doubling up to 30 s."""

_CHANNEL = "notify_delivery_queue_{schema}"

DELIVERIES = Counter(
    "cityhall_notify_deliveries",
    "Outcomes of sending to LINE as recorded (a multicast counts once per chunk), by method "
    "(reply, push, multicast; none when skipped or unreadable) and outcome (delivered, failed, skipped).",
    ["method", "outcome"],
)


def _count(events: Sequence[Event]) -> None:
    """Called after the outcomes' commit, so a retried transaction does not count twice."""
    for event in events:
        if isinstance(event, MessageDelivered):
            DELIVERIES.labels(event.method, "delivered").inc()
        elif isinstance(event, MessageDeliveryFailed):
            DELIVERIES.labels(event.method or "none", "failed").inc()
        elif isinstance(event, MessageSkipped):
            DELIVERIES.labels("none", "skipped").inc()


def delivery_stream(request_id: uuid.UUID) -> str:
    return f"delivery-{request_id}"


def parse_messages(raw: Sequence[dict[str, Any]]) -> list[Message]:
    """The SDK's message models; `ValueError` (pydantic's included) for anything LINE would not take."""
    return [Message.from_dict(m) for m in raw]


def messages_json(raw: Sequence[dict[str, Any]]) -> str:
    """The messages as the JSON a request carries, through the SDK's models: checked, and their
    keys in LINE's order again (jsonb keeps its own)."""
    return serialised([m.to_dict() for m in parse_messages(raw)])


@dataclass
class Job:
    """One queued `OutboundMessageRequested`."""

    seq: int
    tx: int
    request_id: uuid.UUID
    key: str
    request: OutboundMessageRequested
    messages: str
    """The request's messages as JSON, as they were queued (and validated then: `parse_messages`)."""
    cause: Envelope
    """A stand-in for the request's envelope: outcome events name it as their cause."""
    reply_attempted: bool = False
    """A reply was sent (or about to be) by an earlier attempt whose outcome was never recorded."""
    skipped: list[str] | None = None
    """For multicasts: the blocked recipients, fixed once before the first chunk goes out."""


@dataclass
class _Write:
    job: Job
    outcomes: list[tuple[Event, str]]
    done: bool


class DeliveryQueue:
    """`delivery_queue` and the recording of outcomes in notify's event store."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.pool: Pool = store.pool
        self._channel: str | None = None
        self._marks: Coalescer[uuid.UUID, None] = Coalescer(self._mark_all, concurrency=2)
        self._writes: Coalescer[_Write, None] = Coalescer(self._write, concurrency=4)

    # --- the consumer's side --------------------------------------------------------------

    async def enqueue_all(self, conn: Connection, requests: Sequence[tuple[Envelope, str]]) -> None:
        """Inside the consumer's transaction: the requests (envelope, key) are now notify's to
        deliver; one INSERT for all of them, in their order, and one wake-up."""
        if not requests:
            return
        await conn.execute(
            """INSERT INTO delivery_queue (request_id, key, request, messages, correlation_id, traceparent)
               SELECT request_id, key, request, messages, correlation_id, traceparent
               FROM unnest($1::uuid[], $2::text[], $3::jsonb[], $4::text[], $5::text[], $6::text[])
                   WITH ORDINALITY AS r(request_id, key, request, messages, correlation_id, traceparent, n)
               ORDER BY n
               ON CONFLICT (request_id) DO NOTHING""",
            [e.id for e, _key in requests],
            [key for _e, key in requests],
            [e.data for e, _key in requests],
            [serialised(e.data["messages"]) for e, _key in requests],
            [e.correlation_id or str(e.id) for e, _key in requests],
            [e.traceparent for e, _key in requests],
        )
        await conn.execute("SELECT pg_notify($1, '')", await self.channel())

    async def channel(self) -> str:
        """The LISTEN/NOTIFY channel that wakes the dispatcher (one per schema)."""
        if self._channel is None:
            schema: str = await self.pool.fetchval("SELECT current_schema()")
            self._channel = _CHANNEL.format(schema=schema)
        return self._channel

    # --- the dispatcher's side ------------------------------------------------------------

    async def load(
        self, after: tuple[int, int], limit: int, recipients: int = 1_000_000
    ) -> tuple[list[Job], tuple[int, int]]:
        """Queued requests after `after` = (tx, seq), in commit order (a row is read only once no
        transaction that could still commit a row before it is running, as the event store does),
        up to `limit` requests and about `recipients` recipients (at least one request).
        Returns them and the position read up to."""
        rows = await self.pool.fetch(
            """SELECT * FROM (
                   SELECT seq, tx::text::bigint AS tx, request_id, key, request, messages, correlation_id, traceparent,
                          reply_attempted_at IS NOT NULL AS reply_attempted, skipped,
                          sum(jsonb_array_length(request->'to')) OVER (ORDER BY tx, seq) AS running,
                          jsonb_array_length(request->'to') AS size
                   FROM delivery_queue
                   WHERE (tx, seq) > ($1::text::xid8, $2) AND tx < (SELECT commit_horizon())
                   ORDER BY tx, seq LIMIT $3) AS next
               WHERE running - size < $4
               ORDER BY tx, seq""",
            str(after[0]),
            after[1],
            limit,
            max(1, recipients),
        )
        jobs = []
        for row in rows:
            try:
                jobs.append(self._job(row))
            except ValueError as exc:  # pydantic's too: validated when queued, so only after a schema change
                await self._discard(row, f"unreadable queued request: {exc}")
        return jobs, ((rows[-1]["tx"], rows[-1]["seq"]) if rows else after)

    async def _discard(self, row: Any, error: str) -> None:
        data: dict[str, Any] = row["request"] if isinstance(row["request"], dict) else {}
        stream = delivery_stream(row["request_id"])
        event = MessageDeliveryFailed(
            request_id=row["request_id"],
            idempotency_key=str(data.get("idempotency_key", "")),
            requested_by=str(data.get("requested_by", "")),
            method=None,
            status=0,
            error=error[:2000],
            recipients=int(row["size"] or 0),
        )
        envelope = Envelope.wrap(
            event, source=SOURCE, subject=stream, id=uuid.uuid5(row["request_id"], "unreadable")
        )
        async with self.pool.acquire() as conn, conn.transaction():
            await self.store.append(stream, None, [envelope], conn=conn, notify=False)
            await conn.execute("DELETE FROM delivery_queue WHERE request_id = $1", row["request_id"])
        self.store.notify()
        _count([event])

    def _job(self, row: Any) -> Job:
        data: dict[str, Any] = row["request"]
        request = OutboundMessageRequested.model_validate(data)  # validated when it was queued
        cause = Envelope(
            type=OutboundMessageRequested.TYPE,
            source="",
            subject="",
            data={},
            id=row["request_id"],
            correlation_id=row["correlation_id"],
            traceparent=row["traceparent"],
        )
        return Job(
            seq=row["seq"],
            tx=row["tx"],
            request_id=row["request_id"],
            key=row["key"],
            request=request,
            messages=row["messages"] or messages_json(request.messages),
            cause=cause,
            reply_attempted=row["reply_attempted"],
            skipped=row["skipped"],
        )

    async def mark_reply_attempted(self, job: Job) -> None:
        """Committed, before LINE sees the reply token (see Deliverer._reply)."""
        await self._marks.submit(job.request_id)
        job.reply_attempted = True

    async def _mark_all(self, request_ids: list[uuid.UUID]) -> list[None]:
        await self.pool.execute(
            "UPDATE delivery_queue SET reply_attempted_at = now() WHERE request_id = ANY($1::uuid[])",
            request_ids,
        )
        return [None] * len(request_ids)

    async def plan(self, job: Job, skipped: list[str]) -> None:
        """Fix a multicast's blocked recipients (and record them) before any chunk is sent."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "UPDATE delivery_queue SET skipped = $2 WHERE request_id = $1", job.request_id, skipped
            )
            outcomes = [skipped_event(job, skipped)] if skipped else []
            await self.store.append_each([_outcome(job, e, "skipped") for e in outcomes], conn=conn)
        self.store.notify()
        _count(outcomes)
        job.skipped = skipped

    async def record(self, job: Job, event: Event, name: str) -> None:
        """One outcome of a request that is not finished yet (a multicast chunk)."""
        await self._writes.submit(_Write(job, [(event, name)], done=False))

    async def complete(self, job: Job, outcomes: Sequence[tuple[Event, str]] = ()) -> None:
        """Record the last outcomes and take the request off the queue, in one transaction."""
        await self._writes.submit(_Write(job, list(outcomes), done=True))

    async def _write(self, writes: list[_Write]) -> list[None]:
        """Many workers' outcomes in one transaction, one commit (one fsync) for all of them."""
        async with self.pool.acquire() as conn, conn.transaction():
            outcomes = [_outcome(w.job, event, name) for w in writes for event, name in w.outcomes]
            await self.store.append_each(outcomes, conn=conn)
            done = [w.job.request_id for w in writes if w.done]
            if done:
                await conn.execute("DELETE FROM delivery_queue WHERE request_id = ANY($1::uuid[])", done)
        self.store.notify()
        _count([event for w in writes for event, _name in w.outcomes])
        return [None] * len(writes)

    async def recorded(self, job: Job) -> list[Event]:
        return [r.envelope.event() for r in await self.store.read_stream(delivery_stream(job.request_id))]

    async def depth(self) -> int:
        count: int = await self.pool.fetchval("SELECT count(*) FROM delivery_queue")
        return count


def _outcome(job: Job, event: Event, name: str) -> Envelope:
    """An outcome of `job` for its delivery stream, its id fixed by `name` (written once).
    Appended without NOTIFY inside the transaction (it would serialise commits):
    `store.notify()` after it."""
    return Envelope.wrap(
        event,
        source=SOURCE,
        subject=delivery_stream(job.request_id),
        id=uuid.uuid5(job.request_id, name),
        caused_by=job.cause,
    )


def skipped_event(job: Job, recipients: list[str]) -> MessageSkipped:
    return MessageSkipped(
        request_id=job.request_id,
        idempotency_key=job.request.idempotency_key,
        requested_by=job.request.requested_by,
        recipients=recipients,
    )


class Deliverer(Protocol):
    """delivery.Deliverer: sends one job and records its outcome (raises if it could not record)."""

    async def deliver(self, job: Job) -> None: ...


class Dispatcher:
    def __init__(
        self,
        queue: DeliveryQueue,
        deliverer: Deliverer,
        *,
        workers: int = 32,
        max_buffered: int = 2000,
        max_buffered_recipients: int = 1_000_000,
        poll_interval: float = 1.0,
    ) -> None:
        self.queue, self.deliverer = queue, deliverer
        self.workers = workers
        self.max_buffered = max_buffered
        self.max_buffered_recipients = max_buffered_recipients
        self._recipients = 0
        self.poll_interval = poll_interval
        self.completed = 0
        self.active = False
        self._wake = asyncio.Event()
        self._lanes: dict[str, deque[Job]] = {}
        self._ready: asyncio.Queue[str] = asyncio.Queue()
        self._buffered = 0

    async def run(self) -> None:
        """Deliver until cancelled; waits for the schema's dispatcher lock first."""
        pool = self.queue.pool
        channel = await self.queue.channel()
        tasks: list[asyncio.Task[None]] = []
        conn = await pool.acquire()  # nothing may await between this and the try: see finally
        try:
            while not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", channel):
                await asyncio.sleep(self.poll_interval)
            await conn.add_listener(channel, self._notified)
            # Everything still queued is ours now, including what a crashed dispatcher was sending.
            self._lanes, self._ready, self._buffered, self._recipients = {}, asyncio.Queue(), 0, 0
            cursor = (0, 0)
            tasks = [
                asyncio.create_task(self._work(), name=f"notify-worker-{i}") for i in range(self.workers)
            ]
            self.active = True
            while True:
                self._wake.clear()
                room = self.max_buffered - self._buffered
                budget = self.max_buffered_recipients - self._recipients
                loaded = 0
                if room > 0 and budget > 0:
                    jobs, read_to = await self.queue.load(cursor, min(room, 500), budget)
                    loaded = len(jobs) + (read_to != cursor)
                    cursor = read_to
                    for job in jobs:
                        self._add(job)
                if not loaded:
                    await wake_or_timeout(self._wake, self.poll_interval)
        finally:
            self.active = False
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await conn.remove_listener(channel, self._notified)
                await conn.execute("SELECT pg_advisory_unlock_all()")
            await pool.release(conn)

    def _notified(self, *_args: object) -> None:
        self._wake.set()

    def _add(self, job: Job) -> None:
        self._buffered += 1
        self._recipients += len(job.request.to)
        lane = self._lanes.get(job.key)
        if lane is None:
            self._lanes[job.key] = deque([job])
            self._ready.put_nowait(job.key)
        else:
            lane.append(job)  # its key is running or ready: it follows in order

    async def _work(self) -> None:
        while True:
            key = await self._ready.get()
            lane = self._lanes[key]
            job = lane[0]
            await self._deliver(job)
            lane.popleft()
            self._buffered -= 1
            self._recipients -= len(job.request.to)
            self.completed += 1
            if lane:
                self._ready.put_nowait(key)
            else:
                del self._lanes[key]
            self._wake.set()

    async def _deliver(self, job: Job) -> None:
        """Until the deliverer has recorded an outcome; a failure (the database, say) is retried."""
        failures = 0
        while True:
            try:
                with span_from(job.cause.traceparent, "deliver line.outbound", SpanKind.CLIENT) as span:
                    span.set_attribute("cloudevents.event_id", str(job.request_id))
                    await self.deliverer.deliver(job)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                delay = _DELIVERY_RETRY.delay(failures)
                log.exception("delivery of %s failed; retrying in %.1fs", job.request_id, delay)
                await asyncio.sleep(delay)
