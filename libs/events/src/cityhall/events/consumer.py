"""Idempotent consumers: each message has exactly one effect, however often it arrives.

For every message, one transaction writes the inbox row (consumer, event id), the
handler's own writes and the consumer's next offset. A redelivered message finds its
inbox row and only moves the offset. A handler that keeps failing is retried with
backoff and jitter; after `max_attempts` the message goes to `dlq.<consumer>` with its
error and the partition moves on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from opentelemetry.trace import SpanKind, Status, StatusCode

from cityhall.events.backoff import Backoff
from cityhall.events.bus import Bus, Message, Record
from cityhall.events.db import Connection, Pool
from cityhall.events.envelope import Envelope
from cityhall.events.telemetry import span_from

log = logging.getLogger(__name__)

Handler = Callable[[Envelope, Connection], Awaitable[None]]
"""Handles one message inside the consumer's transaction; its writes go through `conn`."""


CONSUMER_RETRY = Backoff(base=0.05, cap=5.0, max_attempts=5)
"""A failing handler: retried with jittered backoff, then its message is dead-lettered."""


def dlq_topic(consumer: str) -> str:
    return f"dlq.{consumer}"


class IdempotentConsumer:
    def __init__(
        self,
        name: str,
        topics: Sequence[str],
        handler: Handler,
        *,
        bus: Bus,
        pool: Pool,
        retry: Backoff | None = None,
        batched: bool = False,
    ) -> None:
        """`batched=True` handles a fetched batch in one transaction (one commit instead of one per
        message) and falls back to one message at a time when anything in it fails. Only for
        handlers whose effects are all in the database: a failed batch runs its handlers again."""
        self.name = name
        self.topics = list(topics)
        self.handler = handler
        self.bus = bus
        self.pool = pool
        self.retry = retry or CONSUMER_RETRY
        self.batched = batched
        self.handled = 0

    async def run(self) -> None:
        """Consume until cancelled."""
        subscription = self.bus.subscribe(self.name, self.topics, self.pool)
        await subscription.start()
        try:
            while True:
                messages = await subscription.fetch(timeout=1.0)
                if self.batched and len(messages) > 1 and await self._process_together(messages):
                    continue
                for message in messages:
                    await self.process(message)
        finally:
            await subscription.stop()

    async def process(self, message: Message) -> None:
        try:
            envelope = message.envelope()
        except ValueError as exc:
            # Not a CloudEvent: retrying cannot help.
            await self._dead_letter(message, None, f"undecodable: {exc}", attempts=1)
            return
        attempt = 0
        while True:
            attempt += 1
            try:
                with span_from(envelope.traceparent, f"process {message.topic}", SpanKind.CONSUMER) as span:
                    span.set_attribute("messaging.consumer.group.name", self.name)
                    span.set_attribute("cloudevents.event_type", envelope.type)
                    span.set_attribute("cloudevents.event_id", str(envelope.id))
                    try:
                        await self._handle_once(message, envelope)
                    except Exception as exc:
                        span.record_exception(exc)
                        span.set_status(Status(StatusCode.ERROR, str(exc)))
                        raise
                self.handled += 1
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.retry.gives_up(attempt):
                    log.error(
                        "%s: giving up on %s after %d attempts: %s", self.name, envelope.id, attempt, exc
                    )
                    await self._dead_letter(message, envelope, f"{type(exc).__name__}: {exc}", attempt)
                    return
                log.warning("%s: attempt %d for %s failed: %s", self.name, attempt, envelope.id, exc)
                await asyncio.sleep(self.retry.delay(attempt))

    async def _process_together(self, messages: list[Message]) -> bool:
        """All of `messages` in one transaction; False (and nothing written) if any fails."""
        try:
            envelopes = [m.envelope() for m in messages]
        except ValueError:
            return False  # a poison message: the one-by-one path dead-letters it in its place
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                fresh = {
                    r["event_id"]
                    for r in await conn.fetch(
                        """INSERT INTO inbox (consumer, event_id) SELECT $1, unnest($2::uuid[])
                           ON CONFLICT DO NOTHING RETURNING event_id""",
                        self.name,
                        [e.id for e in envelopes],
                    )
                }
                for message, envelope in zip(messages, envelopes, strict=True):
                    if envelope.id not in fresh:
                        continue
                    fresh.discard(envelope.id)  # a duplicate within the batch has one effect too
                    with span_from(envelope.traceparent, f"process {message.topic}", SpanKind.CONSUMER):
                        await self.handler(envelope, conn)
                last: dict[tuple[str, int], Message] = {}
                for message in messages:
                    last[(message.topic, message.partition)] = message
                for message in last.values():
                    await self._commit_offset(conn, message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info("%s: batch of %d failed (%s); handling one by one", self.name, len(messages), exc)
            return False
        self.handled += len(messages)
        return True

    async def _handle_once(self, message: Message, envelope: Envelope) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            first_time = await conn.fetchval(
                """INSERT INTO inbox (consumer, event_id) VALUES ($1, $2)
                   ON CONFLICT DO NOTHING RETURNING true""",
                self.name,
                envelope.id,
            )
            if first_time:
                await self.handler(envelope, conn)
            await self._commit_offset(conn, message)

    async def _commit_offset(self, conn: Connection, message: Message) -> None:
        await conn.execute(
            """INSERT INTO consumer_offsets (consumer, topic, partition, next_offset) VALUES ($1, $2, $3, $4)
               ON CONFLICT (consumer, topic, partition)
               DO UPDATE SET next_offset = greatest(consumer_offsets.next_offset, excluded.next_offset)""",
            self.name,
            message.topic,
            message.partition,
            message.offset + 1,
        )

    async def _dead_letter(
        self, message: Message, envelope: Envelope | None, error: str, attempts: int
    ) -> None:
        headers = (
            *message.headers,
            ("dlq_error", error[:2000].encode()),
            ("dlq_topic", message.topic.encode()),
            ("dlq_partition", str(message.partition).encode()),
            ("dlq_offset", str(message.offset).encode()),
            ("dlq_attempts", str(attempts).encode()),
        )
        record = Record(topic=dlq_topic(self.name), key=message.key, value=message.value, headers=headers)
        await self.bus.publish([record])
        async with self.pool.acquire() as conn, conn.transaction():
            if envelope is not None:
                await conn.execute(
                    "INSERT INTO inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    self.name,
                    envelope.id,
                )
            await self._commit_offset(conn, message)
