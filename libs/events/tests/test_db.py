"""Postgres plumbing: the transaction that does not wait for the WAL flush."""

from __future__ import annotations

import asyncpg
import pytest

from cityhall.events.db import Pool, unflushed_transaction
from cityhall.events.envelope import Envelope
from cityhall.events.store import NO_STREAM, EventStore
from cityhall.events.testing.samples import CounterIncremented


def incremented() -> Envelope:
    return Envelope.wrap(CounterIncremented(by=1), source="/services/test", subject="counter-1")


async def test_an_unflushed_transaction_commits_without_waiting_for_the_flush_and_only_itself(
    store: EventStore, pool: Pool
) -> None:
    async with pool.acquire() as conn:
        default = await conn.fetchval("SHOW synchronous_commit")
        async with unflushed_transaction(conn):
            assert conn.is_in_transaction()
            assert await conn.fetchval("SHOW synchronous_commit") == "off"
            await store.append("counter-1", NO_STREAM, [incremented()], conn=conn)
        assert not conn.is_in_transaction()
        assert await conn.fetchval("SHOW synchronous_commit") == default  # SET LOCAL ended with it
    assert [e.version for e in await store.read_stream("counter-1")] == [1]


async def test_an_unflushed_transaction_that_fails_leaves_nothing_and_the_connection_usable(
    store: EventStore, pool: Pool
) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.DivisionByZeroError):
            async with unflushed_transaction(conn):
                await store.append("counter-1", NO_STREAM, [incremented()], conn=conn)
                await conn.fetchval("SELECT 1 / 0")
        assert not conn.is_in_transaction()
        assert await conn.fetchval("SELECT 2") == 2
    assert await store.read_stream("counter-1") == []
