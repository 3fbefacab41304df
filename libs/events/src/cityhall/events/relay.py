"""The outbox relay: publishes a service's stored events to the bus, in commit order.

The event store is the outbox. The relay reads after its checkpoint, publishes a
batch, waits for the bus to acknowledge every record, and only then moves its
checkpoint. A crash between the two republishes the batch; consumers dedupe on the
event id. One relay per schema is active at a time (an advisory lock), so a second
replica stands by instead of racing.

After each acknowledged batch the relay tells `on_acknowledged` (in its process) at once,
and NOTIFYs `relay_channel(schema, name)` with the position (for other processes) when it
saves the checkpoint: everything up to that position is on the bus. The gateway answers
webhooks from that. The checkpoint is saved by the statement that reads the next batch,
which follows at once: one round trip per batch, not two.

Because a lost checkpoint only means republishing, the relay (on its own connection, the
one that holds the lock) commits its checkpoint without waiting for the WAL flush
(`synchronous_commit = off`), and keeps its position in memory instead of reading it back
before every batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from opentelemetry.trace import SpanKind

from cityhall.events.bus import Bus, Record
from cityhall.events.db import Connection
from cityhall.events.store import EventStore, Position, RecordedEvent, load_checkpoint, save_checkpoint
from cityhall.events.telemetry import span_from
from cityhall.events.waiting import wake_or_timeout

log = logging.getLogger(__name__)

Route = Callable[[RecordedEvent], tuple[str, str]]


def relay_channel(schema: str, name: str) -> str:
    """Where the relay of `schema` named `name` announces each position the bus acknowledged."""
    return f"relay_{schema}_{name}"


def default_route(event: RecordedEvent) -> tuple[str, str]:
    """The envelope's own topic and key if it names them, else `events.<domain>` keyed by stream."""
    env = event.envelope
    topic = env.topic or f"events.{env.type.split('.')[1]}"
    return topic, env.key or event.stream


class OutboxRelay:
    def __init__(
        self,
        store: EventStore,
        bus: Bus,
        *,
        name: str = "relay",
        route: Route = default_route,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        on_acknowledged: Callable[[Position], None] | None = None,
    ) -> None:
        self.store, self.bus, self.name, self.route = store, bus, name, route
        self.on_acknowledged = on_acknowledged
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.published = 0
        self._wake = asyncio.Event()
        self.active = False
        """Holds the schema's relay lock: this is the relay that publishes."""
        self._position: Position | None = None  # where this relay got to; None: read the checkpoint
        self._saved = True  # whether the checkpoint holds `_position` yet

    async def run(self) -> None:
        """Relay until cancelled; waits for the schema's relay lock first."""
        async with self.store.pool.acquire() as conn:  # released however run() ends
            schema = await conn.fetchval("SELECT current_schema()")
            channel = f"events_{schema}"
            stop_listening_locally = self.store.on_notify(self._wake.set)  # appends of this process
            try:
                while not await conn.fetchval(
                    "SELECT pg_try_advisory_lock(hashtext($1))", f"relay:{schema}:{self.name}"
                ):
                    await asyncio.sleep(self.poll_interval)
                self._position = None  # another relay may have moved the checkpoint while we stood by
                self.active = True
                await conn.execute("SET synchronous_commit = off")
                await conn.add_listener(channel, self._notified)
                while True:
                    self._wake.clear()
                    if await self.publish_pending(conn, announce=relay_channel(schema, self.name)) == 0:
                        await wake_or_timeout(self._wake, self.poll_interval)
            finally:
                was_active, self.active = self.active, False
                stop_listening_locally()
                if was_active:  # still holding the lock: no other relay has moved the checkpoint
                    with contextlib.suppress(Exception):  # a failed save must not keep the lock
                        await self.save_checkpoint(conn, announce=relay_channel(schema, self.name))
                with contextlib.suppress(Exception):
                    await conn.remove_listener(channel, self._notified)
                    await conn.execute("SELECT pg_advisory_unlock_all()")
                    await conn.execute("RESET synchronous_commit")

    def _notified(self, *_args: object) -> None:
        self._wake.set()

    def wake(self) -> None:
        """Look for new events now (for appends made in this process)."""
        self._wake.set()

    async def publish_pending(self, conn: Connection | None = None, *, announce: str | None = None) -> int:
        """Publish one batch after the last one; returns how many were published.

        The checkpoint moves past a batch with the read of the next call, in the same statement
        (or with `save_checkpoint()`). `announce`: the channel to NOTIFY with that position.
        """
        db = conn or self.store.pool
        if self._position is None:
            self._position = await load_checkpoint(db, self.name)
            self._saved = True
        if self._saved:
            events = await self.store.read_all(self._position, limit=self.batch_size, conn=conn)
        else:  # the last batch's checkpoint goes with this read: one round trip, not two
            events = await self.store.save_checkpoint_and_read_all(
                self.name, self._position, limit=self.batch_size, conn=conn, announce=announce
            )
            self._saved = True
        if not events:
            return 0
        records = []
        for event in events:
            topic, key = self.route(event)
            traceparent = event.envelope.traceparent
            # A span per traced event, child of the span that stored it, so the trace shows the hop.
            with (
                span_from(traceparent, f"publish {topic}", SpanKind.PRODUCER)
                if traceparent
                else contextlib.nullcontext()
            ):
                records.append(Record.of(topic, key, event.envelope))
        await self.bus.publish(records)
        acknowledged = events[-1].position
        if self.on_acknowledged is not None:
            self.on_acknowledged(acknowledged)
        self._position, self._saved = acknowledged, False
        self.published += len(events)
        return len(events)

    async def save_checkpoint(self, conn: Connection | None = None, *, announce: str | None = None) -> None:
        """Store the position this relay got to, if the next read has not stored it yet."""
        if self._position is not None and not self._saved:
            await save_checkpoint(conn or self.store.pool, self.name, self._position, announce=announce)
            self._saved = True
