"""A bus on a Postgres log table, for the one-process embedded run.

One table (`bus.messages`) holds every topic. Publishers take an exclusive table lock
for the insert, so offsets become visible in offset order and a reader that has seen
offset N will never later find a smaller one. Readers are woken by LISTEN/NOTIFY and
poll as a fallback. Each topic behaves as a single partition (0), which keeps the
per-key order that Kafka gives.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Sequence

import asyncpg

from cityhall.events.bus import Bus, Message, PublishError, Record, Subscription, stored_offsets
from cityhall.events.db import Pool, create_pool
from cityhall.events.waiting import wake_or_timeout

_CHANNEL = "cityhall_bus"
READ_LIMIT = 500
LAG_COUNT_INTERVAL = 5.0
"""Seconds between counts of a backlog (see `EmbeddedSubscription._sample_lag`)."""

_SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS messages (
    "offset"     bigserial   PRIMARY KEY,
    topic        text        NOT NULL,
    key          text        NOT NULL,
    value        bytea       NOT NULL,
    headers      jsonb       NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS messages_topic_offset ON messages (topic, "offset");
"""


def _headers_to_json(headers: tuple[tuple[str, bytes], ...]) -> list[list[str]]:
    return [[k, v.decode("latin-1")] for k, v in headers]


def _headers_from_json(raw: list[list[str]]) -> tuple[tuple[str, bytes], ...]:
    return tuple((k, v.encode("latin-1")) for k, v in raw)


class EmbeddedBus(Bus):
    def __init__(self, dsn: str, *, schema: str = "bus", poll_interval: float = 1.0) -> None:
        self.dsn = dsn
        self.schema = schema
        self.poll_interval = poll_interval
        self._pool: Pool | None = None

    @property
    def pool(self) -> Pool:
        if self._pool is None:
            raise RuntimeError("EmbeddedBus is not started")
        return self._pool

    async def start(self) -> None:
        if self._pool is not None:
            return
        self._pool = await create_pool(self.dsn, self.schema, max_size=5)
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('cityhall-bus-schema'))")
            await conn.execute(_SCHEMA_SQL)

    async def stop(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def publish(self, records: Sequence[Record], *, timeout: float = 10.0) -> None:
        if not records:
            return
        try:
            async with asyncio.timeout(timeout), self.pool.acquire() as conn, conn.transaction():
                await conn.execute("LOCK TABLE messages IN EXCLUSIVE MODE")
                await conn.execute(
                    """INSERT INTO messages (topic, key, value, headers)
                       SELECT t, k, v, h::jsonb FROM unnest($1::text[], $2::text[], $3::bytea[], $4::text[])
                            AS r(t, k, v, h)""",
                    [r.topic for r in records],
                    [r.key for r in records],
                    [r.value for r in records],
                    [json.dumps(_headers_to_json(r.headers)) for r in records],
                )
                await conn.execute("SELECT pg_notify($1, '')", _CHANNEL)
        except (asyncpg.PostgresError, OSError) as exc:
            raise PublishError(str(exc)) from exc

    def subscribe(self, group: str, topics: Sequence[str], pool: Pool) -> Subscription:
        return EmbeddedSubscription(self, group, list(topics), pool)


class EmbeddedSubscription(Subscription):
    def __init__(self, bus: EmbeddedBus, group: str, topics: list[str], pool: Pool) -> None:
        self.bus, self.group, self.topics, self.pool = bus, group, topics, pool
        self._next: dict[str, int] = {}
        self._wake = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self._lag_counted_at = float("-inf")

    async def start(self) -> None:
        stored = await stored_offsets(self.pool, self.group, self.topics)
        self._next = {t: stored.get((t, 0), 0) for t in self.topics}
        self._listener = await asyncpg.connect(self.bus.dsn)
        await self._listener.add_listener(_CHANNEL, self._notified)

    def _notified(self, *_args: object) -> None:
        self._wake.set()

    async def stop(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()
            self._listener = None
        for topic in self.topics:
            self.forget_lag(topic, 0)

    async def fetch(self, timeout: float) -> list[Message]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self._wake.clear()
            messages = await self._read()
            remaining = deadline - loop.time()
            if messages or remaining <= 0:
                return messages
            await wake_or_timeout(self._wake, min(remaining, self.bus.poll_interval))

    async def _read(self) -> list[Message]:
        rows = await self.bus.pool.fetch(
            """SELECT m."offset", m.topic, m.key, m.value, m.headers
               FROM messages m JOIN unnest($1::text[], $2::bigint[]) AS p(topic, next)
                 ON m.topic = p.topic AND m."offset" >= p.next
               ORDER BY m."offset" LIMIT $3""",
            list(self._next),
            list(self._next.values()),
            READ_LIMIT,
        )
        messages = [
            Message(
                topic=r["topic"],
                partition=0,
                offset=r["offset"],
                key=r["key"],
                value=r["value"],
                headers=_headers_from_json(r["headers"]),
            )
            for r in rows
        ]
        for m in messages:
            self._next[m.topic] = m.offset + 1
        await self._sample_lag(full=len(rows) == READ_LIMIT)
        return messages

    async def _sample_lag(self, full: bool) -> None:
        """A read that was not full has read everything there was: no lag. Behind a full read
        lies a backlog: count it (at most every LAG_COUNT_INTERVAL s, as counting costs the
        backlog's size). The log's offsets are shared by all topics, so a topic's lag is a
        count of its records, not a difference of offsets."""
        if not full:
            for topic in self.topics:
                self.record_lag(topic, 0, 0)
            return
        now = time.monotonic()
        if now - self._lag_counted_at < LAG_COUNT_INTERVAL:
            return
        self._lag_counted_at = now
        rows = await self.bus.pool.fetch(
            """SELECT p.topic, (SELECT count(*) FROM messages m
                                WHERE m.topic = p.topic AND m."offset" >= p.next) AS lag
               FROM unnest($1::text[], $2::bigint[]) AS p(topic, next)""",
            list(self._next),
            list(self._next.values()),
        )
        for r in rows:
            self.record_lag(r["topic"], 0, r["lag"])
