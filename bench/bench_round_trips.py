"""The round trips the gateway's write batch and the relay saved, each beside the old form.

    uv run python -m bench.bench_round_trips

- write transaction of 7 intents: `conn.transaction()` + `SET LOCAL` vs `unflushed_transaction`
- relay step: `read_all` then `save_checkpoint` vs `save_checkpoint_and_read_all`

One writer and one relay alternate, with no other load; three rounds of 400 of each.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

from bench.infra import postgres
from cityhall.events.db import create_pool, migrate, unflushed_transaction
from cityhall.events.envelope import Envelope
from cityhall.events.localpg import create_database
from cityhall.events.store import START, EventStore, save_checkpoint
from cityhall.events.testing.samples import CounterIncremented

ROUNDS, STEPS, INTENTS = 3, 400, 7


async def main(dsn: str) -> None:
    pool = await create_pool(dsn, "bench_round_trips", max_size=4)
    await migrate(pool, ["cityhall.events"])
    store = EventStore(pool)
    written = 0

    def intents() -> list[Envelope]:
        nonlocal written
        written += INTENTS
        return [
            Envelope.wrap(CounterIncremented(by=1), source="/bench", subject=f"intent-{written + i}")
            for i in range(INTENTS)
        ]

    async def write_before() -> None:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SET LOCAL synchronous_commit = off")
            await store.start_streams(intents(), conn=conn)

    async def write_now() -> None:
        async with pool.acquire() as conn, unflushed_transaction(conn):
            await store.start_streams(intents(), conn=conn)

    position = START
    async with pool.acquire() as relay_conn:
        await relay_conn.execute("SET synchronous_commit = off")

        async def relay_before() -> None:
            nonlocal position
            events = await store.read_all(position, limit=500, conn=relay_conn)
            position = events[-1].position if events else position
            await save_checkpoint(relay_conn, "relay", position, announce="bench_relay")

        async def relay_now() -> None:
            nonlocal position
            events = await store.save_checkpoint_and_read_all(
                "relay", position, limit=500, conn=relay_conn, announce="bench_relay"
            )
            position = events[-1].position if events else position

        arms: dict[str, tuple[Callable[[], Awaitable[None]], Callable[[], Awaitable[None]]]] = {
            "before": (write_before, relay_before),
            "now": (write_now, relay_now),
        }
        for round_ in range(1, ROUNDS + 1):
            for name, (write, relay) in arms.items():
                writes, relays = [], []
                for _ in range(STEPS):
                    began = time.perf_counter()
                    await write()
                    wrote = time.perf_counter()
                    await relay()
                    writes.append(wrote - began)
                    relays.append(time.perf_counter() - wrote)
                print(
                    f"round {round_} {name:6s}: write p50 {_ms(writes, 50):.2f} p99 {_ms(writes, 99):.2f} ms"
                    f" | relay p50 {_ms(relays, 50):.2f} p99 {_ms(relays, 99):.2f} ms"
                )
    await pool.close()


def _ms(seconds: list[float], p: int) -> float:
    return 1000 * (statistics.median(seconds) if p == 50 else sorted(seconds)[len(seconds) * p // 100])


if __name__ == "__main__":
    with postgres() as admin_dsn:
        asyncio.run(main(create_database(admin_dsn, "bench_round_trips")))
