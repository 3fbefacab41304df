"""Knowing when the bus has accepted a request's intents, so the webhook can answer 200.

The gateway records intents in its store (the outbox) and the `OutboxRelay`, a background
task of the same process, publishes them. A request must not answer 200 before the bus
has acknowledged its intents, so:

1. the handler registers a waiter for its intent ids *before* appending them;
2. the relay publishes through `SignallingBus`, which, once the bus has acknowledged a
   batch, resolves the waiters of the ids in it (the CloudEvents `ce_id` header);
3. an intent that was published earlier (a redelivery of an event already relayed) or by
   the relay of another replica (one relay per schema holds the lock) never signals here:
   the handler also checks, now and then, whether the relay's checkpoint has passed it.

A checkpoint is only saved after the bus acknowledged, so "at or before the checkpoint"
means "accepted" too. Registering before appending closes the race: either the
acknowledgement comes after registration and resolves the waiter, or it came before and
the checkpoint (read after registration) already covers the intent.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterable, Iterator, Sequence

from cityhall.events.bus import Bus, Record, Subscription
from cityhall.events.db import Pool

FIRST_CHECK = 0.25
"""Seconds before the first look at the checkpoint: the local relay usually answers sooner, and
under load early looks only add queries. Only a standby replica's requests rely on the looks."""
CHECK_EVERY = 0.1


class _Waiter:
    """One request's intent ids that the bus has not acknowledged yet."""

    def __init__(self, ids: Sequence[uuid.UUID]) -> None:
        self.ids = tuple(dict.fromkeys(ids))
        self.pending = set(self.ids)
        self.all_accepted: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def accept(self, id_: uuid.UUID) -> None:
        self.pending.discard(id_)
        if not self.pending and not self.all_accepted.done():
            self.all_accepted.set_result(None)


class Acceptances:
    """Waiters for intent ids, resolved when the bus acknowledges them."""

    def __init__(self, pool: Pool, relay_name: str) -> None:
        self.pool = pool
        self.relay_name = relay_name
        self._waiting: dict[uuid.UUID, set[_Waiter]] = {}

    def accepted(self, ids: Iterable[uuid.UUID]) -> None:
        for id_ in ids:
            for waiter in self._waiting.get(id_, ()):
                waiter.accept(id_)

    @contextlib.contextmanager
    def expect(self, ids: Sequence[uuid.UUID]) -> Iterator[_Waiter]:
        """Register a waiter for `ids` (before appending them); removed on exit."""
        waiter = _Waiter(ids)
        for id_ in waiter.ids:
            self._waiting.setdefault(id_, set()).add(waiter)
        try:
            yield waiter
        finally:
            for id_ in waiter.ids:
                waiters = self._waiting.get(id_)
                if waiters is not None:
                    waiters.discard(waiter)
                    if not waiters:
                        del self._waiting[id_]
            waiter.all_accepted.cancel()

    async def wait(self, waiter: _Waiter) -> None:
        """Until every id is accepted; the caller bounds it with a timeout."""
        delay = FIRST_CHECK
        while waiter.pending:
            try:
                async with asyncio.timeout(delay):
                    await waiter.all_accepted
                return
            except TimeoutError:
                # The timeout cancelled the future: a fresh one for the next round.
                waiter.all_accepted = asyncio.get_running_loop().create_future()
            for id_ in await self.published_already(waiter.pending):
                waiter.accept(id_)
            delay = CHECK_EVERY

    async def published_already(self, ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        """The ids that the relay's checkpoint has passed."""
        rows = await self.pool.fetch(
            """SELECT e.id FROM events e JOIN checkpoints c ON c.name = $2
               WHERE e.id = ANY($1::uuid[]) AND (e.tx, e.position) <= (c.tx, c.position)""",
            list(ids),
            self.relay_name,
        )
        return {r["id"] for r in rows}


class SignallingBus(Bus):
    """The bus as the relay sees it: publishes through `inner`, then tells `acceptances`."""

    def __init__(self, inner: Bus, acceptances: Acceptances) -> None:
        self.inner = inner
        self.acceptances = acceptances

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    async def publish(self, records: Sequence[Record], *, timeout: float = 10.0) -> None:
        await self.inner.publish(records, timeout=timeout)
        self.acceptances.accepted(_ids(records))

    def subscribe(self, group: str, topics: Sequence[str], pool: Pool) -> Subscription:
        return self.inner.subscribe(group, topics, pool)


def _ids(records: Iterable[Record]) -> Iterator[uuid.UUID]:
    for record in records:
        for name, value in record.headers:
            if name == "ce_id":
                with contextlib.suppress(ValueError):
                    yield uuid.UUID(value.decode("ascii", errors="replace"))
                break
