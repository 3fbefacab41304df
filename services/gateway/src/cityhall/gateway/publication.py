"""Knowing when the bus has accepted a request's intents, so the webhook can answer 200.

The gateway records intents in its store (the outbox), and the `OutboxRelay` publishes them
in (tx, position) order, moving past a position only once the bus has acknowledged
everything up to it. So an intent is accepted as soon as the relay's acknowledged position
has reached the intent's own position, which the store returns when the intent is recorded.
A redelivered event published long ago is already behind it: answered at once.

Every gateway process runs a relay, but only one is active per database (an advisory lock).
`Acceptances` learns the acknowledged position:

- from the relay of its own process, at once (`advance` is the relay's `on_acknowledged`);
- from the active relay of another replica, by the NOTIFY it sends with each checkpoint
  (`listen`, a background task);
- and, should a notification be missed (a dropped connection), from the relay's checkpoint
  row, read when a request has waited `CHECK_EVERY` to `2 × CHECK_EVERY` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import heapq
import itertools
import logging

from cityhall.events.db import Pool
from cityhall.events.relay import relay_channel
from cityhall.events.store import START, Position, load_checkpoint, parse_announced

log = logging.getLogger(__name__)

CHECK_EVERY = 0.25
"""Seconds between looks at the waiting requests: one that waited a whole interval makes the
gateway read the relay's checkpoint."""
PING_EVERY = 30.0
"""Seconds between checks that the listening connection is alive (a dead one ends `listen`)."""


class Acceptances:
    """The position up to which the bus has accepted the gateway's intents, and who waits for it."""

    def __init__(self, pool: Pool, relay_name: str) -> None:
        self.pool = pool
        self.relay_name = relay_name
        self.acknowledged: Position = START
        self._waiters: list[tuple[Position, int, asyncio.Future[None]]] = []  # a heap, lowest first
        self._order = itertools.count()  # breaks ties in the heap
        self._reading: asyncio.Task[None] | None = None
        self._watching: asyncio.Task[None] | None = None

    def advance(self, position: Position) -> None:
        """Everything up to `position` is on the bus."""
        if position <= self.acknowledged:
            return
        self.acknowledged = position
        while self._waiters and self._waiters[0][0] <= position:
            future = heapq.heappop(self._waiters)[2]
            if not future.done():
                future.set_result(None)

    @property
    def held_waits(self) -> int:
        """Waits held: those still waiting, and those given up until the next look drops them."""
        return len(self._waiters)

    async def wait(self, position: Position) -> None:
        """Until the bus has accepted everything up to `position`; the caller bounds it with a timeout."""
        if position <= self.acknowledged:
            return
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (position, next(self._order), future))
        if self._watching is None or self._watching.done():
            # Its own context: the watcher serves every request, not the one that started it.
            self._watching = asyncio.create_task(self._watch(), context=contextvars.Context())
        await future

    async def _watch(self) -> None:
        """While requests wait: every `CHECK_EVERY`, forget the waits given up, and read the relay's
        checkpoint if the longest wait has lasted that long. One timer for all waiting requests,
        not one each: a timer per request was ~3 % of the gateway's CPU in a profile at 1,000/s."""
        longest: int | None = None  # the order number of the oldest wait at the last tick
        while self._waiters:
            await asyncio.sleep(CHECK_EVERY)
            self._waiters = [waiter for waiter in self._waiters if not waiter[2].done()]
            heapq.heapify(self._waiters)
            if self._waiters and self._waiters[0][1] == longest:  # waited a whole tick: news missed?
                await self.read_checkpoint()
            longest = self._waiters[0][1] if self._waiters else None

    async def read_checkpoint(self) -> None:
        """Advance to the relay's stored checkpoint (one query, however many requests ask at once)."""
        if self._reading is None or self._reading.done():
            self._reading = asyncio.create_task(self._read())
        await asyncio.shield(self._reading)

    async def _read(self) -> None:
        try:
            self.advance(await load_checkpoint(self.pool, self.relay_name))
        except Exception as exc:  # the requests keep waiting, within their budget
            log.warning("could not read the relay's checkpoint: %r", exc)

    async def listen(self) -> None:
        """Follow the announcements of whichever relay is active, until cancelled."""

        def announced(_conn: object, _pid: int, _channel: str, payload: object) -> None:
            self.advance(parse_announced(str(payload)))

        async with self.pool.acquire() as conn:
            channel = relay_channel(await conn.fetchval("SELECT current_schema()"), self.relay_name)
            await conn.add_listener(channel, announced)
            try:
                await self.read_checkpoint()  # what was acknowledged before we listened
                while True:
                    await asyncio.sleep(PING_EVERY)
                    await conn.fetchval("SELECT 1")  # raises on a dead connection: the loop restarts
            finally:
                with contextlib.suppress(Exception):
                    await conn.remove_listener(channel, announced)
