"""Keys in parallel, order per key, and offsets that never pass unfinished work."""

from __future__ import annotations

import asyncio

import pytest

from cityhall.events.backoff import Backoff
from cityhall.events.bus import Message, Record
from cityhall.events.consumer import IdempotentConsumer, Positions
from cityhall.events.db import Connection, Pool
from cityhall.events.embedded_bus import EmbeddedBus
from cityhall.events.envelope import Envelope
from cityhall.events.testing import running, wait_for
from cityhall.events.testing.samples import CounterIncremented

TOPIC = "events.lanes"


def message(offset: int, partition: int = 0) -> Message:
    return Message(topic=TOPIC, partition=partition, offset=offset, key="k", value=b"", headers=())


def test_the_offset_to_store_stops_at_the_lowest_unfinished_message() -> None:
    positions = Positions()
    for offset in (3, 5, 9):
        assert positions.fetched(message(offset))
    assert not positions.fetched(message(5)), "a re-read of a tracked message is not tracked twice"
    positions.fetched(message(4, partition=1))

    assert positions.commit_after(message(9)) == 3  # 3 and 5 are unfinished
    positions.done(message(9))
    assert positions.commit_after(message(3)) == 5
    positions.done(message(3))
    assert positions.commit_after(message(5)) == 10  # nothing left: past all that was read
    assert positions.commit_after(message(4, partition=1)) == 5  # partitions are apart
    assert positions.unfinished() == 2


def test_a_stopping_consumer_resumes_at_the_lowest_unfinished_message_or_past_all_it_read() -> None:
    positions = Positions()
    for offset in (3, 5, 9):
        positions.fetched(message(offset))
    positions.fetched(message(4, partition=1))
    # 5 and 9 finished together: each stored "not past the other" (3 and 5), though both are done.
    positions.done(message(5))
    positions.done(message(9))
    positions.done(message(4, partition=1))
    assert positions.resume_points() == {(TOPIC, 0): 3, (TOPIC, 1): 5}
    positions.done(message(3))
    assert positions.resume_points()[(TOPIC, 0)] == 10


@pytest.fixture
async def effects(pool: Pool) -> Pool:
    await pool.execute("CREATE TABLE effects (n serial, key text, seq int)")
    return pool


def record(key: str, seq: int) -> Record:
    env = Envelope.wrap(CounterIncremented(by=seq), source="/services/test", subject=key)
    return Record.of(TOPIC, key, env)


async def effects_of(pool: Pool, key: str) -> list[int]:
    rows = await pool.fetch("SELECT seq FROM effects WHERE key = $1 ORDER BY n", key)
    return [r["seq"] for r in rows]


async def stored_offset(pool: Pool, consumer: str) -> int:
    offset = await pool.fetchval(
        "SELECT next_offset FROM consumer_offsets WHERE consumer = $1 AND topic = $2", consumer, TOPIC
    )
    return int(offset or 0)


async def offset_of(bus: EmbeddedBus, key: str) -> int:
    """Where `key`'s first message lies in the embedded log."""
    offset: int = await bus.pool.fetchval('SELECT min("offset") FROM messages WHERE key = $1', key)
    return offset


async def record_effect(env: Envelope, conn: Connection) -> None:
    await conn.execute("INSERT INTO effects (key, seq) VALUES ($1, $2)", env.subject, env.data["by"])


async def test_a_stalled_key_stalls_neither_other_keys_nor_the_offset_past_it(
    bus: EmbeddedBus, effects: Pool
) -> None:
    stalled, release = asyncio.Event(), asyncio.Event()

    async def stall_the_slow_one(env: Envelope, conn: Connection) -> None:
        await record_effect(env, conn)
        if env.subject == "slow" and env.data["by"] == 0:
            stalled.set()
            await release.wait()  # inside its transaction, as a network call would be

    await bus.publish([record("slow", 0), record("slow", 1)])
    await bus.publish([record(f"fast-{i}", i) for i in range(10)])
    consumer = IdempotentConsumer(
        "c-lanes", [TOPIC], stall_the_slow_one, bus=bus, pool=effects, concurrency=4
    )
    task = asyncio.create_task(consumer.run())
    try:
        await wait_for(stalled.is_set, timeout=30)

        async def others_done() -> bool:
            n: int = await effects.fetchval("SELECT count(*) FROM effects WHERE key LIKE 'fast-%'")
            return n == 10

        await wait_for(others_done, timeout=30, message="other keys waited for the stalled one")
        first_slow = await offset_of(bus, "slow")
        assert await stored_offset(effects, "c-lanes") <= first_slow
        assert await effects_of(effects, "slow") == []  # its second message waits behind the first

        release.set()
        await wait_for(lambda: consumer.handled == 12, timeout=30)
        assert await effects_of(effects, "slow") == [0, 1]
        assert await stored_offset(effects, "c-lanes") > first_slow
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_crash_redelivers_only_the_unfinished_and_each_has_one_effect(
    bus: EmbeddedBus, effects: Pool
) -> None:
    stalled = asyncio.Event()

    async def hang_on_slow(env: Envelope, conn: Connection) -> None:
        await record_effect(env, conn)
        if env.subject == "slow":
            stalled.set()
            await asyncio.Event().wait()  # hangs until the process "dies"

    await bus.publish(
        [record("fast-a", 0), record("slow", 0)] + [record(f"fast-{i}", i) for i in range(1, 6)]
    )
    first = IdempotentConsumer("c-crash-lanes", [TOPIC], hang_on_slow, bus=bus, pool=effects, concurrency=4)
    task = asyncio.create_task(first.run())

    async def fast_done() -> bool:
        n: int = await effects.fetchval("SELECT count(*) FROM effects WHERE key LIKE 'fast-%'")
        return n == 6

    await wait_for(stalled.is_set, timeout=30)
    await wait_for(fast_done, timeout=30)
    task.cancel()  # dies with the slow message's transaction open
    await asyncio.gather(task, return_exceptions=True)
    assert await effects_of(effects, "slow") == []
    assert await stored_offset(effects, "c-crash-lanes") == await offset_of(bus, "slow")

    redone: list[str] = []

    async def recording(env: Envelope, conn: Connection) -> None:
        redone.append(str(env.subject))
        await record_effect(env, conn)

    second = IdempotentConsumer("c-crash-lanes", [TOPIC], recording, bus=bus, pool=effects, concurrency=4)
    task = asyncio.create_task(second.run())
    try:
        # Redelivered: the slow message and what came after it (stored offset stops at it);
        # fast-a, before it, is not; the ones after it were done, and the inbox drops them.
        await wait_for(lambda: second.handled == 6, timeout=30)
        assert redone == ["slow"]
        assert await effects_of(effects, "slow") == [0]
        n: int = await effects.fetchval("SELECT count(*) FROM effects")
        assert n == 7
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_a_consumer_needs_a_slot() -> None:
    with pytest.raises(ValueError):
        IdempotentConsumer(
            "c", [TOPIC], record_effect, bus=EmbeddedBus("postgresql://x"), pool=None, concurrency=0
        )  # type: ignore[arg-type]


