"""A batched consumer's batch: inbox rows and each partition's offset in one statement, its new
messages in one call of `handle_batch`, and a redelivered batch with no second effect."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from cityhall.events import consumer as consumer_module
from cityhall.events.bus import Message, Record
from cityhall.events.consumer import IdempotentConsumer
from cityhall.events.db import Connection, Pool
from cityhall.events.embedded_bus import EmbeddedBus
from cityhall.events.envelope import Envelope
from cityhall.events.testing import running, wait_for
from cityhall.events.testing.samples import CounterIncremented

TOPIC, OTHER = "events.batch", "events.batch-other"


def message(topic: str, partition: int, offset: int, key: str, seq: int) -> Message:
    envelope = Envelope.wrap(CounterIncremented(by=seq), source="/services/test", subject=key)
    record = Record.of(topic, key, envelope)
    return Message(topic, partition, offset, key, record.value, record.headers)


class Handled:
    """What the handlers were given: per call of `handle_batch`, and per call of `handler`."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.one_by_one: list[int] = []

    async def batch(self, envelopes: Sequence[Envelope], conn: Connection) -> None:
        self.batches.append([e.data["by"] for e in envelopes])
        await conn.executemany("INSERT INTO effects (seq) VALUES ($1)", [(e.data["by"],) for e in envelopes])

    async def one(self, envelope: Envelope, conn: Connection) -> None:
        self.one_by_one.append(envelope.data["by"])
        await conn.execute("INSERT INTO effects (seq) VALUES ($1)", envelope.data["by"])


@pytest.fixture
async def effects(pool: Pool) -> Pool:
    await pool.execute("CREATE TABLE effects (seq int)")
    return pool


def consumer(pool: Pool, handled: Handled, *, batch: bool = True) -> IdempotentConsumer:
    # The bus is never started: these tests hand the consumer its fetched messages themselves.
    return IdempotentConsumer(
        "c-batch",
        [TOPIC, OTHER],
        handled.one,
        bus=EmbeddedBus("postgresql://unused"),
        pool=pool,
        batched=True,
        handle_batch=handled.batch if batch else None,
    )


async def offsets(pool: Pool) -> dict[tuple[str, int], int]:
    rows = await pool.fetch(
        "SELECT topic, partition, next_offset FROM consumer_offsets WHERE consumer = 'c-batch'"
    )
    return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}


async def take(c: IdempotentConsumer, batch: list[Message]) -> bool:
    """As `run` does with a fetch: track the messages, then handle them together."""
    for m in batch:
        c.positions.fetched(m)
    return await c._process_together(batch)


async def test_a_batch_stores_each_partitions_own_offset(effects: Pool) -> None:
    handled = Handled()
    c = consumer(effects, handled)
    # Partition 2's offset 3 was fetched earlier and is still being handled.
    c.positions.fetched(message(TOPIC, 2, 3, "slow", 99))
    batch = [
        message(TOPIC, 0, 10, "a", 1),
        message(TOPIC, 1, 5, "b", 2),
        message(TOPIC, 0, 11, "a", 3),
        message(OTHER, 0, 40, "c", 4),
        message(TOPIC, 2, 7, "d", 5),
        message(TOPIC, 1, 6, "b", 6),
    ]

    assert await take(c, batch)

    assert await offsets(effects) == {
        (TOPIC, 0): 12,
        (TOPIC, 1): 7,
        (OTHER, 0): 41,  # the same partition number in another topic is another partition
        (TOPIC, 2): 3,  # never past the message still unfinished
    }
    assert handled.batches == [[1, 2, 3, 4, 5, 6]] and handled.one_by_one == []


async def test_a_redelivered_batch_has_no_second_effect_and_its_offsets_do_not_go_back(effects: Pool) -> None:
    handled = Handled()
    first = [message(TOPIC, 0, 10, "a", 1), message(TOPIC, 1, 5, "b", 2)]
    assert await take(consumer(effects, handled), first)
    assert await take(consumer(effects, handled), [message(TOPIC, 0, 12, "a", 3)])

    # After a crash another run fetches the first batch again, with one new message after it.
    again = consumer(effects, handled)
    assert await take(again, [*first, message(TOPIC, 1, 6, "b", 4)])

    assert handled.batches == [[1, 2], [3], [4]]
    assert sorted(r["seq"] for r in await effects.fetch("SELECT seq FROM effects")) == [1, 2, 3, 4]
    assert await offsets(effects) == {(TOPIC, 0): 13, (TOPIC, 1): 7}


async def test_a_duplicate_within_a_batch_is_handled_once(effects: Pool) -> None:
    handled = Handled()
    twice = message(TOPIC, 0, 10, "a", 1)
    copy = Message(TOPIC, 0, 11, twice.key, twice.value, twice.headers)

    assert await take(consumer(effects, handled), [twice, copy, message(TOPIC, 0, 12, "a", 2)])

    assert handled.batches == [[1, 2]]
    assert await offsets(effects) == {(TOPIC, 0): 13}


