"""Given/when/then for deciders: unit tests read as the business rule they check."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import pytest

from cityhall.events.decider import Decider, DomainError
from cityhall.events.envelope import Event

C = TypeVar("C")
S = TypeVar("S")


@dataclass(frozen=True)
class Scenario(Generic[C, S]):
    decider: Decider[C, S]
    history: Sequence[Event]
    command: C | None = None

    def when(self, command: C) -> Scenario[C, S]:
        return Scenario(self.decider, self.history, command)

    def _decide(self) -> list[Event]:
        assert self.command is not None, "call .when(command) first"
        return list(self.decider.decide(self.command, self.decider.fold(self.history)))

    def then(self, *expected: Event) -> list[Event]:
        """The command yields exactly these events, in order."""
        produced = self._decide()
        assert produced == list(expected), f"expected {list(expected)!r}\n     got {produced!r}"
        return produced

    def then_refused(self, reason: str) -> DomainError:
        """The command is refused with this reason code and yields nothing."""
        with pytest.raises(DomainError) as caught:
            self._decide()
        assert caught.value.reason == reason, f"refused for {caught.value.reason!r}, expected {reason!r}"
        return caught.value


def given(decider: Decider[C, S], *history: Event) -> Scenario[C, S]:
    return Scenario(decider, history)
