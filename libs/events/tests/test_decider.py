from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

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
