"""SIGKILL a consumer mid-batch and a relay mid-publish: afterwards every event has exactly one effect."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator

import pytest

from cityhall.events.bus import Record
from cityhall.events.consumer import IdempotentConsumer
from cityhall.events.db import Connection, Pool, create_pool, migrate
from cityhall.events.envelope import Envelope
from cityhall.events.kafka_bus import KafkaBus
from cityhall.events.store import EventStore, load_checkpoint
from cityhall.events.testing import wait_for
from cityhall.events.testing.fault_worker import EFFECTS_SQL, SCHEMA, record_effect
from cityhall.events.testing.processes import KillableProcess
from cityhall.events.testing.samples import CounterIncremented


def worker(*args: str) -> KillableProcess:
    return KillableProcess([sys.executable, "-m", "cityhall.events.testing.fault_worker", *args])


@pytest.fixture
async def fault_pool(fresh_database: str) -> AsyncIterator[Pool]:
    pool = await create_pool(fresh_database, SCHEMA)
    await migrate(pool, ["cityhall.events"])
    await pool.execute(EFFECTS_SQL)
    yield pool
    await pool.close()


async def effects(pool: Pool) -> tuple[int, int]:
    row = await pool.fetchrow("SELECT count(*) AS n, count(DISTINCT event_id) AS distinct_n FROM effects")
    assert row is not None
    return row["n"], row["distinct_n"]


def envelope(seq: int) -> Envelope:
    return Envelope.wrap(CounterIncremented(by=seq), source="/services/fault", subject=f"counter-{seq % 20}")


async def test_consumer_killed_mid_batch_has_each_effect_exactly_once(
    fresh_database: str, kafka_bootstrap: str, fault_pool: Pool, child_processes: list[KillableProcess]
) -> None:
    topic = f"events.fault{uuid.uuid4().hex[:8]}"
    total = 2000
    bus = KafkaBus(kafka_bootstrap, topic_partitions=3)
    await bus.start()
    try:
        await bus.publish([Record.of(topic, f"counter-{i % 20}", envelope(i)) for i in range(total)])
    finally:
        await bus.stop()
    consumer_process = worker("consume", fresh_database, kafka_bootstrap, topic)
    child_processes.append(consumer_process)
    consumer_process.start()
    await wait_for(lambda: _at_least(fault_pool, 300), timeout=120, message="consumer made no progress")
    consumer_process.kill()
    killed_at, _ = await effects(fault_pool)
    assert killed_at < total, "the kill must land mid-stream"
    consumer_process.start()
    await wait_for(
        lambda: _at_least(fault_pool, total), timeout=120, message="not every event had its effect"
    )
    n, distinct = await effects(fault_pool)
    assert (n, distinct) == (total, total)


async def _at_least(pool: Pool, n: int) -> bool:
    return (await effects(pool))[0] >= n


async def test_relay_killed_mid_publish_loses_nothing_and_consumers_apply_once(
    fresh_database: str, kafka_bootstrap: str, fault_pool: Pool, child_processes: list[KillableProcess]
) -> None:
    store = EventStore(fault_pool)
    total = 6000
    for start in range(0, total, 500):
        for stream in {f"counter-{i % 20}" for i in range(start, start + 500)}:
            batch = [envelope(i) for i in range(start, start + 500) if f"counter-{i % 20}" == stream]
            await store.append(stream, None, batch)
    relay = worker("relay", fresh_database, kafka_bootstrap)
    child_processes.append(relay)
    relay.start()

    async def partly_published() -> bool:
        return (await load_checkpoint(fault_pool, "relay")).seq > 0

    await wait_for(partly_published, timeout=120, interval=0.01, message="relay published nothing")
    relay.kill()
    relay.start()

    bus = KafkaBus(kafka_bootstrap, topic_partitions=3)
    await bus.start()

    async def handler(env: Envelope, conn: Connection) -> None:
        await record_effect(env, conn)

    consumer = IdempotentConsumer("fault-reader", ["events.testing"], handler, bus=bus, pool=fault_pool)
    task = asyncio.create_task(consumer.run())
    try:
        await wait_for(
            lambda: _at_least(fault_pool, total), timeout=180, message="events lost after relay crash"
        )
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await bus.stop()
    n, distinct = await effects(fault_pool)
    assert (n, distinct) == (total, total)
    ids = {r["id"] for r in await fault_pool.fetch("SELECT id FROM events")}
    assert ids == {r["event_id"] for r in await fault_pool.fetch("SELECT event_id FROM effects")}
