from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from cityhall.events.bus import Bus, Record, Subscription
from cityhall.events.db import Pool
from cityhall.events.embedded_bus import EmbeddedBus
from cityhall.events.envelope import Envelope
from cityhall.events.projection import ProjectionRunner
from cityhall.events.relay import OutboxRelay
from cityhall.events.store import NO_STREAM, EventStore, load_checkpoint
from cityhall.events.testing import wait_for
from cityhall.events.testing.samples import CounterIncremented, CounterTotals


def incremented(by: int, stream: str) -> Envelope:
    return Envelope.wrap(CounterIncremented(by=by), source="/services/test", subject=stream)


class FailingBus(Bus):
    """A bus that never acknowledges."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, records: Sequence[Record], *, timeout: float = 10.0) -> None:
        raise TimeoutError("no acknowledgement")

    def subscribe(self, group: str, topics: Sequence[str], pool: Pool) -> Subscription:
        raise NotImplementedError


async def test_relay_publishes_in_order_keyed_by_stream_and_checkpoints(
    store: EventStore, pool: Pool, fresh_database: str
) -> None:
    for i in range(5):
        await store.append("counter-a", None, [incremented(i, "counter-a")])
        await store.append("counter-b", None, [incremented(i, "counter-b")])
    bus = EmbeddedBus(fresh_database, poll_interval=0.1)
    await bus.start()
    relay = OutboxRelay(store, bus, batch_size=3)
    task = asyncio.create_task(relay.run())
    try:
        await wait_for(lambda: relay.published == 10, timeout=20)
        await store.append("counter-a", None, [incremented(99, "counter-a")])  # woken by NOTIFY
        await wait_for(lambda: relay.published == 11, timeout=20)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    sub = bus.subscribe("reader", ["events.testing"], pool)
    await sub.start()
    messages = await sub.fetch(timeout=5)
    await sub.stop()
    assert len(messages) == 11
    assert [m.envelope().data["by"] for m in messages if m.key == "counter-a"] == [0, 1, 2, 3, 4, 99]
    assert await load_checkpoint(pool, "relay") == (await store.read_all())[-1].position
    await bus.stop()


async def test_relay_keeps_its_checkpoint_when_the_bus_does_not_acknowledge(
    store: EventStore, pool: Pool
) -> None:
    await store.append("counter-a", NO_STREAM, [incremented(1, "counter-a")])
    relay = OutboxRelay(store, FailingBus())
    with pytest.raises(TimeoutError):
        await relay.publish_pending()
    assert (await load_checkpoint(pool, "relay")).seq == 0


async def test_projection_catches_up_and_rebuild_gives_the_same_view(store: EventStore, pool: Pool) -> None:
    for i in range(1, 21):
        await store.append(f"counter-{i % 4}", None, [incremented(i, f"counter-{i % 4}")])
    runner = ProjectionRunner(store, CounterTotals(), batch_size=7)
    await runner.ensure()
    assert await runner.catch_up() == 20
    assert await runner.catch_up() == 0
    view = {r["stream"]: r["total"] for r in await pool.fetch("SELECT * FROM counter_totals")}
    assert sum(view.values()) == sum(range(1, 21))
    await pool.execute("UPDATE counter_totals SET total = 0")  # a corrupted view...
    assert await runner.rebuild() == 20  # ...is rebuilt from the events
    rebuilt = {r["stream"]: r["total"] for r in await pool.fetch("SELECT * FROM counter_totals")}
    assert rebuilt == view
    await store.append("counter-9", None, [incremented(5, "counter-9")])
    assert await runner.catch_up() == 1  # the live runner continues after the swap
    assert await runner.rebuild() == 21  # and a second rebuild works on the swapped table
