"""Notices to many (campaigns and emergency alerts): the audience cut into fixed chunks and sent.

An approved notice gets a row in `notice_sends` (in the approval's transaction). The sender
(one active per schema, an advisory lock) then:

- cuts the audience into chunks (`notice_chunks`) of up to 500 residents, walking the code
  table in the order rows were added (`audience.n`), a batch per transaction: the chunks and the cursor after them are
  committed together, so a restart goes on from the cursor and a resident is in one chunk only.
  A campaign skips residents who blocked the account or stopped its interest, and holds back
  those in their quiet hours until the hours end; an alert skips only the blocked. Each
  resident's language picks the notice's variant (Japanese when it has none);
- sends due chunks as multicasts, alerts first (the priority lane), many at once within LINE's
  rate (`LineApi`'s bucket, shared with every other multicast notify sends). Each chunk's retry
  key derives from the notice and the chunk, so a chunk resent after a crash is answered 409 by
  LINE and counted once: none lost, none twice;
- records each chunk's outcome, and completes the notice (`NoticeCompleted`, with its numbers)
  once no chunk is pending.

A million ids never travel on the bus: the chunks live in notify's own database, and the only
thing that crosses a process is the approval.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cityhall.events.coalescer import Coalescer
from cityhall.events.db import Connection, Pool
from cityhall.events.decider import CommandHandler
from cityhall.events.waiting import wake_or_timeout
from cityhall.line.japanese import jst
from cityhall.notify.delivery import MULTICAST_MAX
from cityhall.notify.dispatcher import messages_json
from cityhall.notify.domain import Notice
from cityhall.notify.events import CompleteNotice, NoticeCommand, notice_stream
from cityhall.notify.line_api import MULTICAST, Answer, LineApi, Response, body, retry_key
from cityhall.notify.segments import Where, parse

log = logging.getLogger(__name__)

CHANNEL = "notify_notices_{schema}"


@dataclass(frozen=True)
class Chunk:
    send_id: uuid.UUID
    idx: int
    variant: int
    recipients: list[str]


class Stopped(Exception):
    """The notice was cancelled while its chunk waited for LINE's rate: not sent."""


def chunk_key(send_id: uuid.UUID, idx: int) -> str:
    return retry_key(f"notice:{send_id}", idx)


# Japan time hour of "now" ($8) decides who is in their quiet hours; they get the next end of it.
_RELEASE = """
    CASE WHEN $6::boolean OR quiet_start IS NULL OR quiet_start = quiet_end OR NOT (
             CASE WHEN quiet_start < quiet_end THEN $8 >= quiet_start AND $8 < quiet_end
                  ELSE $8 >= quiet_start OR $8 < quiet_end END)
         THEN $7::timestamptz
         ELSE (date_trunc('day', $7::timestamptz AT TIME ZONE 'Asia/Tokyo') + make_interval(hours => quiet_end)
               + CASE WHEN quiet_end <= $8 THEN interval '1 day' ELSE interval '0' END) AT TIME ZONE 'Asia/Tokyo'
    END"""

_CUT = """
    WITH batch AS MATERIALIZED (
        SELECT n, user_id, blocked, interests, language, quiet_start, quiet_end FROM audience
        WHERE n > $2 AND ({where})
        ORDER BY n LIMIT $3
    ), picked AS (
        SELECT n, user_id, CASE WHEN language = ANY($4::smallint[]) THEN language ELSE 0::smallint END AS variant,
               {release} AS release_at
        FROM batch WHERE NOT blocked AND ($5::smallint IS NULL OR interests @> ARRAY[$5::smallint])
    ), numbered AS (
        SELECT n, user_id, variant, release_at,
               (row_number() OVER (PARTITION BY variant, release_at ORDER BY n) - 1) / {size} AS part
        FROM picked
    ), grouped AS (
        SELECT variant, release_at, part, array_agg(user_id ORDER BY n) AS recipients
        FROM numbered GROUP BY variant, release_at, part
    ), inserted AS (
        INSERT INTO notice_chunks (send_id, idx, variant, release_at, recipients, size)
        SELECT $1, $9 + row_number() OVER (ORDER BY variant, release_at, part) - 1, variant, release_at,
               recipients, cardinality(recipients)
        FROM grouped
        RETURNING 1
    )
    SELECT (SELECT max(n) FROM batch) AS last, (SELECT count(*) FROM batch) AS read,
           (SELECT count(*) FROM batch WHERE blocked) AS blocked,
           (SELECT count(*) FROM batch WHERE NOT blocked AND $5::smallint IS NOT NULL
                AND NOT interests @> ARRAY[$5::smallint]) AS opted_out,
           (SELECT count(*) FROM inserted) AS chunks"""


