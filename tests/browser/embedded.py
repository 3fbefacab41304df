"""`cityhall run` as a subprocess for the browser tests (and `make run` in a fresh clone for
tests/repo): its own Postgres in a temporary data directory, a free port, stopped with Ctrl-C
(SIGINT) as a person would."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import signal
import subprocess
import sys
import termios
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx

from cityhall.events.localpg import free_port

STARTUP_TIMEOUT = 180.0
# Variables that would point the run at a real channel, another database or Kafka.
FOREIGN = (
    "DATABASE_URL",
    "KAFKA_BOOTSTRAP_SERVERS",
    "LINE_CHANNEL_SECRET",
    "LINE_CHANNEL_ACCESS_TOKEN",
    "LINE_API_URL",
    "CITYHALL_PROFILE",
    "CITYHALL_PAYMENTS_URL",
    "CITYHALL_PUBLIC_URL",
    "CITYHALL_SIMULATOR_CALLBACK_URL",
    "LINE_OPENAPI_DIR",
)


@contextlib.contextmanager
def embedded_run(
    data_dir: Path,
    log: Path,
    *,
    command: Sequence[str] = (),
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    startup_timeout: float = STARTUP_TIMEOUT,
) -> Iterator[str]:
    """The run's base URL while it is up; its output goes to `log`.

    `command` defaults to this environment's `cityhall run`. It runs in a session of its own
    with a pseudo-terminal, and stops when Ctrl-C is typed there: the terminal sends SIGINT to
    the whole foreground group, and `make run` is make, uv and cityhall (uv passes a SIGINT on
    to its child only when no terminal did).
    """
    port = free_port()
    env = {k: v for k, v in (os.environ if env is None else env).items() if k not in FOREIGN}
    env |= {"CITYHALL_DATA_DIR": str(data_dir), "CITYHALL_PORT": str(port)}
    argv = list(command) or [str(Path(sys.executable).with_name("cityhall")), "run"]
    terminal, tty = pty.openpty()
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=tty,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_take_terminal,
        )
    os.close(tty)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process, log, startup_timeout)
        yield url
    finally:
        os.write(terminal, CTRL_C)
        stopped = True
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            stopped = False
        with contextlib.suppress(ProcessLookupError):  # anything of the group still there
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        os.close(terminal)
        # A clean stop stops its own Postgres, which removes its pid file once its shutdown
        # checkpoint is written: wait for that, briefly.
        pid_file = data_dir / "postgres" / "postmaster.pid"
        deadline = time.monotonic() + 15
        while pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        postgres_left = pid_file.exists()
        server_log = data_dir / "postgres" / "postgres.log"
        server_tail = server_log.read_text()[-1500:] if server_log.exists() else ""
        stop_orphaned_postgres(data_dir / "postgres")
        assert stopped, f"{' '.join(argv)} did not stop within 60 s of Ctrl-C:\n{log.read_text()[-4000:]}"
        assert not postgres_left, (
            f"{' '.join(argv)} left its Postgres running (exit status {process.returncode}):\n"
            f"{log.read_text()[-4000:]}\n--- its server's log ---\n{server_tail}"
        )


CTRL_C = b"\x03"


def _take_terminal() -> None:
    """In the child, after setsid: its stdin, the pseudo-terminal, becomes its controlling terminal."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def wait_ready(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = STARTUP_TIMEOUT
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"cityhall run exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise AssertionError(f"cityhall run not ready in {timeout}s:\n{log.read_text()[-4000:]}")


def stop_orphaned_postgres(data_dir: Path) -> None:
    """A run that had to be killed leaves its Postgres (pg_ctl detached it) up: stop it by pid."""
    with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
        pid = int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        # Only that server: a stale pid file may name a process that is something else now.
        if str(data_dir) in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
            os.kill(pid, signal.SIGQUIT)
