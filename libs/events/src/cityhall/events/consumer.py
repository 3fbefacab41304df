"""Idempotent consumers: each message has exactly one effect, however often it arrives.

For every message, one transaction writes the inbox row (consumer, event id), the
handler's own writes and the consumer's next offset. A redelivered message finds its
inbox row and only moves the offset. A handler that keeps failing is retried with
backoff and jitter; after `max_attempts` the message goes to `dlq.<consumer>` with its
error and the partition moves on.

Different keys (residents, streams) are handled concurrently, at most `concurrency` at
once, so one slow key never stalls the others; messages of one key are handled in the
order they were fetched. The offset written with a message is never past the lowest
message of its partition that is still unfinished (`Positions`): a crash redelivers only
what was unfinished or uncommitted, and the inbox drops what was done already.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
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

BatchHandler = Callable[[Sequence[Envelope], Connection], Awaitable[None]]
"""Handles a batched consumer's new messages of one fetch together, in their order, inside the
batch's transaction: one INSERT for all of them, say, instead of one per message."""

Prepare = Callable[[Envelope, Pool], Awaitable[None]]
"""Runs before a message's transaction, holding none: where a handler makes its network calls
(a download, a checkout), so that no transaction stays open while a remote end is slow. Not
run for a message already handled; run again when the transaction fails and is retried."""

DeadLetter = Callable[[Envelope, Connection], Awaitable[None]]
"""Runs in the transaction that dead-letters a message: e.g. tell the resident it failed."""


CONSUMER_RETRY = Backoff(base=0.05, cap=5.0, max_attempts=5)
"""A failing handler: retried with jittered backoff, then its message is dead-lettered."""


CONCURRENCY = 16
"""Keys a consumer handles at once (`concurrency=1` is one message at a time)."""
BATCH_LIMIT = 64
"""Messages a batched consumer handles in one transaction. The service's relay and projections
read only below its oldest running transaction (`commit_horizon()`), so a long batch holds back
the service's publishing: at most this many (bench/RESULTS.md, the 5,000-resident race)."""
MAX_BUFFERED = 1000
"""Fetched messages not yet finished, beyond which the consumer stops fetching."""


def dlq_topic(consumer: str) -> str:
    return f"dlq.{consumer}"


Partition = tuple[str, int]


_STORE_OFFSET = """INSERT INTO consumer_offsets (consumer, topic, partition, next_offset) VALUES ($1, $2, $3, $4)
   ON CONFLICT (consumer, topic, partition)
   DO UPDATE SET next_offset = greatest(consumer_offsets.next_offset, excluded.next_offset)"""

_RECEIVE = """WITH fresh AS (
       INSERT INTO inbox (consumer, event_id) SELECT $1, unnest($2::uuid[])
       ON CONFLICT DO NOTHING RETURNING event_id
   ), stored AS (
       INSERT INTO consumer_offsets (consumer, topic, partition, next_offset)
       SELECT $1, unnest($3::text[]), unnest($4::integer[]), unnest($5::bigint[])
       ON CONFLICT (consumer, topic, partition)
       DO UPDATE SET next_offset = greatest(consumer_offsets.next_offset, excluded.next_offset)
   )
   SELECT event_id FROM fresh"""
"""A batch's inbox rows and its partitions' offsets (one row per partition), in one round trip:
the ids not seen before come back. Postgres runs both inserts whatever the SELECT reads. Only for
a batch, which has the consumer to itself: the offsets' rows stay locked until it commits. The
offsets are worked out before the handlers run; nothing else of the batch's partitions is
unfinished then, so they are never past unfinished work."""


