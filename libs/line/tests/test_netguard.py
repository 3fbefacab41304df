"""The guard that fails a test when a network call is awaited inside a database transaction."""

from __future__ import annotations

import contextlib

import asyncpg
import httpx
import pytest

from cityhall.line.netguard import NetworkInTransaction, no_network_in_transactions


def answering() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(lambda _request: httpx.Response(200)))


async def test_fetching_outside_and_recording_inside_passes(fresh_database: str) -> None:
    conn = await asyncpg.connect(fresh_database)
    try:
        async with answering() as client:
            with no_network_in_transactions() as violations:
                status = (await client.get("http://content.test/photo")).status_code
                async with conn.transaction():
                    await conn.execute("SELECT $1::int", status)
                await client.get("http://content.test/after")  # the transaction is over
            assert violations == []
    finally:
        await conn.close()


async def test_a_call_inside_a_transaction_fails_even_when_the_caller_swallows_it(
    fresh_database: str,
) -> None:
    conn = await asyncpg.connect(fresh_database)
    try:
        async with answering() as client:
            with (
                pytest.raises(AssertionError, match=r"GET http://content\.test/photo inside a database"),
                no_network_in_transactions(),
            ):
                async with conn.transaction():
                    with contextlib.suppress(NetworkInTransaction):  # a handler's retry hides it
                        await client.get("http://content.test/photo")
            assert (await client.get("http://content.test/unguarded")).status_code == 200
    finally:
        await conn.close()
