"""Processes for the integration tests: each service as its own OS process, as in production.

- `ServiceProcess`: one process (a service through `cityhall service <name>`, or the LINE
  emulator), with its output in a log file that a failure shows. `start` waits until it is
  ready, `kill` is SIGKILL, `restart` kills and starts it again, `stop` ends it politely.
- `Deployment`: the LINE emulator, then the services, each with its own database on the test
  Postgres server and all on the test Kafka broker.
- `LineClient`: plays LINE's side towards the gateway (signed webhooks) and the residents'
  side at the emulator (reply tokens, what arrived).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import asyncpg
import httpx

from cityhall.events.localpg import create_database, free_port
from cityhall.gateway import testing as line
from cityhall.gateway.testing import Webhooks
from cityhall.line.testing import Resident
from cityhall.runtime.service import installed, load
from cityhall.web import SESSION_COOKIE, StaffAuth, StaffUser, WebConfig

CHANNEL_SECRET = "integration-channel-secret"
SESSION_SECRET = "integration-session-secret-" + "s" * 24
"""Staff sessions are signed with one secret shared by every service with staff pages."""
ACCESS_TOKEN = "integration-channel-access-token"


def cityhall_command() -> list[str]:
    """The `cityhall` console script of this environment (what `uv run cityhall` runs, minus uv's
    start-up), else the module run with this interpreter."""
    script = Path(sys.executable).with_name("cityhall")
    if script.is_file():
        return [str(script)]
    found = shutil.which("cityhall")
    if found:
        return [found]
    return [sys.executable, "-c", "from cityhall.runtime.cli import main; main()"]


class ProcessFailed(AssertionError):
    pass


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the test process dies, so no service outlives a
    killed test run (Linux; elsewhere a no-op)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class ServiceProcess:
    """One OS process listening on `port`; ready when `GET ready_path` answers 200."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        port: int,
        env: Mapping[str, str],
        log_dir: Path,
        ready_path: str = "/readyz",
    ) -> None:
        self.name = name
        self.argv = argv
        self.port = port
        self.env = {**os.environ, **env}
        self.log_file = log_dir / f"{name}.log"
        self.ready_path = ready_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 120.0) -> None:
        """Start the process and wait until it is ready; `ProcessFailed` with its log otherwise."""
        self.launch()
        self.wait_ready(timeout)

    def launch(self) -> None:
        """Start the process without waiting (`wait_ready` waits)."""
        if self.running:
            raise RuntimeError(f"{self.name} is running already")
        self.starts += 1
        self._log = self.log_file.open("ab")
        self._log.write(f"\n===== start #{self.starts}: {' '.join(self.argv)}\n".encode())
        self._log.flush()
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        with httpx.Client(timeout=2.0) as client:
            while True:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise ProcessFailed(f"{self.name} exited with {self.proc.returncode}\n{self.log_tail()}")
                try:
                    response = client.get(f"{self.url}{self.ready_path}")
                    if response.status_code == 200:
                        return
                    last = f"{response.status_code} {response.text[:200]}"
                except httpx.HTTPError as exc:
                    last = repr(exc)
                if time.monotonic() > deadline:
                    self.kill()
                    raise ProcessFailed(
                        f"{self.name} was not ready within {timeout} s ({last})\n{self.log_tail()}"
                    )
                time.sleep(0.1)  # polling a condition, with a deadline

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)
        self._close_log()

    def restart(self, timeout: float = 120.0) -> None:
        self.kill()
        self.start(timeout)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL if it has not ended within `timeout` seconds."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return f"(no log at {self.log_file})"
        tail = "\n".join(text.splitlines()[-lines:])
        return f"----- last {lines} lines of {self.log_file} -----\n{tail}"


