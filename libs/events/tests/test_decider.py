from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from cityhall.events.db import Connection, Pool
from cityhall.events.decider import CommandHandler, Decider, DomainError
from cityhall.events.envelope import Envelope, Event
from cityhall.events.store import EventStore
from cityhall.events.testing.decider import given
from cityhall.events.testing.samples import CounterIncremented


@dataclass(frozen=True)
class Increment:
    by: int


def decide(command: Increment, total: int) -> Sequence[Event]:
    if command.by <= 0:
        raise DomainError("not_positive", "増やす数は 1 以上にしてください")
    if total + command.by > 100:
        raise DomainError("over_limit")
    return [CounterIncremented(by=command.by)]


def evolve(total: int, event: Event) -> int:
    assert isinstance(event, CounterIncremented)
    return total + event.by


counter: Decider[Increment, int] = Decider(initial_state=0, decide=decide, evolve=evolve)


def test_given_when_then_accepts() -> None:
    given(counter, CounterIncremented(by=5)).when(Increment(3)).then(CounterIncremented(by=3))


def test_given_when_then_refuses() -> None:
    given(counter, CounterIncremented(by=99)).when(Increment(2)).then_refused("over_limit")
    given(counter).when(Increment(0)).then_refused("not_positive")


async def test_handler_retries_lost_races_and_keeps_the_invariant(store: EventStore) -> None:
    handler = CommandHandler(store, counter, source="/services/test")
    # 30 concurrent increments of 5 against a limit of 100: exactly 20 succeed.
    results = await asyncio.gather(
        *(handler.handle("counter-1", Increment(5)) for _ in range(30)), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(refused) == 10 and all(r.reason == "over_limit" for r in refused)
    state, version = await handler.load("counter-1")
    assert (state, version) == (100, 20)


async def test_handling_the_same_message_twice_appends_once(store: EventStore) -> None:
    handler = CommandHandler(store, counter, source="/services/test")
    cause = Envelope.wrap(CounterIncremented(by=1), source="/services/other", subject="x-1")
    first = await handler.handle("counter-1", Increment(4), caused_by=cause)
    assert first.version == 1
    # A replay decides again on the new state, but derives the same event id: nothing new is stored.
    await handler.handle("counter-1", Increment(4), caused_by=cause)
    assert [e.id for e in await store.read_stream("counter-1")] == [first.events[0].id]
    assert first.events[0].correlation_id == str(cause.id)


async def test_the_cached_state_never_keeps_a_rolled_back_append(store: EventStore, pool: Pool) -> None:
    handler = CommandHandler(store, counter, source="/services/test")
    cause = Envelope.wrap(CounterIncremented(by=1), source="/services/other", subject="x-1")
    await handler.handle("counter-1", Increment(1))
    async with pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        await handler.handle("counter-1", Increment(5), caused_by=cause, conn=conn)
        assert await handler.load("counter-1", conn=conn) == (6, 2)  # its own append, not kept
        cached = handler.cache.get("counter-1")
        assert cached is not None and (cached.state, cached.version) == (1, 1)
        await transaction.rollback()
    # The redelivered cause decides again and derives the same event id for version 2, with
    # other data: a state kept from the rolled-back append would pass the id check.
    await handler.handle("counter-1", Increment(7), caused_by=cause)
    assert await handler.load("counter-1") == (8, 2)


async def test_a_cached_state_reads_on_what_another_writer_appended(store: EventStore) -> None:
    mine = CommandHandler(store, counter, source="/services/test")
    other = CommandHandler(store, counter, source="/services/test")
    for _ in range(19):
        await mine.handle("counter-1", Increment(5))
    assert await mine.load("counter-1") == (95, 19)
    await other.handle("counter-1", Increment(5))
    # Deciding on the cached 95 would append 1 at a stale version again and again.
    try:
        await mine.handle("counter-1", Increment(1))
        raise AssertionError("not refused")
    except DomainError as exc:
        assert exc.reason == "over_limit"
    assert await mine.load("counter-1") == (100, 20)


async def test_a_cached_state_reads_only_the_events_after_it(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = CommandHandler(store, counter, source="/services/test")
    for _ in range(5):
        await writer.handle("counter-1", Increment(1))
    handler = CommandHandler(store, counter, source="/services/test")
    read: list[int] = []
    original = store.read_stream

    async def counting(stream: str, *, after_version: int = 0, conn: Connection | None = None) -> list[Any]:
        found = await original(stream, after_version=after_version, conn=conn)
        read.extend(r.version for r in found)
        return found

    monkeypatch.setattr(store, "read_stream", counting)
    assert await handler.load("counter-1") == (5, 5)
    assert await handler.load("counter-1") == (5, 5)
    assert read == [1, 2, 3, 4, 5, 5]  # then only the cached last event, checked


async def test_a_cached_state_whose_last_event_is_gone_is_read_again(store: EventStore, pool: Pool) -> None:
    handler = CommandHandler(store, counter, source="/services/test")
    for _ in range(3):
        await handler.handle("counter-1", Increment(2))
    assert await handler.load("counter-1") == (6, 3)
    await pool.execute("DELETE FROM events WHERE stream = 'counter-1'")  # a store reset, as in tests
    await handler.handle("counter-1", Increment(4))
    assert await handler.load("counter-1") == (4, 1)


async def test_the_cache_keeps_the_streams_used_last(store: EventStore) -> None:
    handler = CommandHandler(store, counter, source="/services/test", cache_size=2)
    for n in (1, 2, 3):
        await handler.handle(f"counter-{n}", Increment(n))
        await handler.load(f"counter-{n}")
    assert len(handler.cache) == 2 and handler.cache.get("counter-1") is None
    await handler.load("counter-2")  # used: counter-3 is now the oldest
    await handler.load("counter-1")
    assert handler.cache.get("counter-3") is None
    assert handler.cache.get("counter-1") is not None and handler.cache.get("counter-2") is not None
