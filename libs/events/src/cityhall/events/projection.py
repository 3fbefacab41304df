"""Projections: read models built from a service's event store.

A projection writes its view rows and its checkpoint in one transaction, so a view is
never ahead of or behind its checkpoint. `rebuild` replays every event into a fresh
table and swaps it in; the live runner waits on the checkpoint row during the swap.

Most read models are one table with a row per thing: `TableProjection` is that projection,
declared by its columns and, per event type, the row the event inserts, updates or deletes.
`caught_up` waits until projections show what was just written (a page after a decision).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Protocol

from cityhall.events.db import Connection, Pool, check_schema_name
from cityhall.events.envelope import Event
from cityhall.events.store import START, EventStore, Position, RecordedEvent, save_checkpoint
from cityhall.events.waiting import wake_or_timeout


class Projection(Protocol):
    """A read model. One with a `types` attribute (the event types it reads) is given only events
    of those types, and the last event of each batch whatever its type (`EventStore.read_all`)."""

    name: str
    """Also the view's table name."""

    async def create(self, conn: Connection, table: str) -> None:
        """Create the (empty) view table `table`."""

    async def apply(self, conn: Connection, table: str, events: Sequence[RecordedEvent]) -> None:
        """Fold a batch of events into `table`."""


Row = Callable[[Any, RecordedEvent], Mapping[str, Any]]
"""The columns an event writes, from the event and its record (e.g. `recorded.recorded_at`)."""


class TableProjection:
    """One table, one row per `key`: for each event type a function gives the row's columns.

    - `inserts`: the event creates the row (the key column comes from the event's attribute
      of the same name); a row already there is left as it is, so a replay changes nothing;
    - `updates`: the event sets the columns given on the row with the event's key;
    - `deletes`: the event removes the row with its key.

    `columns` is the body of the `CREATE TABLE` (the key among them, as the primary key);
    `indexes` are what follows `CREATE INDEX ON <table>`, e.g. `"(submitted_at DESC)"` or
    `"(requested_at) WHERE completed_at IS NULL"` (unnamed, so a rebuild can make them again).
    """

    def __init__(
        self,
        name: str,
        columns: str,
        *,
        key: str,
        inserts: Mapping[type[Event], Row] | None = None,
        updates: Mapping[type[Event], Row] | None = None,
        deletes: Sequence[type[Event]] = (),
        indexes: Sequence[str] = (),
    ) -> None:
        check_schema_name(name)
        check_schema_name(key)
        self.name, self.columns, self.key, self.indexes = name, columns, key, tuple(indexes)
        self.inserts, self.updates = dict(inserts or {}), dict(updates or {})
        self.deletes = frozenset(deletes)
        self.types = {e.TYPE for e in (*self.inserts, *self.updates, *self.deletes)}
        """The event types it reads; others are skipped without being loaded."""

    async def row(self, db: Connection | Pool, key: Any) -> dict[str, Any] | None:
        """The row with `key`, or None."""
        found = await db.fetchrow(f'SELECT * FROM "{self.name}" WHERE "{self.key}" = $1', key)
        return dict(found) if found else None

    async def create(self, conn: Connection, table: str) -> None:
        await conn.execute(f'CREATE TABLE "{table}" ({self.columns})')
        for index in self.indexes:
            await conn.execute(f'CREATE INDEX ON "{table}" {index}')

    async def apply(self, conn: Connection, table: str, events: Sequence[RecordedEvent]) -> None:
        for recorded in events:
            if recorded.type not in self.types:
                continue
            event = recorded.envelope.event()
            kind = type(event)
            key = getattr(event, self.key)
            if kind in self.deletes:
                await conn.execute(f'DELETE FROM "{table}" WHERE "{self.key}" = $1', key)
            elif kind in self.inserts:
                row = {self.key: key, **self.inserts[kind](event, recorded)}
                names = ", ".join(f'"{c}"' for c in row)
                places = ", ".join(f"${i}" for i in range(1, len(row) + 1))
                await conn.execute(
                    f'INSERT INTO "{table}" ({names}) VALUES ({places}) ON CONFLICT ("{self.key}") DO NOTHING',
                    *row.values(),
                )
            elif kind in self.updates:
                changes = dict(self.updates[kind](event, recorded))
                sets = ", ".join(f'"{c}" = ${i}' for i, c in enumerate(changes, start=2))
                await conn.execute(
                    f'UPDATE "{table}" SET {sets} WHERE "{self.key}" = $1', key, *changes.values()
                )


async def caught_up(pool: Pool, names: Sequence[str], *, timeout: float = 3.0) -> bool:
    """Wait (briefly) until the projections `names` have applied every event committed before
    the call, so that the page a person is sent to after a decision shows it. False on timeout."""
    head = await pool.fetchrow(
        "SELECT tx::text::bigint AS tx, position FROM events ORDER BY tx DESC, position DESC LIMIT 1"
    )
    if head is None or not names:
        return True
    target = Position(head["tx"], head["position"])
    checkpoints = [f"projection:{name}" for name in names]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        rows = await pool.fetch(
            "SELECT tx::text::bigint AS tx, position FROM checkpoints WHERE name = ANY($1::text[])",
            checkpoints,
        )
        if len(rows) == len(checkpoints) and all(Position(r["tx"], r["position"]) >= target for r in rows):
            return True
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(0.02)


class ProjectionRunner:
    def __init__(self, store: EventStore, projection: Projection, *, batch_size: int = 2000) -> None:
        check_schema_name(projection.name)
        self.store, self.projection, self.batch_size = store, projection, batch_size
        self._wake = asyncio.Event()
        types: Collection[str] | None = getattr(projection, "types", None)  # optional: see `Projection`
        self._types = types

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

    async def catch_up(self, conn: Connection | None = None) -> int:
        """Apply everything not yet applied; returns the number of events given to the projection
        (of its `types`, and the last of each batch). On `conn` if given (`run` uses the connection
        it listens on), else on one from the pool."""
        if conn is None:
            async with self.store.pool.acquire() as conn:
                return await self.catch_up(conn)
        total = 0
        while True:
            async with conn.transaction():
                # The checkpoint row doubles as the projection's lock (rebuild holds it to swap).
                row = await conn.fetchrow(
                    "SELECT tx::text::bigint AS tx, position FROM checkpoints WHERE name = $1 FOR UPDATE",
                    self._checkpoint,
                )
                after = Position(row["tx"], row["position"]) if row else START
                events = await self.store.read_all(after, limit=self.batch_size, conn=conn, types=self._types)
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
                    await self.catch_up(conn)
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
            while events := await self.store.read_all(
                position, limit=self.batch_size * 5, conn=conn, types=self._types
            ):
                await self.projection.apply(conn, fresh, events)
                position = events[-1].position
                total += len(events)

        async with pool.acquire() as conn:
            while True:  # the bulk, in batches, without holding the live projection
                async with conn.transaction():
                    before = total
                    events = await self.store.read_all(
                        position, limit=self.batch_size * 5, conn=conn, types=self._types
                    )
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
