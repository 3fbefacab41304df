"""One stalled key: how the idempotent consumer serves every other key, sequential vs concurrent.

    uv run python -m bench.bench_consumer

The handler stands for a service's: an awaited call of WORK seconds, then a write, in the
consumer's transaction. One key's first message stalls for STALL seconds (LINE's content API
not answering). Each case runs on its own Kafka topic (4 partitions):
- steady load: RATE messages/s over DURATION s from many keys; other keys' p50/p99 from
  publish to handled, with and without the stalled key;
- throughput: a backlog of BACKLOG messages drained, with the stalled key among them.
Concurrency 1 is what the consumer did before (one message at a time for all partitions).
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid

from bench.infra import kafka, postgres
from cityhall.events.bus import Record
from cityhall.events.consumer import IdempotentConsumer
from cityhall.events.db import Connection, Pool, create_pool, migrate
from cityhall.events.envelope import Envelope
from cityhall.events.kafka_bus import KafkaBus
from cityhall.events.testing.samples import CounterIncremented

WORK = 0.005
STALL = 5.0
RATE = 100
DURATION = 8.0
KEYS = 200
BACKLOG = 1500
STALLED = "stalled-resident"


class Run:
    """One consumer on one fresh topic, recording when each message was published and handled."""

    def __init__(self, pool: Pool, bus: KafkaBus, concurrency: int, *, stall: bool) -> None:
        self.pool, self.bus, self.concurrency, self.stall = pool, bus, concurrency, stall
        self.topic = f"bench.consumer.{uuid.uuid4().hex[:8]}"
        self.published: dict[uuid.UUID, float] = {}
        self.handled: dict[uuid.UUID, float] = {}
        self.consumer = IdempotentConsumer(
            f"bench-{self.topic}", [self.topic], self.handle, bus=bus, pool=pool, concurrency=concurrency
        )

    async def handle(self, env: Envelope, conn: Connection) -> None:
        if self.stall and env.subject == STALLED and env.data["by"] == 0:
            await asyncio.sleep(STALL)
        else:
            await asyncio.sleep(WORK)
        await conn.execute("INSERT INTO consumed VALUES ($1)", env.id)
        if env.subject != STALLED:
            self.handled[env.id] = time.perf_counter()

    async def publish(self, key: str, n: int) -> None:
        env = Envelope.wrap(CounterIncremented(by=n), source="/bench", subject=key)
        self.published[env.id] = time.perf_counter()
        await self.bus.publish([Record.of(self.topic, key, env)])

    async def until_handled(self, others: int) -> None:
        while len(self.handled) < others:
            await asyncio.sleep(0.01)

    def latencies_ms(self) -> list[float]:
        return sorted((self.handled[i] - self.published[i]) * 1000 for i in self.handled)


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


async def steady(pool: Pool, bus: KafkaBus, concurrency: int, *, stall: bool) -> str:
    run = Run(pool, bus, concurrency, stall=stall)
    await bus.ensure_topics([run.topic])
    task = asyncio.create_task(run.consumer.run())
    started = time.perf_counter()
    total = int(RATE * DURATION)
    for i in range(total):
        if i == RATE:  # one second in, the stalled resident sends the photo
            await run.publish(STALLED, 0)
        await run.publish(f"resident-{i % KEYS}", i)
        await asyncio.sleep(max(0.0, started + (i + 1) / RATE - time.perf_counter()))
    await asyncio.wait_for(run.until_handled(total), timeout=STALL * 4 + DURATION)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    ms = run.latencies_ms()
    return (
        f"steady {RATE}/s for {DURATION:.0f} s, concurrency {concurrency:2d},"
        f" {'one key stalled ' if stall else 'no stall        '}{STALL:.0f} s:"
        f" other keys p50 {p(ms, 50):7.1f} ms, p99 {p(ms, 99):7.1f} ms, max {ms[-1]:7.1f} ms"
    )


async def backlog(pool: Pool, bus: KafkaBus, concurrency: int) -> str:
    run = Run(pool, bus, concurrency, stall=True)
    await bus.ensure_topics([run.topic])
    await run.publish(STALLED, 0)
    await asyncio.gather(*(run.publish(f"resident-{i % KEYS}", i) for i in range(BACKLOG)))
    started = time.perf_counter()
    task = asyncio.create_task(run.consumer.run())
    await asyncio.wait_for(run.until_handled(BACKLOG), timeout=60)
    elapsed = time.perf_counter() - started
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return (
        f"backlog of {BACKLOG} with one key stalled {STALL:.0f} s, concurrency {concurrency:2d}:"
        f" {BACKLOG / elapsed:7.0f} messages/s for the other keys ({elapsed:.1f} s)"
    )


async def main() -> None:
    with postgres() as dsn, kafka() as bootstrap:
        pool = await create_pool(dsn, "bench", max_size=24)
        await migrate(pool, ["cityhall.events"])
        await pool.execute("DROP TABLE IF EXISTS consumed; CREATE TABLE consumed (event_id uuid PRIMARY KEY)")
        bus = KafkaBus(bootstrap)
        await bus.start()
        try:
            for concurrency, stall in ((1, False), (1, True), (16, False), (16, True)):
                print(await steady(pool, bus, concurrency, stall=stall), flush=True)
            for concurrency in (1, 16):
                print(await backlog(pool, bus, concurrency), flush=True)
        finally:
            await bus.stop()
            await pool.close()


if __name__ == "__main__":
    asyncio.run(main())