async def test_a_dead_lettered_message_is_logged_and_handed_to_on_dead_letter_once(
    bus: EmbeddedBus, effects: Pool, caplog: pytest.LogCaptureFixture
) -> None:
    told: list[str] = []

    async def refuse(env: Envelope, conn: Connection) -> None:
        raise RuntimeError("cannot handle this")

    async def tell(env: Envelope, conn: Connection) -> None:
        told.append(str(env.subject))
        await record_effect(env, conn)  # in the dead-lettering transaction

    await bus.publish([record("resident-9", 1)])
    consumer = IdempotentConsumer(
        "c-dead",
        [TOPIC],
        refuse,
        bus=bus,
        pool=effects,
        retry=Backoff(base=0.01, cap=0.05, max_attempts=2),
        on_dead_letter=tell,
    )
    task = asyncio.create_task(consumer.run())
    try:
        await wait_for(lambda: told, timeout=30)
        await wait_for(lambda: effects_of(effects, "resident-9"), timeout=30)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert told == ["resident-9"]
    logged = [r.getMessage() for r in caplog.records if "dead-lettered" in r.getMessage()]
    assert len(logged) == 1
    assert (
        "c-dead" in logged[0]
        and "key resident-9" in logged[0]
        and "RuntimeError: cannot handle this" in logged[0]
    )


async def test_a_message_that_fails_beyond_dead_lettering_ends_the_run_unfinished(
    bus: EmbeddedBus, effects: Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    failed = asyncio.Event()

    async def refuse_bad(env: Envelope, conn: Connection) -> None:
        if env.subject == "bad" and env.data["by"] == 0:
            raise RuntimeError("cannot handle this")
        if env.subject != "bad":
            await failed.wait()  # other keys finish after the failure, before the run ends
        await record_effect(env, conn)

    async def bus_gone(*_args: object, **_kwargs: object) -> None:
        failed.set()
        raise ConnectionError("the bus is gone")

    await bus.publish([record("bad", 0), record("bad", 1)] + [record(f"fast-{i}", i) for i in range(5)])
    consumer = IdempotentConsumer(
        "c-gone",
        [TOPIC],
        refuse_bad,
        bus=bus,
        pool=effects,
        retry=Backoff(base=0.01, cap=0.05, max_attempts=2),
        concurrency=4,
    )
    monkeypatch.setattr(consumer, "_dead_letter", bus_gone)
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(consumer.run(), timeout=30)
    # Whatever the other keys finished, the stored offset stays at the failed message, and
    # its key's next message was not handled out of order.
    assert await stored_offset(effects, "c-gone") <= await offset_of(bus, "bad")
    assert await effects_of(effects, "bad") == []


async def test_a_full_buffer_stops_fetching_until_a_message_is_done_and_then_goes_on(
    bus: EmbeddedBus, effects: Pool
) -> None:
    release = asyncio.Event()
    started: list[str] = []

    async def hold(env: Envelope, conn: Connection) -> None:
        started.append(str(env.subject))
        await release.wait()
        await record_effect(env, conn)

    await bus.publish([record(f"k-{i}", i) for i in range(3)])
    consumer = IdempotentConsumer(
        "c-full", [TOPIC], hold, bus=bus, pool=effects, concurrency=8, max_buffered=3
    )
    async with running(consumer):
        await wait_for(lambda: len(started) == 3, timeout=30)
        await bus.publish([record(f"k-{i}", i) for i in range(3, 12)])
        await asyncio.sleep(1.0)  # the bus polls every 0.05 s: a consumer past its buffer would start more
        assert len(started) == 3 and consumer.positions.unfinished() == 3
        release.set()
        await wait_for(lambda: consumer.handled == 12, timeout=30)
    assert sorted(started) == sorted(f"k-{i}" for i in range(12))
    n: int = await effects.fetchval("SELECT count(*) FROM effects")
    assert n == 12
