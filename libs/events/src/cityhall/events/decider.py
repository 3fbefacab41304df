"""Deciders and the command handler that runs them against the event store.

A decider is pure: `decide(command, state) -> events` and `evolve(state, event) -> state`
from an initial state (states are never changed in place: the handler keeps them). The handler
loads a stream, folds it, decides, and appends with the expected version; a lost race is retried
on the fresh stream.

The handler keeps the folded state of the streams it loaded last (`StateCache`), so that a load
reads only the events after it instead of the whole stream again: a slot's hundred bookings are
not re-read and re-validated for every refusal. Only committed events are kept (never a
transaction's own appends, which it may still roll back), the cached last event is read again
to check it is still the stream's, and the expected-version append stays the authority.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from cityhall.events.db import Connection
from cityhall.events.envelope import Envelope, Event, EventRegistry, registry
from cityhall.events.store import ConcurrencyError, EventStore, RecordedEvent

C = TypeVar("C")
S = TypeVar("S")


class DomainError(Exception):
    """A command the decider refuses. `reason` is a stable code; the message may reach a person."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(message or reason)
        self.reason = reason


class Command(BaseModel):
    """Base of a service's commands: immutable, and no field it does not declare."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True)
class Decider(Generic[C, S]):
    initial_state: S
    decide: Callable[[C, S], Sequence[Event]]
    evolve: Callable[[S, Event], S]

    def fold(self, events: Sequence[Event], state: S | None = None) -> S:
        current = self.initial_state if state is None else state
        for event in events:
            current = self.evolve(current, event)
        return current


@dataclass(frozen=True)
class Decision(Generic[S]):
    events: list[Envelope]
    state: S
    version: int


@dataclass(frozen=True)
class Folded(Generic[S]):
    """A stream's state folded up to `version`, whose event has the id `last`."""

    state: S
    version: int
    last: uuid.UUID


class StateCache(Generic[S]):
    """The folded states of the `size` streams used last (least recently used dropped first)."""

    def __init__(self, size: int) -> None:
        if size < 0:
            raise ValueError("a cache size is 0 (none) or more")
        self.size = size
        self._folded: OrderedDict[str, Folded[S]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._folded)

    def get(self, stream: str) -> Folded[S] | None:
        found = self._folded.get(stream)
        if found is not None:
            self._folded.move_to_end(stream)
        return found

    def put(self, stream: str, folded: Folded[S]) -> None:
        known = self._folded.get(stream)
        if known is not None and known.version > folded.version:
            return  # a concurrent load read further already
        self._folded[stream] = folded
        self._folded.move_to_end(stream)
        while len(self._folded) > self.size:
            self._folded.popitem(last=False)

    def drop(self, stream: str) -> None:
        self._folded.pop(stream, None)


class CommandHandler(Generic[C, S]):
    def __init__(
        self,
        store: EventStore,
        decider: Decider[C, S],
        *,
        source: str,
        events: EventRegistry = registry,
        max_attempts: int = 10,
        cache_size: int = 1000,
    ) -> None:
        self.store, self.decider, self.source, self.registry = store, decider, source, events
        self.max_attempts = max_attempts
        self.cache: StateCache[S] = StateCache(cache_size)

    async def load(self, stream: str, *, conn: Connection | None = None) -> tuple[S, int]:
        """The stream's state and version, as the caller's transaction (`conn`) sees it."""
        state, version = self.decider.initial_state, 0
        cached = self.cache.get(stream)
        if cached is None:
            recorded = await self.store.read_stream(stream, conn=conn)
        else:
            # From the cached last event on, to check it is still there (a store reset in tests,
            # a state that should never have been kept): else the whole stream again.
            recorded = await self.store.read_stream(stream, after_version=cached.version - 1, conn=conn)
            if recorded and recorded[0].id == cached.last:
                state, version, recorded = cached.state, cached.version, recorded[1:]
            else:
                self.cache.drop(stream)
                recorded = await self.store.read_stream(stream, conn=conn)
        return self._fold(stream, state, version, recorded)

    def _fold(self, stream: str, state: S, version: int, recorded: Sequence[RecordedEvent]) -> tuple[S, int]:
        keep: Folded[S] | None = None
        committed = True
        for r in recorded:
            state, version = self.decider.evolve(state, r.envelope.event(self.registry)), r.version
            # Other transactions' events that the caller sees are committed; its own appends (the
            # stream's last events) are not kept, as it may still roll them back.
            committed = committed and not r.mine
            if committed:
                keep = Folded(state, version, r.id)
        if keep is not None:
            self.cache.put(stream, keep)
        return state, version

    async def handle(
        self,
        stream: str,
        command: C,
        *,
        caused_by: Envelope | None = None,
        conn: Connection | None = None,
        **wrap: Any,
    ) -> Decision[S]:
        """Decide and append. Raises `DomainError` when refused, having written nothing.

        With `caused_by`, event ids derive from the cause's id, so handling the same
        message twice appends nothing new (the store ignores known ids).
        """
        for attempt in range(1, self.max_attempts + 1):
            state, version = await self.load(stream, conn=conn)
            new_events = list(self.decider.decide(command, state))
            envelopes = [
                Envelope.wrap(
                    event,
                    source=self.source,
                    subject=stream,
                    caused_by=caused_by,
                    id=uuid.uuid5(caused_by.id, f"{stream}/{i}") if caused_by is not None else None,
                    **wrap,
                )
                for i, event in enumerate(new_events)
            ]
            if not envelopes:
                return Decision(envelopes, state, version)
            try:
                new_version = await self.store.append(stream, version, envelopes, conn=conn)
            except ConcurrencyError:
                if attempt == self.max_attempts:
                    raise
                await asyncio.sleep(random.uniform(0, 0.005 * attempt))
                continue
            return Decision(envelopes, self.decider.fold(new_events, state), new_version)
        raise AssertionError("unreachable")
