"""Waiting for a wake-up with a bound, without losing a cancellation."""

from __future__ import annotations

import asyncio


async def wake_or_timeout(event: asyncio.Event, timeout: float) -> bool:
    """Wait until `event` is set or `timeout` seconds pass; True if it was set.

    Python 3.11's `asyncio.wait_for` can swallow a cancellation that arrives as the inner wait
    finishes, leaving a background loop running after shutdown cancelled it;
    `asyncio.timeout` does not.
    """
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True
