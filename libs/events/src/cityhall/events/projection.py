"""Projections: read models built from a service's event store.

A projection writes its view rows and its checkpoint in one transaction, so a view is
never ahead of or behind its checkpoint. `rebuild` replays every event into a fresh
table and swaps it in; the live runner waits on the checkpoint row during the swap.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Protocol

from cityhall.events.db import Connection, check_schema_name
from cityhall.events.store import START, EventStore, Position, RecordedEvent, save_checkpoint
from cityhall.events.waiting import wake_or_timeout


class Projection(Protocol):
    name: str
    """Also the view's table name."""

    async def create(self, conn: Connection, table: str) -> None:
        """Create the (empty) view table `table`."""

    async def apply(self, conn: Connection, table: str, events: Sequence[RecordedEvent]) -> None:
        """Fold a batch of events into `table`."""


class ProjectionRunner:
    def __init__(self, store: EventStore, projection: Projection, *, batch_size: int = 2000) -> None:
        check_schema_name(projection.name)
        self.store, self.projection, self.batch_size = store, projection, batch_size
        self._wake = asyncio.Event()

    @property
    def name(self) -> str:
        return self.projection.name

    @property
    def _checkpoint(self) -> str:
        return f"projection:{self.name}"

    async def ensure(self) -> None:
        async with self.store.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self._checkpoint)
            exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", self.name)
            if not exists:
                await self.projection.create(conn, self.name)
            await conn.execute(
                """INSERT INTO checkpoints (name, tx, position) VALUES ($1, '0'::xid8, 0)
                   ON CONFLICT (name) DO NOTHING""",
                self._checkpoint,
            )

    async def catch_up(self) -> int:
        """Apply everything not yet applied; returns the number of events."""
        total = 0
        while True:
            async with self.store.pool.acquire() as conn, conn.transaction():
                # The checkpoint row doubles as the projection's lock (rebuild holds it to swap).
                row = await conn.fetchrow(
                    "SELECT tx::text::bigint AS tx, position FROM checkpoints WHERE name = $1 FOR UPDATE",
                    self._checkpoint,
                )
                after = Position(row["tx"], row["position"]) if row else START
                events = await self.store.read_all(after, limit=self.batch_size, conn=conn)
                if events:
                    await self.projection.apply(conn, self.name, events)
                    await save_checkpoint(conn, self._checkpoint, events[-1].position)
            if not events:
                return total
            total += len(events)

    async def run(self, poll_interval: float = 1.0) -> None:
        await self.ensure()
        async with self.store.pool.acquire() as conn:  # released however run() ends
            channel = "events_" + await conn.fetchval("SELECT current_schema()")
            try:
                await conn.add_listener(channel, self._notified)
                while True:
                    self._wake.clear()
                    await self.catch_up()
                    await wake_or_timeout(self._wake, poll_interval)
            finally:
                with contextlib.suppress(Exception):
                    await conn.remove_listener(channel, self._notified)

    def _notified(self, *_args: object) -> None:
        self._wake.set()

    async def rebuild(self) -> int:
        """Replay from the start into a fresh table, then swap it in. Returns events replayed."""
        await self.ensure()
        fresh = f"{self.name}__rebuild"
        pool = self.store.pool
        async with pool.acquire() as conn:
            await conn.execute(f'DROP TABLE IF EXISTS "{fresh}"')
            await self.projection.create(conn, fresh)
        position, total = START, 0

        async def replay(conn: Connection) -> None:
            nonlocal position, total
            while events := await self.store.read_all(position, limit=self.batch_size * 5, conn=conn):
                await self.projection.apply(conn, fresh, events)
                position = events[-1].position
                total += len(events)

        async with pool.acquire() as conn:
            while True:  # the bulk, in batches, without holding the live projection
                async with conn.transaction():
                    before = total
                    events = await self.store.read_all(position, limit=self.batch_size * 5, conn=conn)
                    if events:
                        await self.projection.apply(conn, fresh, events)
                        position, total = events[-1].position, before + len(events)
                if not events:
                    break
            async with conn.transaction():  # the tail and the swap, with the live runner paused
                await conn.execute("SELECT 1 FROM checkpoints WHERE name = $1 FOR UPDATE", self._checkpoint)
                await replay(conn)
                await conn.execute(f'DROP TABLE IF EXISTS "{self.name}"')
                await conn.execute(f'ALTER TABLE "{fresh}" RENAME TO "{self.name}"')
                await save_checkpoint(conn, self._checkpoint, position)
        return total
