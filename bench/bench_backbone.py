"""The event backbone's throughput, each beside a raw baseline measured in the same run.

    uv run python -m bench.bench_backbone

- append with expected version (8 concurrent writers, one event per append) vs a plain INSERT
- outbox relay to Kafka vs raw aiokafka produce of the same records
- idempotent consumer (inbox + offsets in one transaction) vs raw aiokafka consume
- projection rebuild
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.infra import kafka, postgres
from cityhall.events.bus import Record
from cityhall.events.consumer import IdempotentConsumer
from cityhall.events.db import Connection, Pool, create_pool, migrate
from cityhall.events.envelope import Envelope
from cityhall.events.kafka_bus import KafkaBus
from cityhall.events.projection import ProjectionRunner
from cityhall.events.relay import OutboxRelay
from cityhall.events.store import EventStore, RecordedEvent
from cityhall.events.testing.samples import CounterIncremented

WRITERS = 16


def envelope(i: int, stream: str) -> Envelope:
    return Envelope.wrap(CounterIncremented(by=i), source="/bench", subject=stream)


async def timed(fn: Callable[[], Awaitable[int]]) -> float:
    started = time.perf_counter()
    n = await fn()
    return n / (time.perf_counter() - started)


async def bench_append(
    store: EventStore, pool: Pool, per_writer: int, per_append: int = 1
) -> tuple[float, float]:
    async def append_all() -> int:
        async def writer(w: int) -> None:
            stream = f"bench-{w}-{uuid.uuid4().hex[:6]}"
            for version in range(0, per_writer, per_append):
                await store.append(
                    stream, version, [envelope(version + i, stream) for i in range(per_append)]
                )

        await asyncio.gather(*(writer(w) for w in range(WRITERS)))
        return WRITERS * per_writer

    await pool.execute(
        "DROP TABLE IF EXISTS raw_insert; CREATE TABLE raw_insert (id uuid PRIMARY KEY, stream text, data jsonb)"
    )

    async def raw_all() -> int:
        async def writer(w: int) -> None:
            for i in range(per_writer):
                await pool.execute(
                    "INSERT INTO raw_insert VALUES ($1, $2, $3)", uuid.uuid4(), f"s{w}", {"by": i}
                )

        await asyncio.gather(*(writer(w) for w in range(WRITERS)))
        return WRITERS * per_writer

    return await timed(append_all), await timed(raw_all)


async def bench_relay(store: EventStore, bus: KafkaBus, bootstrap: str) -> tuple[float, float, int]:
    total = await store.pool.fetchval("SELECT count(*) FROM events")
    relay = OutboxRelay(store, bus, batch_size=1000)

    async def relay_all() -> int:
        while await relay.publish_pending():
            pass
        return int(total)

    events = await store.read_all(limit=total)
    records = [Record.of("bench.raw", e.stream, e.envelope) for e in events]

    async def raw_all() -> int:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", linger_ms=5
        )
        await producer.start()
        try:
            futures = [
                await producer.send("bench.raw", r.value, key=r.key.encode(), headers=list(r.headers))
                for r in records
            ]
            await asyncio.gather(*futures)
        finally:
            await producer.stop()
        return len(records)

    await bus.ensure_topics(["bench.raw"])
    return await timed(relay_all), await timed(raw_all), int(total)


async def bench_consume(
    pool: Pool, bus: KafkaBus, bootstrap: str, total: int, *, batched: bool
) -> tuple[float, float]:
    await pool.execute("DROP TABLE IF EXISTS consumed; CREATE TABLE consumed (event_id uuid PRIMARY KEY)")

    async def handler(env: Envelope, conn: Connection) -> None:
        await conn.execute("INSERT INTO consumed VALUES ($1)", env.id)

    async def consume_all() -> int:
        consumer = IdempotentConsumer(
            f"bench-consumer-{batched}", ["events.testing"], handler, bus=bus, pool=pool, batched=batched
        )
        task = asyncio.create_task(consumer.run())
        while consumer.handled < total:
            await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return total

    async def raw_all() -> int:
        raw = AIOKafkaConsumer(
            "events.testing",
            bootstrap_servers=bootstrap,
            group_id=f"bench-raw-{batched}",
            auto_offset_reset="earliest",
        )
        await raw.start()
        seen = 0
        try:
            while seen < total:
                batch = await raw.getmany(timeout_ms=1000, max_records=500)
                seen += sum(len(v) for v in batch.values())
        finally:
            await raw.stop()
        return seen

    return await timed(consume_all), await timed(raw_all)


class Totals:
    name = "bench_totals"

    async def create(self, conn: Connection, table: str) -> None:
        await conn.execute(f'CREATE TABLE "{table}" (stream text PRIMARY KEY, total bigint NOT NULL)')

    async def apply(self, conn: Connection, table: str, events: Sequence[RecordedEvent]) -> None:
        sums: dict[str, int] = {}
        for e in events:
            sums[e.stream] = sums.get(e.stream, 0) + e.envelope.data["by"]
        await conn.execute(
            f"""INSERT INTO "{table}" (stream, total) SELECT * FROM unnest($1::text[], $2::bigint[])
                ON CONFLICT (stream) DO UPDATE SET total = "{table}".total + excluded.total""",
            list(sums),
            list(sums.values()),
        )


async def main() -> None:
    with postgres() as dsn, kafka() as bootstrap:
        pool = await create_pool(dsn, "bench", max_size=WRITERS + 4)
        await migrate(pool, ["cityhall.events"])
        store = EventStore(pool)
        bus = KafkaBus(bootstrap)
        await bus.start()
        try:
            for per_append in (1, 10):
                append_rate, insert_rate = await bench_append(store, pool, 1000, per_append)
                print(
                    f"append with expected version, {per_append} event(s) per append, {WRITERS} writers:"
                    f" {append_rate:8.0f} events/s | plain single-row INSERT {insert_rate:8.0f}/s"
                    f" | ratio {append_rate / insert_rate:.2f}",
                    flush=True,
                )
            # More events for the read-side benchmarks, appended in batches.
            for b in range(40):
                stream = f"bulk-{b}"
                await store.append(stream, 0, [envelope(i, stream) for i in range(1000)])
            relay_rate, produce_rate, total = await bench_relay(store, bus, bootstrap)
            print(
                f"relay to Kafka: {relay_rate:8.0f} events/s | raw aiokafka produce {produce_rate:8.0f}/s"
                f" | ratio {relay_rate / produce_rate:.2f} ({total} events)"
            )
            for batched in (False, True):
                consume_rate, raw_consume = await bench_consume(pool, bus, bootstrap, total, batched=batched)
                mode = "a transaction per batch" if batched else "a transaction per message"
                print(
                    f"consumer with inbox, {mode}: {consume_rate:8.0f} events/s"
                    f" | raw aiokafka consume {raw_consume:8.0f}/s | ratio {consume_rate / raw_consume:.2f}",
                    flush=True,
                )
            runner = ProjectionRunner(store, Totals(), batch_size=2000)
            await runner.ensure()
            rebuild_rate = await timed(runner.rebuild)
            print(f"projection rebuild: {rebuild_rate:8.0f} events/s ({total} events)")
        finally:
            await bus.stop()
            await pool.close()


if __name__ == "__main__":
    asyncio.run(main())
