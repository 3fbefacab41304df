"""Deciders and the command handler that runs them against the event store.

A decider is pure: `decide(command, state) -> events` and `evolve(state, event) -> state`
from an initial state. The handler loads a stream, folds it, decides, and appends with
the expected version; a lost race is retried on the fresh stream.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from cityhall.events.db import Connection
from cityhall.events.envelope import Envelope, Event, EventRegistry, registry
from cityhall.events.store import ConcurrencyError, EventStore

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


class CommandHandler(Generic[C, S]):
    def __init__(
        self,
        store: EventStore,
        decider: Decider[C, S],
        *,
        source: str,
        events: EventRegistry = registry,
        max_attempts: int = 10,
    ) -> None:
        self.store, self.decider, self.source, self.registry = store, decider, source, events
        self.max_attempts = max_attempts

    async def load(self, stream: str, *, conn: Connection | None = None) -> tuple[S, int]:
        recorded = await self.store.read_stream(stream, conn=conn)
        state = self.decider.fold([r.envelope.event(self.registry) for r in recorded])
        return state, (recorded[-1].version if recorded else 0)

    async def handle(
        self,
        stream: str,
        command: C,
        *,
        caused_by: Envelope | None = None,
        conn: Connection | None = None,
        **wrap: Any,
    ) -> Decision[S]:
        """Decide and append. Raises `DomainError` when refused.

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
