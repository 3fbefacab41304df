from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from cityhall.events.db import Pool
from cityhall.events.envelope import Envelope
from cityhall.events.store import (
    NO_STREAM,
    START,
    ConcurrencyError,
    EventStore,
    Position,
    RetryableError,
    load_checkpoint,
    parse_announced,
)
from cityhall.events.testing.samples import CounterIncremented, NameGiven


def incremented(by: int = 1, stream: str = "counter-1") -> Envelope:
    return Envelope.wrap(CounterIncremented(by=by), source="/services/test", subject=stream)


async def test_append_and_read_stream_in_version_order(store: EventStore) -> None:
    assert await store.append("counter-1", NO_STREAM, [incremented(1), incremented(2)]) == 2
    assert await store.append("counter-1", 2, [incremented(3)]) == 3
    events = await store.read_stream("counter-1")
    assert [e.version for e in events] == [1, 2, 3]
    assert [e.envelope.event() for e in events] == [CounterIncremented(by=b) for b in (1, 2, 3)]
    assert await store.read_stream("counter-2") == []


async def test_wrong_expected_version_is_a_retryable_conflict_and_writes_nothing(store: EventStore) -> None:
    await store.append("counter-1", NO_STREAM, [incremented()])
    with pytest.raises(ConcurrencyError) as caught:
        await store.append("counter-1", NO_STREAM, [incremented()])
    assert isinstance(caught.value, RetryableError)
    assert caught.value.actual == 1
    assert len(await store.read_stream("counter-1")) == 1


async def test_reappending_stored_events_is_a_no_op(store: EventStore) -> None:
    batch = [incremented(1), incremented(2)]
    assert await store.append("counter-1", NO_STREAM, batch) == 2
    assert await store.append("counter-1", NO_STREAM, batch) == 2  # same ids: already there
    assert len(await store.read_stream("counter-1")) == 2
    with pytest.raises(ValueError):
        await store.append("counter-1", 2, [batch[0], incremented(3)])
    assert len(await store.read_stream("counter-1")) == 2


async def test_start_streams_writes_one_event_streams_at_once_and_skips_stored_ids(
    store: EventStore, pool: Pool
) -> None:
    first = [incremented(i, stream=f"counter-s{i}") for i in range(3)]
    async with pool.acquire() as conn, conn.transaction():
        positions = await store.start_streams(first, conn=conn)
    again = [*first[1:], incremented(9, stream="counter-s9")]  # two stored already, one new
    async with pool.acquire() as conn, conn.transaction():
        positions_again = await store.start_streams(again, conn=conn)
    events = await store.read_all()
    assert [(e.stream, e.version, e.id) for e in events] == [
        (e.subject, 1, e.id) for e in [*first, again[-1]]
    ]
    stored = {e.id: e.position for e in events}
    assert positions == {e.id: stored[e.id] for e in first}
    assert positions_again == {e.id: stored[e.id] for e in again}  # the stored ones keep their place


async def test_start_streams_refuses_a_stream_that_holds_other_events(store: EventStore, pool: Pool) -> None:
    await store.append("counter-taken", NO_STREAM, [incremented()])
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.UniqueViolationError):
            async with conn.transaction():
                await store.start_streams([incremented(stream="counter-taken")], conn=conn)
    assert len(await store.read_stream("counter-taken")) == 1


async def test_notify_wakes_listeners_of_this_process_at_once(store: EventStore) -> None:
    woken: list[str] = []
    stop = store.on_notify(lambda: woken.append("woken"))
    await store.append("counter-1", NO_STREAM, [incremented()])
    assert woken == ["woken"]
    stop()
    store.notify()
    assert woken == ["woken"]


async def test_concurrent_appends_to_one_stream_let_exactly_one_win(store: EventStore) -> None:
    await store.append("counter-1", NO_STREAM, [incremented()])
    results = await asyncio.gather(
        *(store.append("counter-1", 1, [incremented()]) for _ in range(8)), return_exceptions=True
    )
    assert sum(1 for r in results if r == 2) == 1
    assert all(isinstance(r, ConcurrencyError) for r in results if r != 2)


async def test_append_in_a_callers_transaction_survives_a_lost_race(store: EventStore, pool: Pool) -> None:
    await store.append("counter-1", NO_STREAM, [incremented()])
    async with pool.acquire() as conn, conn.transaction():
        with pytest.raises(ConcurrencyError):
            await store.append("counter-1", NO_STREAM, [incremented()], conn=conn)
        # The caller's transaction is still usable after the conflict.
        await store.append("counter-2", NO_STREAM, [incremented(stream="counter-2")], conn=conn)
    assert len(await store.read_stream("counter-2")) == 1


async def test_read_all_hides_events_of_a_transaction_still_running(store: EventStore, pool: Pool) -> None:
    async with pool.acquire() as slow:
        tr = slow.transaction()
        await tr.start()
        # The slow writer takes a lower position first...
        await store.append("slow-1", NO_STREAM, [incremented(stream="slow-1")], conn=slow)
        # ...and a fast one commits after it with a higher position.
        await store.append("fast-1", NO_STREAM, [incremented(stream="fast-1")])
        assert await store.read_all(START) == []  # nothing may be read past the running transaction
        await tr.commit()
    seen = [e.stream for e in await store.read_all(START)]
    assert sorted(seen) == ["fast-1", "slow-1"]


