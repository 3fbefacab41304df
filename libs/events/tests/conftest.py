"""Shared fixtures for the libs/events tests: a fresh database with the backbone schema."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cityhall.events.db import Pool, create_pool, migrate
from cityhall.events.embedded_bus import EmbeddedBus
from cityhall.events.store import EventStore


@pytest.fixture
async def pool(fresh_database: str) -> AsyncIterator[Pool]:
    pool = await create_pool(fresh_database, "svc_test", max_size=12)
    await migrate(pool, ["cityhall.events"])
    yield pool
    await pool.close()


@pytest.fixture
def store(pool: Pool) -> EventStore:
    return EventStore(pool)


@pytest.fixture
async def bus(fresh_database: str) -> AsyncIterator[EmbeddedBus]:
    """A started embedded bus on the test's database, for tests that run a consumer."""
    bus = EmbeddedBus(fresh_database, poll_interval=0.05)
    await bus.start()
    yield bus
    await bus.stop()
