"""The gateway as the runtime composes it (`cityhall.runtime.testing.compose`: System, FastAPI
instrumentation) on the EmbeddedBus, in a fresh database, driven over ASGI; published intents are
read back from the bus's log."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from cityhall.events.bus import Message, PublishError, Record
from cityhall.events.embedded_bus import EmbeddedBus
from cityhall.events.envelope import Envelope
from cityhall.gateway.app import build
from cityhall.gateway.declared import DOMAINS
from cityhall.gateway.spec import service
from cityhall.gateway.testing import WebhookSchemas, signed
from cityhall.line.netguard import network_outside_transactions  # noqa: F401 (autouse)
from cityhall.runtime.service import Settings
from cityhall.runtime.system import System
from cityhall.runtime.testing import compose

SECRET = "gateway-test-channel-secret"


class GatedBus(EmbeddedBus):
    """An EmbeddedBus that acknowledges nothing while its gate is closed (a stalled broker)."""

    def __init__(self, dsn: str) -> None:
        super().__init__(dsn)
        self.gate = asyncio.Event()
        self.gate.set()

    async def publish(self, records: Sequence[Record], *, timeout: float = 10.0) -> None:
        try:
            await asyncio.wait_for(self.gate.wait(), timeout)
        except TimeoutError:
            raise PublishError("the broker did not acknowledge") from None
        await super().publish(records, timeout=timeout)


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class Gateway:
    system: System
    client: httpx.AsyncClient
    bus: GatedBus
    clock: Clock

    @property
    def pool(self) -> Any:
        return self.system.services[0].context.pool

    async def post(self, payload: dict[str, Any] | bytes, *, secret: str = SECRET) -> httpx.Response:
        body, headers = signed(payload, secret)
        return await self.client.post("/callback", content=body, headers=headers)

    async def published(self, topic_prefix: str = "intents.") -> list[tuple[str, str, Envelope]]:
        """(topic, key, envelope) of every record on the bus whose topic starts with the prefix."""
        rows = await self.bus.pool.fetch(
            """SELECT "offset", topic, key, value, headers FROM messages
               WHERE starts_with(topic, $1) ORDER BY "offset" """,
            topic_prefix,
        )
        out = []
        for r in rows:
            message = Message(
                topic=r["topic"],
                partition=0,
                offset=r["offset"],
                key=r["key"],
                value=r["value"],
                headers=tuple((k, v.encode("latin-1")) for k, v in r["headers"]),
            )
            out.append((message.topic, message.key, message.envelope()))
        return out

    async def stored_intents(self) -> int:
        count: int = await self.pool.fetchval("SELECT count(*) FROM events WHERE category = 'intent'")
        return count


@contextlib.asynccontextmanager
async def running_gateway(database: str, served: Sequence[str]) -> AsyncIterator[Gateway]:
    clock = Clock()
    spec = replace(service, build=functools.partial(build, clock=clock))
    bus = GatedBus(database)
    settings = Settings(database_url=database, line_channel_secret=SECRET, served_domains=tuple(served))
    async with compose([spec], settings, database, bus=bus, mode="distributed", serve=False) as composed:
        transport = httpx.ASGITransport(app=composed.system.asgi())
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            try:
                yield Gateway(composed.system, client, bus, clock)
            finally:
                bus.gate.set()


@pytest.fixture
async def gateway(fresh_database: str) -> AsyncIterator[Gateway]:
    """A gateway as if every domain's service ran: it routes and answers nothing itself."""
    async with running_gateway(fresh_database, DOMAINS) as gateway:
        yield gateway


@pytest.fixture
async def front_desk(fresh_database: str) -> AsyncIterator[Gateway]:
    """A gateway for today's services (notify and certificates): it answers the other domains."""
    async with running_gateway(fresh_database, ("notify", "certificates")) as gateway:
        yield gateway


@pytest.fixture(scope="session")
def schemas() -> WebhookSchemas:
    return WebhookSchemas()