async def test_read_all_of_some_types_gives_them_and_the_last_event_read(store: EventStore) -> None:
    await store.append("counter-1", NO_STREAM, [incremented(1)])
    for n in range(3):
        named = Envelope.wrap(
            NameGiven(family_name="山田", given_name=str(n)), source="/t", subject=f"name-{n}"
        )
        await store.append(named.subject, NO_STREAM, [named])
    await store.append("counter-1", 1, [incremented(2)])
    every = await store.read_all()
    assert [e.type for e in every] == [CounterIncremented.TYPE] + [NameGiven.TYPE] * 3 + [
        CounterIncremented.TYPE
    ]
    counters = {CounterIncremented.TYPE}
    first = await store.read_all(limit=3, types=counters)  # of the first three, a counter and the last
    assert [e.id for e in first] == [every[0].id, every[2].id]
    assert first[1].envelope.event() == NameGiven(family_name="山田", given_name="1")
    rest = await store.read_all(first[-1].position, types=counters)
    assert [e.id for e in rest] == [every[4].id]  # the last event read is a counter
    assert await store.read_all(rest[-1].position, types=counters) == []


async def test_tailing_reader_never_skips_an_event_from_concurrent_writers(store: EventStore) -> None:
    writers, per_writer = 8, 60
    expected: set[uuid.UUID] = set()
    done = asyncio.Event()

    async def write(w: int) -> None:
        for i in range(per_writer):
            env = incremented(stream=f"writer{w}-{i % 3}")
            expected.add(env.id)
            await store.append(env.subject, None, [env])

    async def tail() -> list[uuid.UUID]:
        seen: list[uuid.UUID] = []
        position: Position = START
        while True:
            finished = done.is_set()  # read once more after the writers are done
            batch = await store.read_all(position, limit=50)
            for event in batch:
                assert event.position > position, "positions must only move forward"
                position = event.position
                seen.append(event.id)
            if finished and not batch:
                return seen
            await asyncio.sleep(0)

    reader = asyncio.create_task(tail())
    await asyncio.gather(*(write(w) for w in range(writers)))
    done.set()
    seen = await asyncio.wait_for(reader, 30)
    assert len(seen) == len(set(seen)), "no event read twice"
    assert set(seen) == expected, f"missing {len(expected - set(seen))} events"


async def test_save_checkpoint_and_read_all_stores_and_announces_the_position_and_reads_after_it(
    store: EventStore, pool: Pool
) -> None:
    for i in range(4):
        await store.append(f"counter-{i}", NO_STREAM, [incremented(stream=f"counter-{i}")])
    first, second, *rest = await store.read_all()
    heard: asyncio.Queue[str] = asyncio.Queue()
    async with pool.acquire() as listener:

        def hear(*args: object) -> None:
            heard.put_nowait(str(args[-1]))

        await listener.add_listener("relay_test", hear)
        after = await store.save_checkpoint_and_read_all(
            "relay", second.position, limit=10, announce="relay_test"
        )
        assert [e.id for e in after] == [e.id for e in rest]
        assert await load_checkpoint(pool, "relay") == second.position
        assert parse_announced(await asyncio.wait_for(heard.get(), timeout=5)) == second.position
        # Without a channel it only saves; the limit bounds the read as in read_all.
        assert [e.id for e in await store.save_checkpoint_and_read_all("relay", first.position, limit=1)] == [
            second.id
        ]
        assert await load_checkpoint(pool, "relay") == first.position
        # Notifications arrive in commit order: had that save announced, it would be heard first.
        await store.save_checkpoint_and_read_all("relay", rest[0].position, limit=1, announce="relay_test")
        assert parse_announced(await asyncio.wait_for(heard.get(), timeout=5)) == rest[0].position
        await listener.remove_listener("relay_test", hear)


async def test_readers_wait_for_a_transaction_of_this_database_not_for_one_of_another(
    store: EventStore, pool: Pool, postgres_dsn: str
) -> None:
    """Transaction ids are server-wide; only a transaction of this database can still commit an
    event with a lower one (`commit_horizon()`)."""
    first = incremented(stream="counter-1")
    await store.append(first.subject, NO_STREAM, [first])
    elsewhere = await asyncpg.connect(postgres_dsn)  # the server's own database: not the store's
    here = await pool.acquire()
    try:
        async with elsewhere.transaction():
            await elsewhere.fetchval("SELECT pg_current_xact_id()")  # running, with an id
            later = incremented(stream="counter-2")
            await store.append(later.subject, NO_STREAM, [later])
            read = await store.read_all()
            assert [e.id for e in read] == [first.id, later.id], "held back by another database"

            async with here.transaction():
                await here.fetchval("SELECT pg_current_xact_id()")
                last = incremented(stream="counter-3")
                await store.append(last.subject, NO_STREAM, [last])
                assert await store.read_all(read[-1].position) == [], "read past a running transaction"
            assert [e.id for e in await store.read_all(read[-1].position)] == [last.id]
    finally:
        await pool.release(here)
        await elsewhere.close()


async def test_append_each_appends_to_each_subjects_stream_in_order_and_skips_stored_ids(
    store: EventStore, pool: Pool
) -> None:
    await store.append("counter-1", NO_STREAM, [incremented(1)])
    a, b, c = incremented(2), incremented(3, stream="counter-2"), incremented(4)
    async with pool.acquire() as conn, conn.transaction():
        await store.append_each([a, b, c], conn=conn)
    async with pool.acquire() as conn, conn.transaction():
        await store.append_each([c, incremented(5, stream="counter-2")], conn=conn)  # c again: a no-op
    first = await store.read_stream("counter-1")
    assert [(e.version, e.envelope.data["by"]) for e in first] == [(1, 1), (2, 2), (3, 4)]
    assert [e.envelope.data["by"] for e in await store.read_stream("counter-2")] == [3, 5]