class NoticeSender:
    def __init__(
        self,
        pool: Pool,
        line: LineApi,
        notices: CommandHandler[NoticeCommand, Notice],
        *,
        concurrency: int = 32,
        first_batch: int = 5_000,
        batch: int = 50_000,
        buffered: int = 96,
        poll_interval: float = 0.5,
        chunk_size: int = MULTICAST_MAX,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.pool, self.line, self.notices = pool, line, notices
        self.concurrency, self.first_batch, self.batch = concurrency, first_batch, batch
        self.buffered, self.poll_interval = buffered, poll_interval
        self.chunk_size = min(chunk_size, MULTICAST_MAX)
        self.clock = clock
        self.active = False
        self._wake = asyncio.Event()
        self._gate = asyncio.Semaphore(concurrency)
        self._in_flight: dict[tuple[uuid.UUID, int], asyncio.Task[None]] = {}
        self._cutting: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._messages: dict[uuid.UUID, dict[int, str]] = {}
        self._cancelled: set[uuid.UUID] = set()
        self._records: Coalescer[tuple[Chunk, Answer], None] = Coalescer(self._record, max_batch=200)
        self._channel: str | None = None

    async def channel(self) -> str:
        if self._channel is None:
            schema: str = await self.pool.fetchval("SELECT current_schema()")
            self._channel = CHANNEL.format(schema=schema)
        return self._channel

    def wake(self, *_args: object) -> None:
        self._wake.set()

    def cancelled(self, send_id: uuid.UUID) -> None:
        """Chunks of `send_id` still waiting for their turn are not sent (the desk committed it)."""
        self._cancelled.add(send_id)
        self._wake.set()

    async def run(self) -> None:
        """Send until cancelled; waits for the schema's sender lock first."""
        channel = await self.channel()
        conn = await self.pool.acquire()
        try:
            while not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", channel):
                await asyncio.sleep(self.poll_interval)
            await conn.add_listener(channel, self.wake)
            self.active = True
            while True:
                self._wake.clear()
                await self._start_cutting()
                await self._pump()
                await self._complete()
                await wake_or_timeout(self._wake, self.poll_interval)
        finally:
            self.active = False
            tasks = [*self._in_flight.values(), *self._cutting.values()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._in_flight.clear()
            self._cutting.clear()
            with contextlib.suppress(Exception):
                await conn.remove_listener(channel, self.wake)
                await conn.execute("SELECT pg_advisory_unlock_all()")
            await self.pool.release(conn)

    # --- cutting the audience into chunks ----------------------------------------------------

    async def _start_cutting(self) -> None:
        rows = await self.pool.fetch(
            """SELECT send_id FROM notice_sends
               WHERE NOT materialized AND NOT cancelled AND not_before <= $1
               ORDER BY alert DESC, approved_at""",
            self.clock(),
        )
        for row in rows:
            send_id = row["send_id"]
            if send_id not in self._cutting:
                task = asyncio.create_task(self._cut_all(send_id), name=f"notice-cut-{send_id}")
                self._cutting[send_id] = task
                task.add_done_callback(functools.partial(self._cut_done, send_id))

    def _cut_done(self, send_id: uuid.UUID, _task: object) -> None:
        task = self._cutting.pop(send_id, None)
        if task is not None and not task.cancelled() and task.exception() is not None:
            log.error("cutting notice %s failed; trying again", send_id, exc_info=task.exception())
        self._wake.set()

    async def _cut_all(self, send_id: uuid.UUID) -> None:
        limit = self.first_batch
        while await self._cut(send_id, limit):
            self._wake.set()
            limit = self.batch

    async def _cut(self, send_id: uuid.UUID, limit: int) -> bool:
        """One batch of chunks and the cursor after it, in one transaction; True while more remain."""
        async with self.pool.acquire() as conn, conn.transaction():
            send = await conn.fetchrow("SELECT * FROM notice_sends WHERE send_id = $1 FOR UPDATE", send_id)
            if send is None or send["materialized"] or send["cancelled"]:
                return False
            now = self.clock()
            condition = parse(send["condition"], location_only=send["alert"])
            where = Where(jst(send["not_before"]).date(), start=10)
            sql = _CUT.format(where=where.sql(condition), release=_RELEASE, size=self.chunk_size)
            variants = [int(v) for v in send["variants"]]
            cut = await conn.fetchrow(
                sql, send_id, send["position"], limit, variants, send["interest"], send["alert"], now,
                jst(now).hour, send["next_chunk"], *where.params,
            )  # fmt: skip
            assert cut is not None
            done = cut["read"] < limit
            await conn.execute(
                """UPDATE notice_sends SET position = coalesce($2, position), next_chunk = next_chunk + $3,
                       skipped_blocked = skipped_blocked + $4, skipped_opted_out = skipped_opted_out + $5,
                       materialized = $6
                   WHERE send_id = $1""",
                send_id, cut["last"], cut["chunks"], cut["blocked"], cut["opted_out"], done,
            )  # fmt: skip
            return not done

    # --- sending -------------------------------------------------------------------------

    async def _pump(self) -> None:
        if self._in_flight:  # a cancellation committed by another process
            rows = await self.pool.fetch(
                "SELECT send_id FROM notice_sends WHERE cancelled AND send_id = ANY($1::uuid[])",
                list({key[0] for key in self._in_flight}),
            )
            self._cancelled.update(r["send_id"] for r in rows)
        room = self.buffered - len(self._in_flight)
        if room <= 0:
            return
        busy = list(self._in_flight)
        rows = await self.pool.fetch(
            """SELECT c.send_id, c.idx, c.variant, c.recipients FROM notice_chunks c JOIN notice_sends s USING (send_id)
               WHERE c.status = 'pending' AND c.release_at <= $1 AND NOT s.cancelled
                 AND NOT EXISTS (SELECT 1 FROM unnest($2::uuid[], $3::int[]) AS f(send_id, idx)
                                 WHERE f.send_id = c.send_id AND f.idx = c.idx)
               ORDER BY s.alert DESC, s.approved_at, c.send_id, c.idx LIMIT $4""",
            self.clock(),
            [b[0] for b in busy],
            [b[1] for b in busy],
            room,
        )
        for row in rows:
            chunk = Chunk(row["send_id"], row["idx"], row["variant"], row["recipients"])
            messages = await self._variant(chunk)
            task = asyncio.create_task(self._send(chunk, messages))
            self._in_flight[(chunk.send_id, chunk.idx)] = task
            task.add_done_callback(functools.partial(self._sent, (chunk.send_id, chunk.idx)))

    def _sent(self, key: tuple[uuid.UUID, int], _task: object) -> None:
        self._in_flight.pop(key, None)
        if len(self._in_flight) <= self.buffered // 2:
            self._wake.set()

    async def _variant(self, chunk: Chunk) -> str:
        """The chunk's messages as JSON, serialised once per notice (`messages_json`)."""
        variants = self._messages.get(chunk.send_id)
        if variants is None:
            raw: dict[str, list[dict[str, Any]]] = await self.pool.fetchval(
                "SELECT variants FROM notice_sends WHERE send_id = $1", chunk.send_id
            )
            variants = {int(code): messages_json(messages) for code, messages in raw.items()}
            self._messages[chunk.send_id] = variants
        return variants.get(chunk.variant) or variants[0]

    async def _send(self, chunk: Chunk, messages: str) -> None:
        post = self.line.post(
            MULTICAST,
            body(messages, to=chunk.recipients, notificationDisabled=False),
            retry_key=chunk_key(chunk.send_id, chunk.idx),
        )

        async def call(timeout: float) -> Response:
            if chunk.send_id in self._cancelled:
                raise Stopped()
            return await post(timeout)

        try:
            async with self._gate:
                answer = await self.line.send("multicast", call)
        except Stopped:
            return  # its row says cancelled already
        await self._records.submit((chunk, answer))

    async def _record(self, items: list[tuple[Chunk, Answer]]) -> list[None]:
        # A chunk cancelled while it was on its way keeps what LINE said: what was sent stays sent.
        await self.pool.execute(
            """UPDATE notice_chunks c SET status = v.status, already_accepted = v.again, line_status = v.code,
                   error = v.error, sent_at = $7
               FROM unnest($1::uuid[], $2::int[], $3::text[], $4::boolean[], $5::int[], $6::text[])
                    AS v(send_id, idx, status, again, code, error)
               WHERE c.send_id = v.send_id AND c.idx = v.idx AND c.status IN ('pending', 'cancelled')""",
            [c.send_id for c, _a in items],
            [c.idx for c, _a in items],
            ["delivered" if a.delivered else "failed" for _c, a in items],
            [a.outcome == "already_accepted" for _c, a in items],
            [a.status for _c, a in items],
            [None if a.delivered else a.message[:2000] for _c, a in items],
            self.clock(),
        )
        return [None] * len(items)

    # --- completion ----------------------------------------------------------------------

    async def _complete(self) -> None:
        busy = {key[0] for key in self._in_flight}
        rows = await self.pool.fetch(
            """SELECT send_id FROM notice_sends s
               WHERE finished_at IS NULL AND (materialized OR cancelled)
                 AND NOT EXISTS (SELECT 1 FROM notice_chunks c WHERE c.send_id = s.send_id AND c.status = 'pending')"""
        )
        for row in rows:
            if row["send_id"] not in busy and row["send_id"] not in self._cutting:
                await self._finish(row["send_id"])

    async def _next_week(self, conn: Connection, send_id: uuid.UUID, notice_id: uuid.UUID) -> None:
        """A weekly notice's next send: the same notice a week after this one, its own chunks."""
        week: int = await conn.fetchval("SELECT count(*) FROM notice_sends WHERE notice_id = $1", notice_id)
        await conn.execute(
            """INSERT INTO notice_sends (send_id, notice_id, alert, condition, interest, variants, not_before, weekly)
               SELECT $2, notice_id, alert, condition, interest, variants, not_before + interval '7 days', true
               FROM notice_sends WHERE send_id = $1
               ON CONFLICT (send_id) DO NOTHING""",
            send_id,
            uuid.uuid5(notice_id, f"week-{week}"),
        )

    async def _finish(self, send_id: uuid.UUID) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            counts = await stats(conn, send_id)
            send = await conn.fetchrow(
                """UPDATE notice_sends SET finished_at = $2 WHERE send_id = $1
                   RETURNING series, weekly, cancelled, notice_id""",
                send_id,
                self.clock(),
            )
            if send is None or send["series"] is not None:
                return  # not a drafted notice (the newcomer series, 安否確認): its numbers stay in its rows
            if send["weekly"] and not send["cancelled"]:
                await self._next_week(conn, send_id, send["notice_id"])
                return
            await self.notices.handle(
                notice_stream(send["notice_id"]),
                CompleteNotice(
                    delivered=counts["delivered"],
                    failed=counts["failed"],
                    skipped=counts["skipped_blocked"] + counts["skipped_opted_out"],
                    at=self.clock(),
                ),
                conn=conn,
            )
        self._messages.pop(send_id, None)


async def stats(conn: Connection | Pool, send_id: uuid.UUID) -> dict[str, Any]:
    """A notice's progress in residents: delivered, failed, pending, cancelled, skipped."""
    row = await conn.fetchrow(
        """SELECT s.materialized, s.cancelled AS stopped, s.finished_at, s.skipped_blocked, s.skipped_opted_out,
                  coalesce(sum(c.size) FILTER (WHERE c.status = 'delivered'), 0) AS delivered,
                  coalesce(sum(c.size) FILTER (WHERE c.status = 'failed'), 0) AS failed,
                  coalesce(sum(c.size) FILTER (WHERE c.status = 'pending'), 0) AS pending,
                  coalesce(sum(c.size) FILTER (WHERE c.status = 'cancelled'), 0) AS cancelled,
                  count(c.idx) AS chunks
           FROM notice_sends s LEFT JOIN notice_chunks c USING (send_id)
           WHERE s.send_id = $1 GROUP BY s.send_id""",
        send_id,
    )
    if row is None:
        return {}
    return dict(row)
