"""Real Postgres and Kafka for benchmarks: the addresses in the environment, else local processes."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cityhall.events.localpg import LocalPostgres
from cityhall.events.testing.kafka import LocalKafka


@contextmanager
def postgres() -> Iterator[str]:
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    with tempfile.TemporaryDirectory(prefix="bench-pg-") as tmp:
        # Durable settings (fsync on): benchmarks measure what production would see.
        server = LocalPostgres(Path(tmp) / "pg")
        try:
            yield server.start()
        finally:
            server.stop()


@contextmanager
def kafka() -> Iterator[str]:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield os.environ["KAFKA_BOOTSTRAP_SERVERS"]
        return
    with tempfile.TemporaryDirectory(prefix="bench-kafka-") as tmp:
        broker = LocalKafka(Path(tmp))
        try:
            yield broker.start()
        finally:
            broker.stop()
