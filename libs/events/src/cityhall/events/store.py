"""The event store on asyncpg.

Streams are named `<category>-<id>`. Each event has a per-stream `version` (1, 2, …)
and a global position `(tx, position)`: the writing transaction's id (xid8) and a
sequence number. Readers only see events whose transaction id is below the oldest
transaction still running in this database (`commit_horizon()`, 003_commit_horizon.sql), and
read in `(tx, position)` order, so an event committed late with a lower sequence number is never
skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg

from cityhall.events.db import Connection, Pool
from cityhall.events.envelope import Envelope

NO_STREAM = 0
"""Expected version of a stream that must not exist yet."""


class RetryableError(Exception):
    """The operation lost a race and can be tried again."""


class ConcurrencyError(RetryableError):
    def __init__(self, stream: str, expected: int | None, actual: int) -> None:
        super().__init__(f"stream {stream}: expected version {expected}, found {actual}")
        self.stream, self.expected, self.actual = stream, expected, actual


class Position(NamedTuple):
    """A global position in commit order: (writing transaction id, sequence)."""

    tx: int
    seq: int


START = Position(0, 0)


@dataclass(frozen=True)
class RecordedEvent:
    position: Position
    stream: str
    version: int
    envelope: Envelope
    recorded_at: datetime
    mine: bool = False
    """Appended by the transaction that read it and not committed yet (`read_stream` only): it
    may still be rolled back."""

    @property
    def id(self) -> uuid.UUID:
        return self.envelope.id

    @property
    def type(self) -> str:
        return self.envelope.type


def category_of(stream: str) -> str:
    return stream.split("-", 1)[0]


@dataclass(frozen=True)
class Streams:
    """The streams of one category, one per thing: `<category>-<uuid>`, and the short number
    residents and staff quote for each (`<prefix>-` and the id's first 8 hex digits)."""

    category: str
    prefix: str = ""

    def stream(self, id: uuid.UUID) -> str:
        return f"{self.category}-{id}"

    def id_of(self, stream: str) -> uuid.UUID | None:
        """The id in one of these streams' names; None for another category's or a malformed one."""
        category, _, rest = stream.partition("-")
        if category != self.category:
            return None
        try:
            return uuid.UUID(rest)
        except ValueError:
            return None

    def number(self, id: uuid.UUID) -> str:
        """Short and the same wherever it is shown (the chat, the dashboard, the audit log)."""
        return f"{self.prefix}-{id.hex[:8].upper()}"


def _row_to_event(row: asyncpg.Record) -> RecordedEvent:
    meta: dict[str, Any] = row["metadata"]
    return RecordedEvent(
        position=Position(int(row["tx"]), row["position"]),
        stream=row["stream"],
        version=row["version"],
        recorded_at=row["recorded_at"],
        mine=bool(row.get("mine")),
        envelope=Envelope(
            id=row["id"],
            type=row["type"],
            source=meta.get("source", ""),
            subject=row["stream"],
            data=row["data"],
            time=row["occurred_at"],
            correlation_id=meta.get("correlation_id"),
            causation_id=meta.get("causation_id"),
            traceparent=meta.get("traceparent"),
            topic=meta.get("topic"),
            key=meta.get("key"),
        ),
    )


_COLUMNS = (
    "position, tx::text::bigint AS tx, stream, version, id, type, data, metadata, occurred_at, recorded_at"
)


def _read_all_sql(after_tx: str, after_seq: str, category: str, limit: str, columns: str = _COLUMNS) -> str:
    """`read_all`'s query, with its parameters at the given places ("$1", …)."""
    return f"""SELECT {columns} FROM events
               WHERE (tx, position) > ({after_tx}::text::xid8, {after_seq})
                 AND tx < (SELECT commit_horizon())
                 AND ({category}::text IS NULL OR category = {category})
               ORDER BY tx, position LIMIT {limit}"""


_READ_ALL = _read_all_sql("$1", "$2", "$3", "$4")

# The same `limit` events, of which only those of the types in $5 come back, and the last one
# whatever its type (how far the reader got): the others' rows are neither sent nor decoded.
_READ_ALL_OF_TYPES = f"""SELECT {_COLUMNS} FROM (
    SELECT scanned.*, row_number() OVER (ORDER BY tx DESC, position DESC) = 1 AS last
    FROM ({_read_all_sql("$1", "$2", "$3", "$4", columns="*")}) scanned
) batch WHERE type = ANY($5::text[]) OR last ORDER BY tx, position"""

# $1 name, $2 tx (as text), $3 seq, $4 the channel to NOTIFY with "tx:seq", or NULL.
_SAVE_CHECKPOINT = """INSERT INTO checkpoints (name, tx, position) VALUES ($1, $2::text::xid8, $3)
                      ON CONFLICT (name) DO UPDATE
                      SET tx = excluded.tx, position = excluded.position, updated_at = now()
                      RETURNING CASE WHEN $4::text IS NOT NULL THEN pg_notify($4, $2 || ':' || $3) END"""

# A data-modifying CTE runs to the end even though the query does not read it.
_SAVE_CHECKPOINT_AND_READ_ALL = f"WITH saved AS ({_SAVE_CHECKPOINT}) {_read_all_sql('$2', '$3', '$5', '$6')}"


def _columns(envelopes: Sequence[Envelope]) -> tuple[list[Any], ...]:
    """The envelopes as the column arrays `unnest` takes: stream, category, id, type, data,
    metadata, occurred_at."""
    return (
        [e.subject for e in envelopes],
        [category_of(e.subject) for e in envelopes],
        [e.id for e in envelopes],
        [e.type for e in envelopes],
        [e.data for e in envelopes],
        [e.metadata() for e in envelopes],
        [e.time for e in envelopes],
    )


class EventStore:
    """Append-only streams in the current schema (see `001_backbone.sql`)."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self._notify_task: asyncio.Task[None] | None = None
        self._local_listeners: set[Callable[[], None]] = set()

    def on_notify(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` at once when this process notifies (no round trip through Postgres).

        Returns the function that removes it.
        """
        self._local_listeners.add(callback)
        return lambda: self._local_listeners.discard(callback)

    def notify(self) -> None:
        """Wake the store's listeners (relay, projections, live pages) soon, once for many appends.

        Call it after committing a transaction in which you appended with `notify=False`.
        Listeners in this process (`on_notify`) are woken at once; others by a NOTIFY.
        """
        for callback in list(self._local_listeners):
            callback()
        if self._notify_task is None or self._notify_task.done():
            self._notify_task = asyncio.create_task(self._send_notify())

    async def _send_notify(self) -> None:
        await asyncio.sleep(0.002)  # coalesce a burst of appends into one NOTIFY
        with contextlib.suppress(Exception):  # a missed wake-up only costs a poll interval
            await self.pool.execute("SELECT pg_notify('events_' || current_schema(), '')")

    async def append(
        self,
        stream: str,
        expected_version: int | None,
        envelopes: Sequence[Envelope],
        *,
        conn: Connection | None = None,
        notify: bool = True,
    ) -> int:
        """Append `envelopes` to `stream` and return the stream's new version.

        `expected_version` is the version the caller decided on (`NO_STREAM` for a new
        stream, `None` for no check). A mismatch raises `ConcurrencyError`. Appending
        events whose ids are all stored already is a no-op; mixing stored and new ids
        is refused. With `conn`, the append joins the caller's transaction (a lost race
        leaves that transaction usable) and NOTIFYs the store's
        listeners at its commit, unless `notify=False` (then call `notify()` after committing:
        a NOTIFY inside a transaction serialises commits).
        """
        if not envelopes:
            raise ValueError("nothing to append")
        args = (
            stream,
            category_of(stream),
            expected_version,
            [e.id for e in envelopes],
            [e.type for e in envelopes],
            [e.data for e in envelopes],
            [e.metadata() for e in envelopes],
            [e.time for e in envelopes],
            conn is not None and notify,
        )
        sql = "SELECT version, outcome FROM append_events($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        # One round trip, and never an error that would abort the caller's transaction.
        row = await (conn.fetchrow(sql, *args) if conn is not None else self.pool.fetchrow(sql, *args))
        assert row is not None
        version: int = row["version"]
        outcome: str = row["outcome"]
        if outcome == "conflict":
            raise ConcurrencyError(stream, expected_version, version)
        if outcome == "partial":
            raise ValueError(f"stream {stream}: some of these events are stored already, some are not")
        if outcome == "appended" and conn is None and notify:
            self.notify()
        return version

    async def append_each(
        self, envelopes: Sequence[Envelope], *, conn: Connection, notify: bool = False
    ) -> None:
        """Each envelope appended to the stream its `subject` names, without a version check, in
        one round trip: what `append(e.subject, None, [e], conn=conn, notify=notify)` does for
        each, in order (a stored id is a no-op). For many streams' events written in one
        transaction; without `notify`, NOTIFY is left to the caller (`notify()` after commit)."""
        if not envelopes:
            return
        rows = await conn.fetch(
            """SELECT (append_events(t.stream, t.category, NULL, ARRAY[t.id], ARRAY[t.type], ARRAY[t.data],
                                     ARRAY[t.metadata], ARRAY[t.occurred_at], $8)).outcome
               FROM unnest($1::text[], $2::text[], $3::uuid[], $4::text[], $5::jsonb[], $6::jsonb[],
                           $7::timestamptz[]) WITH ORDINALITY
                    AS t(stream, category, id, type, data, metadata, occurred_at, n)
               ORDER BY t.n""",
            *_columns(envelopes),
            notify,
        )
        assert all(r["outcome"] in ("appended", "duplicate") for r in rows), "one id, no expected version"

    async def start_streams(
        self, envelopes: Sequence[Envelope], *, conn: Connection
    ) -> dict[uuid.UUID, Position]:
        """Each envelope starts its own stream (its `subject`) as version 1, in one statement.

        For one-event streams, such as the gateway's intents, written many at a time in the
        caller's transaction. An envelope whose id is stored already is skipped, so a redelivery
        is a no-op, even one racing another writer. A subject that already names a stream with
        other events is an error (a unique violation). NOTIFY is left to the caller (`notify()`
        after commit). Returns the position of each envelope's event, new or stored before.
        """
        if not envelopes:
            return {}
        rows = await conn.fetch(
            """INSERT INTO events (stream, category, version, id, type, data, metadata, occurred_at)
               SELECT t.stream, t.category, 1, t.id, t.type, t.data, t.metadata, t.occurred_at
               FROM unnest($1::text[], $2::text[], $3::uuid[], $4::text[], $5::jsonb[], $6::jsonb[],
                           $7::timestamptz[]) AS t(stream, category, id, type, data, metadata, occurred_at)
               ON CONFLICT (id) DO NOTHING
               RETURNING id, tx::text::bigint AS tx, position""",
            *_columns(envelopes),
        )
        positions = {r["id"]: Position(r["tx"], r["position"]) for r in rows}
        stored_before = [e.id for e in envelopes if e.id not in positions]
        if stored_before:
            rows = await conn.fetch(
                "SELECT id, tx::text::bigint AS tx, position FROM events WHERE id = ANY($1::uuid[])",
                stored_before,
            )
            positions.update({r["id"]: Position(r["tx"], r["position"]) for r in rows})
        return positions

    async def read_stream(
        self, stream: str, *, after_version: int = 0, conn: Connection | None = None
    ) -> list[RecordedEvent]:
        """The stream's events after `after_version`, in order; in the caller's transaction with `conn`
        (then its own appends are read too, marked `mine`)."""
        sql = f"""SELECT {_COLUMNS}, tx = pg_current_xact_id_if_assigned() AS mine
                  FROM events WHERE stream = $1 AND version > $2 ORDER BY version"""
        if conn is not None:
            rows = await conn.fetch(sql, stream, after_version)
        else:
            rows = await self.pool.fetch(sql, stream, after_version)
        return [_row_to_event(r) for r in rows]

    async def read_all(
        self,
        after: Position = START,
        *,
        limit: int = 1000,
        category: str | None = None,
        conn: Connection | None = None,
        types: Collection[str] | None = None,
    ) -> list[RecordedEvent]:
        """Events after `after` in commit order; never one that a running transaction could still precede.

        With `types`, of the next `limit` events only those of these types, and the last one
        whatever its type, so that the reader moves on past the others (a projection that reads
        bookings need not load every reply written through the outbox).
        """
        args = (str(after.tx), after.seq, category, limit)
        if types is None:
            rows = await (conn or self.pool).fetch(_READ_ALL, *args)
        else:
            rows = await (conn or self.pool).fetch(_READ_ALL_OF_TYPES, *args, list(types))
        return [_row_to_event(r) for r in rows]

    async def save_checkpoint_and_read_all(
        self,
        name: str,
        after: Position,
        *,
        limit: int,
        conn: Connection | None = None,
        announce: str | None = None,
    ) -> list[RecordedEvent]:
        """`save_checkpoint(name, after, announce=...)`, then `read_all(after)`, in one statement.

        One round trip instead of two, for a relay that moves its checkpoint as it reads on.
        """
        args = (name, str(after.tx), after.seq, announce, None, limit)
        rows = await (conn or self.pool).fetch(_SAVE_CHECKPOINT_AND_READ_ALL, *args)
        return [_row_to_event(r) for r in rows]


async def load_checkpoint(conn: Connection | Pool, name: str) -> Position:
    row = await conn.fetchrow(
        "SELECT tx::text::bigint AS tx, position FROM checkpoints WHERE name = $1", name
    )
    return Position(row["tx"], row["position"]) if row else START


async def save_checkpoint(
    conn: Connection | Pool, name: str, position: Position, *, announce: str | None = None
) -> None:
    """Store `name`'s position; with `announce`, also NOTIFY that channel with it ("tx:seq") at commit."""
    await conn.execute(_SAVE_CHECKPOINT, name, str(position.tx), position.seq, announce)


def parse_announced(payload: str) -> Position:
    """The position in a `save_checkpoint(..., announce=...)` notification."""
    tx, _, seq = payload.partition(":")
    return Position(int(tx), int(seq))
