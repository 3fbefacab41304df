"""One suite, both buses: what every consumer in the system relies on."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from prometheus_client import REGISTRY

from cityhall.events import embedded_bus, kafka_bus
from cityhall.events.backoff import Backoff
from cityhall.events.bus import Bus, Message, Record
from cityhall.events.consumer import IdempotentConsumer, dlq_topic
from cityhall.events.db import Connection, Pool
from cityhall.events.embedded_bus import EmbeddedBus
from cityhall.events.envelope import Envelope
from cityhall.events.kafka_bus import KafkaBus
from cityhall.events.testing import wait_for
from cityhall.events.testing.samples import CounterIncremented


@pytest.fixture(params=["embedded", "kafka"])
async def bus(request: pytest.FixtureRequest, fresh_database: str) -> AsyncIterator[Bus]:
    bus: Bus
    if request.param == "embedded":
        bus = EmbeddedBus(fresh_database, poll_interval=0.2)
    else:
        bus = KafkaBus(request.getfixturevalue("kafka_bootstrap"), topic_partitions=3)
    await bus.start()
    yield bus
    await bus.stop()


@pytest.fixture
def topic() -> str:
    return f"events.conformance{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def effects(pool: Pool) -> Pool:
    await pool.execute("CREATE TABLE effects (n serial, consumer text, key text, seq int, event_id uuid)")
    return pool


def record(topic: str, key: str, seq: int, *, id: uuid.UUID | None = None) -> Record:
    env = Envelope.wrap(CounterIncremented(by=seq), source="/services/test", subject=key, id=id)
    return Record.of(topic, key, env)


def recording_handler(name: str) -> Callable[[Envelope, Connection], Awaitable[None]]:
    async def handle(env: Envelope, conn: Connection) -> None:
        await conn.execute(
            "INSERT INTO effects (consumer, key, seq, event_id) VALUES ($1, $2, $3, $4)",
            name,
            env.subject,
            env.data["by"],
            env.id,
        )

    return handle


async def count(pool: Pool, consumer: str) -> int:
    n: int = await pool.fetchval("SELECT count(*) FROM effects WHERE consumer = $1", consumer)
    return n


async def run_until(
    consumer: IdempotentConsumer, done: Callable[[], Awaitable[bool]], timeout: float = 60
) -> None:
    task = asyncio.create_task(consumer.run())
    try:
        await wait_for(done, timeout=timeout, message=f"{consumer.name} did not finish")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.parametrize("batched", [False, True], ids=["per-message", "batched"])
async def test_order_per_key_and_each_message_once(
    bus: Bus, effects: Pool, topic: str, batched: bool
) -> None:
    keys = [f"resident-{i}" for i in range(5)]
    await bus.publish([record(topic, k, seq) for seq in range(40) for k in keys])
    consumer = IdempotentConsumer(
        "c-order", [topic], recording_handler("c-order"), bus=bus, pool=effects, batched=batched
    )
    await run_until(consumer, lambda: _at_least(effects, "c-order", 200))
    rows = await effects.fetch("SELECT key, seq FROM effects WHERE consumer = 'c-order' ORDER BY n")
    assert len(rows) == 200
    for k in keys:
        assert [r["seq"] for r in rows if r["key"] == k] == list(range(40)), f"order broken for {k}"


async def _at_least(pool: Pool, consumer: str, n: int) -> bool:
    return await count(pool, consumer) >= n


@pytest.mark.parametrize("batched", [False, True], ids=["per-message", "batched"])
async def test_a_duplicate_delivery_has_one_effect(
    bus: Bus, effects: Pool, topic: str, batched: bool
) -> None:
    same = uuid.uuid4()
    await bus.publish([record(topic, "k", 1, id=same), record(topic, "k", 1, id=same), record(topic, "k", 2)])
    consumer = IdempotentConsumer(
        "c-dup", [topic], recording_handler("c-dup"), bus=bus, pool=effects, batched=batched
    )
    await run_until(consumer, _handled(consumer, 3))
    assert await count(effects, "c-dup") == 2


def _handled(consumer: IdempotentConsumer, n: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return consumer.handled >= n

    return check


async def test_a_group_resumes_where_it_stopped(bus: Bus, effects: Pool, topic: str) -> None:
    await bus.publish([record(topic, f"k{i % 3}", i) for i in range(30)])
    first = IdempotentConsumer("c-resume", [topic], recording_handler("c-resume"), bus=bus, pool=effects)
    await run_until(first, lambda: _at_least(effects, "c-resume", 30))
    await bus.publish([record(topic, f"k{i % 3}", i) for i in range(30, 50)])
    second = IdempotentConsumer("c-resume", [topic], recording_handler("c-resume"), bus=bus, pool=effects)

    async def finished() -> bool:  # handled counts after the connection is released: wait for both
        return second.handled >= 20 and await _at_least(effects, "c-resume", 50)

    await run_until(second, finished)
    assert second.handled == 20, "the second run re-read messages the first had finished"
    assert await count(effects, "c-resume") == 50


async def test_redelivery_after_a_crash_mid_handler(bus: Bus, effects: Pool, topic: str) -> None:
    await bus.publish([record(topic, "k", i) for i in range(10)])
    crashed = asyncio.Event()

    async def crash_on_five(env: Envelope, conn: Connection) -> None:
        await recording_handler("c-crash")(env, conn)
        if env.data["by"] == 5:
            crashed.set()
            await asyncio.Event().wait()  # hangs inside the transaction until the process "dies"

    first = IdempotentConsumer("c-crash", [topic], crash_on_five, bus=bus, pool=effects)
    task = asyncio.create_task(first.run())
    await wait_for(crashed.is_set, timeout=60)
    task.cancel()  # dies with message 5's transaction open: nothing of it is committed
    await asyncio.gather(task, return_exceptions=True)
    assert await count(effects, "c-crash") == 5
    second = IdempotentConsumer("c-crash", [topic], recording_handler("c-crash"), bus=bus, pool=effects)
    await run_until(second, lambda: _at_least(effects, "c-crash", 10))
    seqs = [
        r["seq"] for r in await effects.fetch("SELECT seq FROM effects WHERE consumer='c-crash' ORDER BY n")
    ]
    assert seqs == list(range(10))


@pytest.mark.parametrize("batched", [False, True], ids=["per-message", "batched"])
async def test_poison_message_goes_to_the_dlq_and_the_partition_moves_on(
    bus: Bus, effects: Pool, topic: str, batched: bool
) -> None:
    garbage = Record(topic=topic, key="k", value=b"\x00garbage", headers=(("ce_type", b"x"),))
    await bus.publish([record(topic, "k", 1), record(topic, "k", 666), garbage, record(topic, "k", 2)])

    async def refuse_666(env: Envelope, conn: Connection) -> None:
        if env.data["by"] == 666:
            raise RuntimeError("cannot handle 666")
        await recording_handler("c-poison")(env, conn)

    name = f"c-poison-{topic[-8:]}"  # the DLQ topic outlives the test on a shared broker
    consumer = IdempotentConsumer(
        name,
        [topic],
        refuse_666,
        bus=bus,
        pool=effects,
        retry=Backoff(base=0.01, cap=5.0, max_attempts=3),
        batched=batched,
    )
    await run_until(consumer, lambda: _at_least(effects, "c-poison", 2))
    assert [r["seq"] for r in await effects.fetch("SELECT seq FROM effects ORDER BY n")] == [1, 2]

    dead: list[Message] = []
    subscription = bus.subscribe("dlq-reader", [dlq_topic(name)], effects)
    await subscription.start()
    try:

        async def two_dead() -> bool:
            dead.extend(await subscription.fetch(timeout=0.5))
            return len(dead) >= 2

        await wait_for(two_dead, timeout=60)
    finally:
        await subscription.stop()
    errors = sorted(m.header("dlq_error") or "" for m in dead)
    assert errors[0].startswith("RuntimeError: cannot handle 666")
    assert errors[1].startswith("undecodable")
    assert all(m.header("dlq_topic") == topic for m in dead)
    assert {m.header("dlq_attempts") for m in dead} == {"3", "1"}


def lag(group: str, topic: str, partition: int) -> float | None:
    labels = {"consumer": group, "topic": topic, "partition": str(partition)}
    return REGISTRY.get_sample_value("cityhall_consumer_lag", labels)


async def test_consumer_lag_is_what_the_group_has_yet_to_read(
    bus: Bus, pool: Pool, topic: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small fetches, so that a fetch leaves records behind.
    monkeypatch.setattr(embedded_bus, "READ_LIMIT", 3)
    monkeypatch.setattr(kafka_bus, "MAX_RECORDS_PER_FETCH", 3)
    await bus.publish([record(topic, "k", i) for i in range(10)])  # one key: one partition
    group = f"lag-{topic[-8:]}"
    subscription = bus.subscribe(group, [topic], pool)
    await subscription.start()
    fetched: list[Message] = []

    async def fetch_until(done: Callable[[], bool]) -> bool:
        fetched.extend(await subscription.fetch(timeout=0.5))
        return done()

    def read_up_to() -> int:
        """Records 0..n-1 read: n. (Kafka may deliver again after a rebalance, so not a count.)"""
        return int(fetched[-1].envelope().data["by"]) + 1

    try:
        await wait_for(lambda: fetch_until(lambda: bool(fetched)), timeout=60)
        partition = fetched[0].partition
        assert read_up_to() < 10
        assert lag(group, topic, partition) == 10 - read_up_to()
        await wait_for(
            lambda: fetch_until(lambda: read_up_to() == 10 and lag(group, topic, partition) == 0), timeout=60
        )
    finally:
        await subscription.stop()
    assert lag(group, topic, partition) is None  # a stopped member reports nothing
