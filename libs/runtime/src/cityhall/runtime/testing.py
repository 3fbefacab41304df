"""Test support: services composed exactly as the runtime composes them, through `System`.

    settings = serving_settings(tmp_path, line_api_url=emulator.url, line_channel_access_token="t")
    async with compose([certificates, notify], settings, fresh_database) as composed:
        client = composed.http()
        await composed.publish(envelope)
        runner = composed.service("certificates").projections["certificate_requests"]

The services share one EmbeddedBus and one test database (a schema each, as in the embedded run),
their app is served on `settings.port` (a free port: services call each other and the LINE
emulator over HTTP), and their background loops run. A test that
needs a started service's own objects builds it with a spec of its own (`dataclasses.replace(
spec, build=...)`) that keeps what its `start` returned.

Only tests import this module; it imports httpx, a dev dependency of every test suite, lazily.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn

from cityhall.events.bus import Bus, Record
from cityhall.events.embedded_bus import EmbeddedBus
from cityhall.events.envelope import Envelope
from cityhall.events.localpg import free_port
from cityhall.events.testing import wait_for
from cityhall.runtime.service import Mode, ServiceSpec, Settings
from cityhall.runtime.system import StartedService, System

if TYPE_CHECKING:
    import httpx

STOP_TIMEOUT = 30.0


def serving_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a composed test system: a free port, its public URL, a data directory."""
    port = free_port()
    values: dict[str, Any] = {"port": port, "public_url": f"http://127.0.0.1:{port}", "data_dir": data_dir}
    return Settings(**(values | overrides))


@dataclass
class Composed:
    """A started `System` and what a test reaches it with."""

    system: System
    url: str
    """Where the composed app is served; "" when it is not."""
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    @property
    def bus(self) -> Bus:
        return self.system.bus

    def service(self, name: str) -> StartedService:
        return self.system.service(name)

    def http(self, **options: Any) -> httpx.AsyncClient:
        """A client of the served app, closed with the system."""
        import httpx

        defaults: dict[str, Any] = {"base_url": self.url, "timeout": 20, "follow_redirects": False}
        client = httpx.AsyncClient(**(defaults | options))
        self.clients.append(client)
        return client

    async def publish(self, *envelopes: Envelope) -> None:
        """Put envelopes on the bus, as the service that owns their topic would."""
        records = []
        for envelope in envelopes:
            if envelope.topic is None or envelope.key is None:
                raise ValueError(f"envelope {envelope.type} has no topic or key to publish on")
            records.append(Record.of(envelope.topic, envelope.key, envelope))
        await self.system.bus.publish(records)


@contextlib.asynccontextmanager
async def compose(
    specs: Sequence[ServiceSpec],
    settings: Settings,
    dsn: str,
    *,
    bus: Bus | None = None,
    mode: Mode = "embedded",
    serve: bool = True,
    background: bool = True,
) -> AsyncIterator[Composed]:
    """The services of `specs` started by `System` on `dsn` (and by default an EmbeddedBus on it),
    served on `settings.port` unless `serve` is False; stopped, clients closed, on exit.

    `background=False` leaves the background loops to the test: `composed.system.run_background(
    without=[...])` runs all but the ones it runs itself, or a step of them.
    """
    system = System(settings, mode, bus or EmbeddedBus(dsn, poll_interval=0.2), dsn)
    composed = Composed(system, settings.public_url if serve else "")
    server: uvicorn.Server | None = None
    serving: asyncio.Task[None] | None = None
    try:
        await system.start(specs)
        if background:
            system.run_background()
        if serve:
            server, serving = await _serve(system, settings.port)
        yield composed
    finally:
        for client in composed.clients:
            await client.aclose()
        if server is not None and serving is not None:
            server.should_exit = True
            await asyncio.wait_for(serving, STOP_TIMEOUT)
        try:
            await asyncio.wait_for(system.stop(), STOP_TIMEOUT)
        except TimeoutError:
            tasks = "\n".join(repr(t) for t in asyncio.all_tasks())
            raise AssertionError(
                f"the system did not stop within {STOP_TIMEOUT} s; tasks:\n{tasks}"
            ) from None


async def _serve(system: System, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    config = uvicorn.Config(
        system.asgi(),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await wait_for(lambda: server.started or task.done(), timeout=10, message="the test server listens")
    if task.done():
        task.result()
    return server, task
