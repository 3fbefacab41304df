"""A process for fault tests to SIGKILL: a consumer recording effects, or an outbox relay.

python -m cityhall.events.testing.fault_worker consume DSN BOOTSTRAP TOPIC
python -m cityhall.events.testing.fault_worker relay DSN BOOTSTRAP
"""

from __future__ import annotations

import asyncio
import sys

from cityhall.events.consumer import IdempotentConsumer
from cityhall.events.db import Connection, create_pool, migrate
from cityhall.events.envelope import Envelope
from cityhall.events.kafka_bus import KafkaBus
from cityhall.events.relay import OutboxRelay
from cityhall.events.store import EventStore

SCHEMA = "svc_fault"
EFFECTS_SQL = """CREATE TABLE IF NOT EXISTS effects (
    n serial PRIMARY KEY, event_id uuid NOT NULL, seq int NOT NULL, worker_pid int NOT NULL)"""


async def record_effect(env: Envelope, conn: Connection) -> None:
    await conn.execute(
        "INSERT INTO effects (event_id, seq, worker_pid) VALUES ($1, $2, pg_backend_pid())",
        env.id,
        env.data["by"],
    )
    await asyncio.sleep(0.002)  # widen the window in which a SIGKILL lands mid-batch


async def main(mode: str, dsn: str, bootstrap: str, topic: str | None) -> None:
    pool = await create_pool(dsn, SCHEMA)
    await migrate(pool, ["cityhall.events"])
    await pool.execute(EFFECTS_SQL)
    bus = KafkaBus(bootstrap, topic_partitions=3)
    await bus.start()
    print("ready", flush=True)
    if mode == "consume":
        assert topic is not None
        await IdempotentConsumer("fault-consumer", [topic], record_effect, bus=bus, pool=pool).run()
    else:
        await OutboxRelay(EventStore(pool), bus, batch_size=100, poll_interval=0.2).run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None))