async def test_without_handle_batch_each_new_message_goes_to_the_handler_in_the_batch(effects: Pool) -> None:
    handled = Handled()
    c = consumer(effects, handled, batch=False)

    assert await take(c, [message(TOPIC, 0, 1, "a", 1), message(TOPIC, 1, 1, "b", 2)])

    assert handled.one_by_one == [1, 2] and handled.batches == []
    assert await offsets(effects) == {(TOPIC, 0): 2, (TOPIC, 1): 2}


async def test_a_failing_batch_writes_nothing(effects: Pool) -> None:
    handled = Handled()

    async def fail(envelopes: Sequence[Envelope], conn: Connection) -> None:
        await handled.batch(envelopes, conn)
        raise RuntimeError("the batch fails after writing")

    c = consumer(effects, handled)
    c.handle_batch = fail

    assert not await take(c, [message(TOPIC, 0, 1, "a", 1), message(TOPIC, 1, 1, "b", 2)])

    assert await offsets(effects) == {}
    assert await effects.fetchval("SELECT count(*) FROM effects") == 0
    assert await effects.fetchval("SELECT count(*) FROM inbox") == 0


async def test_a_message_to_prepare_is_handled_on_its_own_and_a_slow_one_stalls_no_batch(
    bus: EmbeddedBus, effects: Pool
) -> None:
    handled, release = Handled(), asyncio.Event()
    prepared: list[int] = []

    async def prepare(envelope: Envelope, pool: Pool) -> None:
        if envelope.data["by"] == 0:
            prepared.append(0)
            await release.wait()  # a payment provider that does not answer

    c = IdempotentConsumer(
        "c-prepare", [TOPIC], handled.one, bus=bus, pool=effects, batched=True, handle_batch=handled.batch,
        prepare=prepare, prepares=lambda envelope: envelope.data["by"] == 0,
    )  # fmt: skip
    payer = [Record.of(TOPIC, "payer", envelope(0)), Record.of(TOPIC, "payer", envelope(1))]
    await bus.publish([payer[0], *(Record.of(TOPIC, f"k{i}", envelope(i)) for i in range(2, 8)), payer[1]])
    async with running(c):
        await wait_for(lambda: c.handled == 6, timeout=30, message="the batch waited for a slow prepare")
        assert prepared == [0]
        assert sorted(seq for batch in handled.batches for seq in batch) == list(range(2, 8))
        assert handled.one_by_one == []  # the payer's second message waits behind its first
        release.set()
        await wait_for(lambda: c.handled == 8, timeout=30)
    assert handled.one_by_one == [0, 1]


async def test_a_batched_run_takes_at_most_batch_limit_messages_per_transaction(
    bus: EmbeddedBus, effects: Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consumer_module, "BATCH_LIMIT", 3)
    handled = Handled()
    transactions: list[int] = []

    async def batch(envelopes: Sequence[Envelope], conn: Connection) -> None:
        transactions.append(len(envelopes))
        await handled.batch(envelopes, conn)

    c = IdempotentConsumer(
        "c-limit", [TOPIC], handled.one, bus=bus, pool=effects, batched=True, handle_batch=batch
    )
    await bus.publish([Record.of(TOPIC, f"k{i}", envelope(i)) for i in range(8)])
    async with running(c):
        await wait_for(lambda: c.handled == 8, timeout=30)
    assert sum(transactions) + len(handled.one_by_one) == 8 and max(transactions) <= 3
    assert sorted(r["seq"] for r in await effects.fetch("SELECT seq FROM effects")) == list(range(8))


def envelope(seq: int, prefix: str = "k") -> Envelope:
    return Envelope.wrap(CounterIncremented(by=seq), source="/services/test", subject=f"{prefix}{seq}")


async def test_batches_of_different_partitions_are_decided_at_once(bus: EmbeddedBus, effects: Pool) -> None:
    handled = Handled()
    started = {"a": asyncio.Event(), "b": asyncio.Event()}
    overlapped: list[bool] = []

    async def batch(envelopes: Sequence[Envelope], conn: Connection) -> None:
        mine = str(envelopes[0].subject)[0]
        started[mine].set()
        other = started["b" if mine == "a" else "a"]
        try:  # each waits (briefly) for the other partition's batch to be under way too
            await asyncio.wait_for(other.wait(), timeout=5)
            overlapped.append(True)
        except TimeoutError:
            overlapped.append(False)
        await handled.batch(envelopes, conn)

    c = IdempotentConsumer(
        "c-parts", [TOPIC, OTHER], handled.one, bus=bus, pool=effects, batched=True, handle_batch=batch
    )
    await bus.publish([Record.of(TOPIC, f"a{i}", envelope(i, "a")) for i in range(3)])
    await bus.publish([Record.of(OTHER, f"b{i}", envelope(i, "b")) for i in range(3)])
    async with running(c):
        await wait_for(lambda: c.handled == 6, timeout=30)
    assert overlapped == [True, True], "one partition's batch waited for the other's"