class Positions:
    """Per partition: the offsets fetched and not yet finished, and where reading stands.

    The offset to store once a message is done is the lowest other unfinished offset of its
    partition, or past everything fetched when none is left: never past unfinished work.
    The embedded bus's offsets have gaps (one sequence for all topics); "the next offset to
    read" is still the lowest unfinished one, as its reader reads `offset >= next`."""

    def __init__(self) -> None:
        self._open: dict[Partition, set[int]] = {}
        self._next: dict[Partition, int] = {}

    def fetched(self, message: Message) -> bool:
        """Track `message`; False if it is already tracked (a re-read after a rebalance)."""
        tp = (message.topic, message.partition)
        open_ = self._open.setdefault(tp, set())
        if message.offset in open_:
            return False
        open_.add(message.offset)
        self._next[tp] = max(self._next.get(tp, 0), message.offset + 1)
        return True

    def commit_after(self, message: Message, together: Sequence[Message] = ()) -> int:
        """The offset to store once `message` (and `together`, of its partition) is done."""
        tp = (message.topic, message.partition)
        finishing = {message.offset, *(m.offset for m in together)}
        others = self._open.get(tp, set()) - finishing
        if others:
            return min(others)
        return max(self._next.get(tp, 0), max(finishing) + 1)

    def done(self, message: Message) -> None:
        self._open.get((message.topic, message.partition), set()).discard(message.offset)

    def unfinished(self) -> int:
        return sum(len(o) for o in self._open.values())

    def resume_points(self) -> dict[Partition, int]:
        """Per partition, where a new run starts: the lowest unfinished offset, or past
        everything fetched when nothing is unfinished."""
        return {tp: min(self._open.get(tp) or {after}) for tp, after in self._next.items()}


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
        concurrency: int = CONCURRENCY,
        max_buffered: int = MAX_BUFFERED,
        prepare: Prepare | None = None,
        on_dead_letter: DeadLetter | None = None,
        handle_batch: BatchHandler | None = None,
        prepares: Callable[[Envelope], bool] | None = None,
    ) -> None:
        """`batched=True` handles a fetch's messages of each partition in one transaction (one commit
        instead of one per message; at most `BATCH_LIMIT` messages each) and falls back to one
        message at a time when anything in it fails. Only for handlers whose effects are all in the
        database: a failed batch runs its handlers again. Different partitions' batches run at
        once, one partition's one after another, all finished before the next fetch. `handle_batch` (with `batched`) takes a batch's new messages in one call instead
        of `handler` for each; the fallback and single messages still go to `handler`.

        With `batched` and `prepare`, a message `prepare` has work for (`prepares`, else every
        message) is handled on its own, concurrently as without `batched`, and so are the later
        messages of its key while it is unfinished: a slow remote end delays its resident only,
        never a batch."""
        if concurrency < 1 or max_buffered < 1:
            raise ValueError("concurrency and max_buffered must be at least 1")
        self.name = name
        self.topics = list(topics)
        self.handler = handler
        self.handle_batch = handle_batch
        self.bus = bus
        self.pool = pool
        self.retry = retry or CONSUMER_RETRY
        self.batched = batched
        self.prepare, self.on_dead_letter = prepare, on_dead_letter
        self.prepares = prepares
        self.max_buffered = max_buffered
        self.handled = 0
        self.positions = Positions()
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._finished: list[asyncio.Task[None]] = []
        """Tasks done since the last `_reap` (their done callbacks add them: no scan of every task)."""
        self._any_finished = asyncio.Event()
        self._last_of_key: dict[str, asyncio.Task[None]] = {}

    async def run(self) -> None:
        """Consume until cancelled (or until handling a message fails beyond its retries and
        dead-lettering, e.g. with the database gone: then the error ends the run)."""
        subscription = self.bus.subscribe(self.name, self.topics, self.pool)
        await subscription.start()
        try:
            while True:
                while self.positions.unfinished() >= self.max_buffered:
                    # Not asyncio.wait(self._tasks): it hooks every buffered task each time, a
                    # thousand per finished message when the buffer is full.
                    self._any_finished.clear()
                    await self._any_finished.wait()
                    self._reap()
                messages = [m for m in await subscription.fetch(timeout=1.0) if self.positions.fetched(m)]
                self._reap()
                if self.batched:
                    # On their own (see __init__): keys with a message to prepare, or in flight.
                    alone = {m.key for m in messages if self._needs_preparing(m)} | self._last_of_key.keys()
                    for message in messages:
                        if message.key in alone:
                            self._dispatch(message)
                    # Partitions' batches at once (each its own offsets row: none waits for
                    # another's commit); one partition's in order.
                    by_partition: dict[Partition, list[Message]] = {}
                    for message in messages:
                        if message.key not in alone:
                            by_partition.setdefault((message.topic, message.partition), []).append(message)
                    await asyncio.gather(*(self._finish_batches(part) for part in by_partition.values()))
                    continue
                for message in messages:
                    self._dispatch(message)
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks.clear()
            self._finished.clear()
            self._last_of_key.clear()
            await self._save_positions()
            await subscription.stop()

    def _needs_preparing(self, message: Message) -> bool:
        if self.prepare is None:
            return False
        try:
            return self.prepares is None or self.prepares(message.envelope())
        except ValueError:
            return True  # a poison message: the one-by-one path dead-letters it

    async def _finish_batches(self, messages: list[Message]) -> None:
        """`messages` (of one partition) in transactions of at most `BATCH_LIMIT`, one after another."""
        for start in range(0, len(messages), BATCH_LIMIT):
            await self._finish_batch(messages[start : start + BATCH_LIMIT])

    async def _finish_batch(self, messages: list[Message]) -> None:
        """`messages` in one transaction, else one by one (each in its own)."""
        if len(messages) > 1 and await self._process_together(messages):
            for message in messages:
                self.positions.done(message)
            return
        await asyncio.gather(*[self._dispatch(message) for message in messages])
        self._reap()

    async def _save_positions(self) -> None:
        """On stopping, store each partition's resume point. Two messages finishing together
        each store "not past the other", so the last one's offset can lag behind finished work:
        harmless after a crash (the inbox drops the re-read), but a clean stop resumes exactly."""
        rows = [(self.name, t, p, o) for (t, p), o in self.positions.resume_points().items()]
        if not rows:
            return
        try:
            await self.pool.executemany(_STORE_OFFSET, rows)
        except Exception as exc:  # the database may be gone already; the inbox covers a re-read
            log.warning("%s: could not store its positions on stopping: %s", self.name, exc)

    def _dispatch(self, message: Message) -> asyncio.Task[None]:
        """Handle `message` after the previous message of its key, in one of the slots."""
        previous = self._last_of_key.get(message.key)
        task = asyncio.create_task(self._in_turn(message, previous))
        task.add_done_callback(self._on_finished)
        self._tasks.add(task)
        self._last_of_key[message.key] = task
        return task

    async def _in_turn(self, message: Message, previous: asyncio.Task[None] | None) -> None:
        """A message that failed (or follows one of its key that failed) stays unfinished, so
        no offset passes it; the failure ends the run (`_reap`)."""
        try:
            if previous is not None:
                await asyncio.wait([previous])
                if previous.cancelled() or previous.exception() is not None:
                    return
            async with self._slots:
                await self.process(message)
            self.positions.done(message)
        finally:
            if self._last_of_key.get(message.key) is asyncio.current_task():
                del self._last_of_key[message.key]

    def _on_finished(self, task: asyncio.Task[None]) -> None:
        self._finished.append(task)
        self._any_finished.set()

    def _reap(self) -> None:
        """Forget finished tasks; re-raise the first failure (the run ends, as it did when one
        message at a time was handled in the loop)."""
        finished, self._finished = self._finished, []
        self._tasks.difference_update(finished)
        for task in finished:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

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
                fresh = await self._receive(conn, [e.id for e in envelopes], self._offsets(messages))
                new: list[tuple[Message, Envelope]] = []
                for message, envelope in zip(messages, envelopes, strict=True):
                    if envelope.id in fresh:
                        fresh.discard(envelope.id)  # a duplicate within the batch has one effect too
                        new.append((message, envelope))
                if self.handle_batch is not None and new:
                    # One span for the batch, in the first message's trace: the others' traces
                    # end at their publish.
                    first, envelope = new[0]
                    with span_from(envelope.traceparent, f"process {first.topic}", SpanKind.CONSUMER) as span:
                        span.set_attribute("messaging.batch.message_count", len(new))
                        await self.handle_batch([e for _m, e in new], conn)
                else:
                    for message, envelope in new:
                        with span_from(envelope.traceparent, f"process {message.topic}", SpanKind.CONSUMER):
                            await self.handler(envelope, conn)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info("%s: batch of %d failed (%s); handling one by one", self.name, len(messages), exc)
            return False
        self.handled += len(messages)
        return True

    async def _handle_once(self, message: Message, envelope: Envelope) -> None:
        if self.prepare is not None:
            seen = await self.pool.fetchval(
                "SELECT true FROM inbox WHERE consumer = $1 AND event_id = $2", self.name, envelope.id
            )
            if not seen:
                await self.prepare(envelope, self.pool)
        async with self.pool.acquire() as conn, conn.transaction():
            first_time = await conn.fetchval(
                """INSERT INTO inbox (consumer, event_id) VALUES ($1, $2)
                   ON CONFLICT DO NOTHING RETURNING true""",
                self.name,
                envelope.id,
            )
            if first_time:
                await self.handler(envelope, conn)
            # Last: the offset's row stays locked until the commit, and other messages of the
            # partition, handled at the same time, write it too.
            await self._commit_offset(conn, message)

    def _offsets(self, messages: Sequence[Message]) -> dict[Partition, int]:
        """Per partition of `messages`: the offset to store once they are all done (`Positions`)."""
        last: dict[Partition, Message] = {}
        together: dict[Partition, list[Message]] = {}
        for message in messages:
            tp = (message.topic, message.partition)
            last[tp] = message
            together.setdefault(tp, []).append(message)
        return {tp: self.positions.commit_after(m, together[tp]) for tp, m in last.items()}

    async def _receive(
        self, conn: Connection, ids: list[uuid.UUID], offsets: dict[Partition, int]
    ) -> set[uuid.UUID]:
        """Inbox rows for `ids` and the `offsets`, in one statement; the ids not seen before."""
        rows = await conn.fetch(
            _RECEIVE,
            self.name,
            ids,
            [t for t, _p in offsets],
            [p for _t, p in offsets],
            list(offsets.values()),
        )
        return {r["event_id"] for r in rows}

    async def _commit_offset(self, conn: Connection, message: Message) -> None:
        """Store how far this partition is done once `message` is (see `Positions`)."""
        await conn.execute(
            _STORE_OFFSET, self.name, message.topic, message.partition, self.positions.commit_after(message)
        )

    async def _dead_letter(
        self, message: Message, envelope: Envelope | None, error: str, attempts: int
    ) -> None:
        log.error(
            "%s: dead-lettered %s (key %s, %s/%d@%d) after %d attempts: %s",
            self.name,
            envelope.id if envelope is not None else "an undecodable message",
            message.key,
            message.topic,
            message.partition,
            message.offset,
            attempts,
            error,
        )
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
                first_time = await conn.fetchval(
                    """INSERT INTO inbox (consumer, event_id) VALUES ($1, $2)
                       ON CONFLICT DO NOTHING RETURNING true""",
                    self.name,
                    envelope.id,
                )
                if first_time and self.on_dead_letter is not None:
                    await self.on_dead_letter(envelope, conn)
            await self._commit_offset(conn, message)
