"""Postgres plumbing: the transaction that does not wait for the WAL flush, and migrations."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import pytest

from cityhall.events.db import (
    MigrationEdited,
    Pool,
    create_pool,
    migrate,
    migration_checksum,
    unflushed_transaction,
)
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


Packages = Callable[[str, dict[str, str]], str]


@pytest.fixture
def packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Packages:
    """Writes a throwaway importable package with `migrations/*.sql` files (again: edits it)."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(name: str, files: dict[str, str]) -> str:
        folder = tmp_path / name / "migrations"
        folder.mkdir(parents=True, exist_ok=True)
        (tmp_path / name / "__init__.py").write_text("")
        for file, sql in files.items():
            (folder / file).write_text(sql)
        return name

    return write


@pytest.fixture
async def bare_pool(fresh_database: str) -> AsyncIterator[Pool]:
    pool = await create_pool(fresh_database, "svc_mig")
    yield pool
    await pool.close()


WIDGETS = "CREATE TABLE widgets (id int)"
EDITED = "CREATE TABLE widgets (id bigint)"


async def test_migrate_applies_once_and_records_each_checksum(bare_pool: Pool, packages: Packages) -> None:
    package = packages("mig_once", {"001_widgets.sql": WIDGETS})
    assert await migrate(bare_pool, [package]) == ["mig_once/001_widgets.sql"]
    assert await migrate(bare_pool, [package]) == []
    rows = await bare_pool.fetch("SELECT name, checksum FROM schema_migrations")
    assert [(r["name"], r["checksum"]) for r in rows] == [("001_widgets.sql", migration_checksum(WIDGETS))]


async def test_migrate_refuses_an_applied_migration_that_was_edited_and_applies_nothing(
    bare_pool: Pool, packages: Packages
) -> None:
    package = packages("mig_edit", {"001_widgets.sql": WIDGETS})
    await migrate(bare_pool, [package])
    packages(package, {"001_widgets.sql": EDITED, "002_gadgets.sql": "CREATE TABLE gadgets ()"})
    with pytest.raises(MigrationEdited, match=r"mig_edit/migrations/001_widgets\.sql"):
        await migrate(bare_pool, [package])
    assert await bare_pool.fetchval("SELECT to_regclass('gadgets')") is None  # nothing half-applied


async def test_migrate_records_checksums_for_a_database_from_before_checksums(
    bare_pool: Pool, packages: Packages
) -> None:
    package = packages("mig_old", {"001_widgets.sql": WIDGETS})
    # The table as the runner created it before it recorded checksums, with one row applied.
    await bare_pool.execute(
        """CREATE TABLE schema_migrations (
               package text NOT NULL, name text NOT NULL,
               applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (package, name));
           CREATE TABLE widgets (id int);
           INSERT INTO schema_migrations (package, name) VALUES ('mig_old', '001_widgets.sql')"""
    )
    assert await migrate(bare_pool, [package]) == []
    assert await bare_pool.fetchval("SELECT checksum FROM schema_migrations") == migration_checksum(WIDGETS)
    packages(package, {"001_widgets.sql": EDITED})
    with pytest.raises(MigrationEdited):
        await migrate(bare_pool, [package])