class Deployment:
    """The LINE emulator and some services, each its own process, on the test Postgres and Kafka."""

    def __init__(
        self,
        postgres_dsn: str,
        kafka_bootstrap: str,
        log_dir: Path,
        *,
        emulator_env: Mapping[str, str] | None = None,
    ) -> None:
        """`emulator_env`: the LINE emulator's settings (`LINE_EMULATOR_RATE_LIMITS`, ...;
        tools/line-emulator/README.md) beside the accepted token."""
        self.postgres_dsn = postgres_dsn
        self.kafka_bootstrap = kafka_bootstrap
        self.log_dir = log_dir
        self.run_id = uuid.uuid4().hex[:8]
        port = free_port()
        self.emulator = ServiceProcess(
            "line-emulator",
            [sys.executable, "-m", "cityhall.line_emulator", "--host", "127.0.0.1", "--port", str(port)],
            port=port,
            env={"LINE_EMULATOR_TOKENS": ACCESS_TOKEN, **(emulator_env or {})},
            log_dir=log_dir,
            ready_path="/_inspect/stats",
        )
        self.services: dict[str, ServiceProcess] = {}
        self.databases: dict[str, str] = {}
        # Where the staff portal listens if a test starts it: services with staff pages check
        # sessions there (CITYHALL_STAFF_PORTAL_INTERNAL_URL); without it, they refuse them.
        self.portal_port = free_port()

    def start(self, timeout: float = 180.0) -> None:
        """Start the emulator and every service declared with `service`, all at once.

        The gateway is told the domains the declared services serve (CITYHALL_SERVED_DOMAINS),
        unless the test set them itself, as an operator names them in the gateway's configuration.
        """
        gateway = self.services.get("gateway")
        if gateway is not None and "CITYHALL_SERVED_DOMAINS" not in gateway.env:
            served = sorted({domain for name in self.services for domain in load(name).domains})
            gateway.env["CITYHALL_SERVED_DOMAINS"] = ",".join(served)
        processes = [self.emulator, *self.services.values()]
        for process in processes:
            process.launch()
        for process in processes:
            process.wait_ready(timeout)

    def __enter__(self) -> Deployment:
        try:
            self.start()
        except BaseException:
            self.stop()  # what did start does not outlive a failed start
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def service(self, name: str, env: Mapping[str, str] | None = None) -> ServiceProcess:
        """`cityhall service <name>` with its own new database; not started yet (`start`, or
        `with deployment:`, starts them all and stops them at the end)."""
        if name not in installed():
            raise ProcessFailed(f"service {name} is not installed (run `uv sync --all-packages`)")
        database = f"it_{name.replace('-', '_')}_{self.run_id}"
        dsn = create_database(self.postgres_dsn, database)
        self.databases[name] = dsn
        port = self.portal_port if name == "staff-portal" else free_port()
        process = ServiceProcess(
            name,
            [*cityhall_command(), "service", name],
            port=port,
            env={
                "DATABASE_URL": dsn,
                "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap,
                "CITYHALL_PORT": str(port),
                "CITYHALL_PUBLIC_URL": f"http://127.0.0.1:{port}",
                "LINE_CHANNEL_SECRET": CHANNEL_SECRET,
                "LINE_CHANNEL_ACCESS_TOKEN": ACCESS_TOKEN,
                "LINE_API_URL": self.emulator.url,
                # The emulator's channel: the development profile (payments-sim runs only in it).
                "CITYHALL_PROFILE": "development",
                "CITYHALL_SESSION_SECRET": SESSION_SECRET,
                "CITYHALL_STAFF_PORTAL_INTERNAL_URL": f"http://127.0.0.1:{self.portal_port}/staff",
                "PYTHONUNBUFFERED": "1",
                **(env or {}),
            },
            log_dir=self.log_dir,
        )
        self.services[name] = process
        return process

    async def clerk(self, service: str, user: StaffUser) -> tuple[httpx.AsyncClient, str]:
        """A browser of `user`'s signed in to `service` (the portal knows the account: services
        check a session's epoch there) and its CSRF token."""
        conn = await asyncpg.connect(self.databases["staff-portal"])
        try:
            await conn.execute(
                """INSERT INTO svc_staff_portal.staff_accounts (username, display_name, password_hash, roles)
                   VALUES ($1, $2, 'no password: sessions made by the test', $3) ON CONFLICT DO NOTHING""",
                user.username,
                user.display_name,
                sorted(user.roles),
            )
        finally:
            await conn.close()
        auth = StaffAuth(WebConfig(session_secret=SESSION_SECRET))
        token, session = auth.sessions.issue(user)
        client = httpx.AsyncClient(base_url=self.services[service].url, timeout=30)
        client.cookies.set(SESSION_COOKIE, token)
        return client, auth.sign(f"session:{session.sid}")

    def stop(self) -> None:
        for process in [*self.services.values(), self.emulator]:
            process.stop()

    def logs(self) -> str:
        return "\n".join(p.log_tail(30) for p in [*self.services.values(), self.emulator])


class LineClient:
    """LINE towards the gateway, and the residents at the emulator."""

    def __init__(self, gateway_url: str, emulator_url: str, channel_secret: str = CHANNEL_SECRET) -> None:
        self.gateway = httpx.AsyncClient(base_url=gateway_url, timeout=10.0)
        self.emulator = httpx.AsyncClient(base_url=emulator_url, timeout=30.0)
        self.channel_secret = channel_secret

    def resident(self) -> Resident:
        """A new resident in LINE: signed webhooks to the gateway, messages read at the emulator."""
        return Resident(
            line.user_id(), self.emulator, Webhooks(self.gateway, self.channel_secret), timeout=60
        )

    async def close(self) -> None:
        await self.gateway.aclose()
        await self.emulator.aclose()

    async def post_webhook(self, *events: dict[str, Any], secret: str | None = None) -> httpx.Response:
        body, headers = line.signed(line.webhook(*events), secret or self.channel_secret)
        return await self.gateway.post("/callback", content=body, headers=headers)

    async def add_resident(self, user: str, name: str = "テスト 住民") -> None:
        response = await self.emulator.post("/_inspect/users", json={"userId": user, "displayName": name})
        response.raise_for_status()

    async def issue_reply_token(self, event: dict[str, Any]) -> dict[str, Any]:
        """Tell the emulator about the event's reply token, as LINE knows the tokens it hands out."""
        user = event["source"]["userId"]
        response = await self.emulator.post(
            "/_inspect/reply-tokens", json={"replyToken": event["replyToken"], "userId": user}
        )
        response.raise_for_status()
        return event

    async def messages(self, user: str | None = None) -> list[dict[str, Any]]:
        params = {"to": user} if user is not None else {}
        response = await self.emulator.get("/_inspect/messages", params=params)
        response.raise_for_status()
        messages: list[dict[str, Any]] = response.json()["messages"]
        return messages

    async def stats(self) -> dict[str, Any]:
        response = await self.emulator.get("/_inspect/stats")
        response.raise_for_status()
        stats: dict[str, Any] = response.json()
        return stats
