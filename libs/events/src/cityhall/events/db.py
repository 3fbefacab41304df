"""Postgres plumbing shared by every service: pools bound to a schema, and migrations.

In the embedded run all services share one database and each keeps its own schema;
in the distributed run each service has its own database (`DATABASE_URL`) and uses
its schema there. Either way a service's pool sees only its schema.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from importlib import resources
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg
import orjson

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Pool: TypeAlias = asyncpg.Pool[asyncpg.Record]
    # A connection of our own or one borrowed from a pool: both serve a handler.
    Connection: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
else:
    Pool = asyncpg.Pool
    Connection = asyncpg.Connection

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def check_schema_name(schema: str) -> str:
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"invalid schema name {schema!r}")
    return schema


def _json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


async def _init_connection(conn: asyncpg.Connection) -> None:
    # orjson: event payloads are encoded on every append and decoded on every read.
    await conn.set_type_codec("jsonb", encoder=_json_text, decoder=orjson.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=_json_text, decoder=orjson.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Release without asyncpg's reset query (a round trip per release on a hot path).

    asyncpg still ends open transactions and drops listener callbacks; our code removes
    its own LISTENs and advisory locks before it releases a connection.
    """


async def create_pool(dsn: str, schema: str, *, min_size: int = 1, max_size: int = 10) -> Pool:
    """A pool whose connections use `schema` (created if missing) and decode JSON to Python."""
    check_schema_name(schema)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    except asyncpg.UniqueViolationError:  # two processes created it at once
        pass
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        server_settings={"search_path": schema, "application_name": f"cityhall-{schema}"},
    )
    assert pool is not None
    return pool


@asynccontextmanager
async def unflushed_transaction(conn: Connection) -> AsyncIterator[None]:
    """A transaction whose commit does not wait for the WAL flush (`synchronous_commit = off`).

    For writes that something else makes safe, where a crash may lose the last few commits.
    Begun in one round trip (`conn.transaction()` and a `SET LOCAL` would take two). A
    connection released in the middle is rolled back by asyncpg.
    """
    await conn.execute("BEGIN; SET LOCAL synchronous_commit = off")
    try:
        yield
    except BaseException:
        with suppress(Exception):  # a broken connection: the error that broke it is the one to raise
            await conn.execute("ROLLBACK")
        raise
    await conn.execute("COMMIT")


def migration_files(package: str) -> list[tuple[str, str]]:
    """(name, sql) of the `.sql` files in `<package>.migrations`, in name order."""
    folder = resources.files(package).joinpath("migrations")
    files = [f for f in folder.iterdir() if f.name.endswith(".sql")]
    return [(f.name, f.read_text(encoding="utf-8")) for f in sorted(files, key=lambda f: f.name)]


class MigrationEdited(RuntimeError):
    """An applied migration's file changed since it ran: the database no longer matches the code."""


def migration_checksum(sql: str) -> str:
    return hashlib.sha256(sql.encode()).hexdigest()


async def migrate(pool: Pool, packages: Sequence[str]) -> list[str]:
    """Apply each package's migrations once, in order; safe when several processes start together.

    Each applied migration's checksum is recorded; a file edited after it was applied raises
    `MigrationEdited` (naming the file) before anything runs. Rows from before checksums were
    recorded get the current file's checksum on the first run.
    """
    applied: list[str] = []
    async with pool.acquire() as conn, conn.transaction():
        schema = await conn.fetchval("SELECT current_schema()")
        # One migrator per schema at a time.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"migrate:{schema}")
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   package text NOT NULL, name text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (package, name))"""
        )
        await conn.execute("ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text")
        done: dict[tuple[str, str], str | None] = {
            (r["package"], r["name"]): r["checksum"]
            for r in await conn.fetch("SELECT package, name, checksum FROM schema_migrations")
        }
        pending: list[tuple[str, str, str, str]] = []
        for package in packages:
            for name, sql in migration_files(package):
                checksum = migration_checksum(sql)
                if (package, name) not in done:
                    pending.append((package, name, sql, checksum))
                elif done[(package, name)] is None:
                    await conn.execute(
                        "UPDATE schema_migrations SET checksum = $3 WHERE package = $1 AND name = $2",
                        package,
                        name,
                        checksum,
                    )
                elif done[(package, name)] != checksum:
                    raise MigrationEdited(
                        f"migration {package}/migrations/{name} was edited after it was applied "
                        f"to schema {schema!r}; add a new migration instead of changing an applied one"
                    )
        for package, name, sql, checksum in pending:
            await conn.execute(sql)
            await conn.execute(
                "INSERT INTO schema_migrations (package, name, checksum) VALUES ($1, $2, $3)",
                package,
                name,
                checksum,
            )
            applied.append(f"{package}/{name}")
    return applied


def records_to_dicts(rows: Sequence[Any]) -> list[dict[str, Any]]:
    return [dict(r) for r in rows]
