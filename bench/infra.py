"""Real Postgres and Kafka for benchmarks: the addresses in the environment, else local processes."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cityhall.events.localpg import LocalPostgres, free_port
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


@contextmanager
def line_emulator() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The LINE emulator in its own process with LINE's default rate limits, keeping counters only
    (no per-user history): its URL and its process."""
    port = free_port()
    env = {**os.environ, "LINE_EMULATOR_MAX_MESSAGES_PER_USER": "0", "LINE_EMULATOR_RATE_LIMITS": ""}
    emulator = subprocess.Popen(
        [sys.executable, "-m", "cityhall.line_emulator", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdin=subprocess.DEVNULL,
    )
    try:
        yield f"http://127.0.0.1:{port}", emulator
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
