"""The one retry policy: exponential backoff, with or without full jitter, and when to give up.

Every retry loop uses it: consumers before the dead-letter topic, notify's Messaging API calls,
the dispatcher, supervised background loops, listeners, the payment simulator's notices.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    base: float = 0.2
    """The wait before the first retry (its ceiling, with jitter); it doubles on each retry."""
    cap: float = 30.0
    """The longest wait."""
    jitter: bool = True
    """Full jitter: a uniform draw below the ceiling, so that failed callers do not retry in step."""
    max_attempts: int | None = None
    """Attempts in all before giving up; None: no limit by count."""
    give_up_after: float | None = None
    """Seconds of retrying before giving up; None: no limit by time."""

    def ceiling(self, attempt: int) -> float:
        """The longest wait after failed attempt number `attempt` (counting from 1)."""
        return min(self.cap, self.base * 2 ** (attempt - 1))

    def delay(self, attempt: int) -> float:
        """How long to wait after failed attempt number `attempt` (counting from 1)."""
        ceiling = self.ceiling(attempt)
        return random.uniform(0, ceiling) if self.jitter else ceiling

    def gives_up(self, attempts: int, elapsed: float = 0.0) -> bool:
        """Whether to stop after `attempts` failed attempts, `elapsed` seconds after the first."""
        if self.max_attempts is not None and attempts >= self.max_attempts:
            return True
        return self.give_up_after is not None and elapsed > self.give_up_after


RESTART = Backoff(base=0.5, cap=30.0, jitter=False)
"""A crashed background loop or listener starts again after 0.5 s, then 1 s, 2 s … up to 30 s."""
