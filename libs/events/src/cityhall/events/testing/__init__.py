"""Test support: real Postgres and Kafka for tests (see `plugin`), sample schemas, and `wait_for`.

Tests wait on conditions, never on sleeps: `await wait_for(lambda: relay.published == 10)`.
Metrics are read from what `/metrics` served: `sample(text, "cityhall_x_total", outcome="ok")`.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Protocol

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["sample", "wait_for"]


def sample(exposition: str, name: str, **labels: str) -> float:
    """The value of sample `name` with exactly `labels` in a /metrics page; 0 if there is none
    (a counter whose labels were never counted)."""
    for family in text_string_to_metric_families(exposition):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    return 0.0


async def wait_for(
    predicate: Callable[[], object | Awaitable[object]],
    timeout: float = 10.0,
    interval: float = 0.05,
    message: str = "",
) -> None:
    """Return as soon as `predicate()` (sync or async) is truthy; `AssertionError` after `timeout` s.

    The predicate is always evaluated once more at the deadline, so a slow poll never turns
    a met condition into a failure.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        last = result
        if result:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        await asyncio.sleep(min(interval, remaining))
    detail = f": {message}" if message else ""
    raise AssertionError(f"condition not met within {timeout} s{detail} (last value: {last!r})")


class Runnable(Protocol):
    async def run(self) -> None: ...


@asynccontextmanager
async def running(loop: Runnable) -> AsyncIterator[None]:
    """`loop.run()` (a consumer, a relay) in the background while the block runs, then cancelled."""
    task = asyncio.create_task(loop.run())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
