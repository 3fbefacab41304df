"""How one queued request reaches LINE, exactly once.

- One recipient with a fresh reply token (the resident acted less than 50 s ago; LINE's
  token lives about a minute): reply. Otherwise, or when LINE refuses the token: push.
- Several recipients: multicast, in chunks of 500, each chunk with its own retry key.
- Residents who blocked the account get no push or multicast: recorded as skipped.

Exactly once across crashes. The request leaves the queue in the transaction that records
its outcome, so a crash after LINE accepted but before that commit sends it again:
- push and multicast carry `X-Line-Retry-Key` derived from the idempotency key (and the
  chunk), so LINE answers the resend with 409 and nothing is delivered twice;
- a reply has no retry key, but LINE honours a reply token only once. Before replying we
  commit "reply attempted"; a resend of such a request replies again with the same token
  while it is fresh: either it goes through (the first attempt never reached LINE) or LINE
  refuses the used token, which tells us the first attempt was delivered. Only if the token
  has gone stale by then do we not know, and push (see `_reply`).
- a multicast's blocked recipients are fixed (and recorded) before the first chunk, so a
  resend cuts the same chunks; chunks already recorded are not sent again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from cityhall.events.coalescer import Coalescer
from cityhall.events.db import Pool
from cityhall.events.envelope import Event
from cityhall.notify.dispatcher import DeliveryQueue, Job, skipped_event
from cityhall.notify.domain import Friend, friend_decider, friend_stream
from cityhall.notify.events import (
    DeliveryMethod,
    FriendFollowed,
    FriendUnfollowed,
    MessageDelivered,
    MessageDeliveryFailed,
)
from cityhall.notify.line_api import (
    MULTICAST,
    PUSH,
    REPLY,
    Answer,
    LineApi,
    body,
    retry_key,
    retryable,
)

log = logging.getLogger(__name__)

MULTICAST_MAX = 500
REPLY_FRESH_FOR = timedelta(seconds=50)
_PROBE_LIMIT = 5_000
_FRIEND_EVENTS: dict[str, type[FriendFollowed] | type[FriendUnfollowed]] = {
    FriendFollowed.TYPE: FriendFollowed,
    FriendUnfollowed.TYPE: FriendUnfollowed,
}


class Friends:
    """The friend registry, read from the `friend-<userId>` streams themselves (the write model),
    so a follow or unfollow counts from the moment it is stored. Concurrent look-ups share a query."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self._lookups: Coalescer[Sequence[str], set[str]] = Coalescer(self._blocked_each, concurrency=2)

    async def blocked(self, user_ids: Sequence[str]) -> set[str]:
        """Those of `user_ids` who blocked the account."""
        return await self._lookups.submit(user_ids)

    async def _blocked_each(self, asked: list[Sequence[str]]) -> list[set[str]]:
        blocked = await self._blocked(list(dict.fromkeys(u for ids in asked for u in ids)))
        return [blocked.intersection(ids) for ids in asked]

    async def _blocked(self, user_ids: list[str]) -> set[str]:
        # Each friend event carries the whole state, so the latest one per stream decides.
        if len(user_ids) > _PROBE_LIMIT:
            # An alert to many: read the whole registry once rather than probe every resident.
            rows = await self.pool.fetch(
                """SELECT DISTINCT ON (stream) type, data FROM events
                   WHERE category = 'friend' ORDER BY stream, version DESC"""
            )
            return self._blocked_in(rows).intersection(user_ids)
        rows = await self.pool.fetch(
            """SELECT DISTINCT ON (stream) type, data FROM events
               WHERE stream = ANY($1::text[]) ORDER BY stream, version DESC""",
            [friend_stream(u) for u in user_ids],
        )
        return self._blocked_in(rows)

    @staticmethod
    def _blocked_in(rows: Sequence[Any]) -> set[str]:
        blocked: set[str] = set()
        for row in rows:
            if row["type"] not in _FRIEND_EVENTS:
                continue
            latest = _FRIEND_EVENTS[row["type"]](**row["data"])
            state: Friend = friend_decider.fold([latest])
            if not state.reachable:
                blocked.add(latest.user_id)
        return blocked


