"""LINE's published rate limits and the one token bucket that keeps to them.

notify paces its requests with it (`acquire`: wait for the next token, in order); the LINE
emulator enforces the same limits (`take`: a token now, or 429).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimit:
    count: int
    per_seconds: float
    burst: float | None = None
    """Tokens that may be spent at once; None: the whole `count`."""

    def __str__(self) -> str:
        unit = {1.0: "s", 60.0: "min", 3600.0: "h"}.get(self.per_seconds)
        return f"{self.count}/{unit}" if unit else f"{self.count}/{self.per_seconds}s"


LINE_RATE_LIMITS: Mapping[str, RateLimit] = {
    # developers.line.biz/en/reference/messaging-api/#rate-limits ("other endpoints": 2,000/s)
    "push": RateLimit(2000, 1.0),
    "multicast": RateLimit(200, 1.0),
    "reply": RateLimit(2000, 1.0),
    "broadcast": RateLimit(60, 3600.0),
    "narrowcast": RateLimit(60, 3600.0),
}


class TokenBucket:
    """Refills continuously at count/per_seconds, up to its burst (at least one token)."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = limit.count / limit.per_seconds
        self.burst = float(limit.count) if limit.burst is None else max(1.0, limit.burst)
        self._tokens = self.burst
        self._clock = clock
        self._updated = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def take(self) -> bool:
        """Take a token if one is there now; False (and nothing taken) if not."""
        self._refill()
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def reserve(self) -> float:
        """Take the next token, on credit: returns how long to wait until it is really there,
        so waiters are served in order, without polling."""
        self._refill()
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    async def acquire(self) -> None:
        wait = self.reserve()
        if wait > 0:
            await asyncio.sleep(wait)