class Deliverer:
    def __init__(
        self,
        queue: DeliveryQueue,
        line: LineApi,
        friends: Friends,
        *,
        reply_fresh_for: timedelta = REPLY_FRESH_FOR,
        chunk_size: int = MULTICAST_MAX,
        chunk_concurrency: int = 16,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.queue, self.line, self.friends = queue, line, friends
        self.reply_fresh_for = reply_fresh_for
        self.chunk_size = min(chunk_size, MULTICAST_MAX)
        self.chunk_concurrency = chunk_concurrency
        self.clock = clock

    async def deliver(self, job: Job) -> None:
        recipients = list(dict.fromkeys(job.request.to))
        if len(recipients) > 1:
            await self._multicast(job, recipients)
            return
        to = recipients[0]
        if job.request.reply_token and self._fresh(job):
            outcome = await self._reply(job, to)
            if outcome is not None:
                await self.queue.complete(job, [(outcome, "outcome")])
                return
        await self._push(job, to)

    def _fresh(self, job: Job) -> bool:
        issued = job.request.reply_token_issued_at
        return issued is not None and self.clock() - issued < self.reply_fresh_for

    # --- reply ---------------------------------------------------------------------------

    async def _reply(self, job: Job, to: str) -> Event | None:
        """Reply while the token is fresh; None: push instead."""
        token = job.request.reply_token
        if token is None:
            raise ValueError(f"{job.request.idempotency_key}: a reply needs the intent's reply token")
        # Set when an earlier attempt may have reached LINE without us learning the outcome.
        uncertain = job.reply_attempted
        if not uncertain:
            await self.queue.mark_reply_attempted(job)

        call = self.line.post(
            REPLY,
            body(job.messages, replyToken=token, notificationDisabled=job.request.notification_disabled),
        )
        attempts = 0
        while self._fresh(job):
            attempts += 1
            answer = await self.line.attempt("reply", call)
            if answer.outcome == "accepted":
                return self._delivered(job, "reply", answer, 1, to=to, attempts=attempts)
            if answer.invalid_reply_token:
                if uncertain:
                    # LINE takes a reply token once: the earlier attempt used it, so it was delivered.
                    return self._delivered(job, "reply", answer, 1, to=to, attempts=attempts, earlier=True)
                return None  # never valid here (expired, or from a redelivered webhook): push
            if not retryable(answer):
                return self._failed(job, "reply", answer, 1, to=to, attempts=attempts)
            uncertain = uncertain or answer.outcome == "no_answer" or answer.status >= 500
            await asyncio.sleep(self.line.backoff.delay(attempts))
        # The token went stale before we could settle it. If an earlier attempt may have reached
        # LINE, this push can show the resident the message twice; we prefer that to no answer.
        if uncertain:
            log.warning("reply for %s uncertain and the token is stale: pushing", job.request_id)
        return None

    # --- push ----------------------------------------------------------------------------

    async def _push(self, job: Job, to: str) -> None:
        if to in await self.friends.blocked([to]):
            await self.queue.complete(job, [(skipped_event(job, [to]), "skipped")])
            return
        call = self.line.post(
            PUSH,
            body(job.messages, to=to, notificationDisabled=job.request.notification_disabled),
            retry_key=retry_key(job.request.idempotency_key),
        )
        answer = await self.line.send("push", call)
        await self.queue.complete(job, [(self._outcome(job, "push", answer, 1, to=to), "outcome")])

    # --- multicast -----------------------------------------------------------------------

    async def _multicast(self, job: Job, recipients: list[str]) -> None:
        if job.skipped is None:
            blocked = await self.friends.blocked(recipients)
            await self.queue.plan(job, [r for r in recipients if r in blocked])
        skipped = set(job.skipped or ())
        targets = [r for r in recipients if r not in skipped]
        chunks = [targets[i : i + self.chunk_size] for i in range(0, len(targets), self.chunk_size)]
        done = {
            e.chunk
            for e in await self.queue.recorded(job)
            if isinstance(e, MessageDelivered | MessageDeliveryFailed)
        }
        gate = asyncio.Semaphore(self.chunk_concurrency)
        recording = asyncio.Lock()  # one append to this request's stream at a time

        async def send(index: int, chunk: list[str]) -> None:
            call = self.line.post(
                MULTICAST,
                body(job.messages, to=chunk, notificationDisabled=job.request.notification_disabled),
                retry_key=retry_key(job.request.idempotency_key, index),
            )
            async with gate:
                answer = await self.line.send("multicast", call)
            outcome = self._outcome(job, "multicast", answer, len(chunk), chunk=index)
            async with recording:
                await self.queue.record(job, outcome, f"chunk-{index}")

        await asyncio.gather(*(send(i, c) for i, c in enumerate(chunks) if i not in done))
        await self.queue.complete(job)

    # --- outcomes ------------------------------------------------------------------------

    def _outcome(
        self,
        job: Job,
        method: DeliveryMethod,
        answer: Answer,
        recipients: int,
        *,
        to: str | None = None,
        chunk: int | None = None,
    ) -> Event:
        if answer.delivered:
            return self._delivered(job, method, answer, recipients, to=to, chunk=chunk)
        return self._failed(job, method, answer, recipients, to=to, chunk=chunk)

    def _delivered(
        self,
        job: Job,
        method: DeliveryMethod,
        answer: Answer,
        recipients: int,
        *,
        to: str | None = None,
        chunk: int | None = None,
        attempts: int | None = None,
        earlier: bool = False,
    ) -> MessageDelivered:
        return MessageDelivered(
            request_id=job.request_id,
            idempotency_key=job.request.idempotency_key,
            requested_by=job.request.requested_by,
            method=method,
            recipients=recipients,
            to=to,
            chunk=chunk,
            line_request_id=None if earlier else answer.request_id,
            already_accepted=earlier or answer.outcome == "already_accepted",
            attempts=attempts or answer.attempts,
        )

    def _failed(
        self,
        job: Job,
        method: DeliveryMethod,
        answer: Answer,
        recipients: int,
        *,
        to: str | None = None,
        chunk: int | None = None,
        attempts: int | None = None,
    ) -> MessageDeliveryFailed:
        return MessageDeliveryFailed(
            request_id=job.request_id,
            idempotency_key=job.request.idempotency_key,
            requested_by=job.request.requested_by,
            method=method,
            status=answer.status,
            error=answer.message,
            details=answer.details,
            recipients=recipients,
            to=to,
            chunk=chunk,
            line_request_id=answer.request_id,
            attempts=attempts or answer.attempts,
        )
