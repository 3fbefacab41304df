"""certificates on a real Postgres and the EmbeddedBus, with the real LINE emulator, notify delivering
the replies, and the simulated payment provider: composed by the runtime's `System`, as the
embedded run composes them (`cityhall.runtime.testing.compose`).

Residents act by publishing `ResidentIntent`s on `intents.certificates` (what the gateway does);
what they read is what arrived at the emulator (`cityhall.line.testing.Resident`). Staff act over
HTTP with a signed session cookie. The certificates service reads time from a `Clock` the test can
move forward, and sweeps only when a test calls `sweep`.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw

from cityhall.certificates import app as certificates_app
from cityhall.certificates import spec as certificates_spec
from cityhall.certificates.app import Certificates, Options
from cityhall.certificates.events import request_stream
from cityhall.events.backoff import Backoff
from cityhall.events.db import Pool
from cityhall.events.embedded_bus import EmbeddedBus
from cityhall.events.envelope import Envelope, Event
from cityhall.events.store import EventStore
from cityhall.events.testing import wait_for
from cityhall.line.netguard import network_outside_transactions  # noqa: F401 (autouse)
from cityhall.line.testing import (
    Intents,
    Resident,
    content,
    find_postback,
    find_uri,
    new_user,
)
from cityhall.line_emulator.testing import EmulatorServer
from cityhall.notify import app as notify_app
from cityhall.notify import spec as notify_spec
from cityhall.payment_simulator import app as paysim
from cityhall.payment_simulator import spec as paysim_spec
from cityhall.runtime.service import Running, ServiceContext
from cityhall.runtime.testing import Composed, compose, serving_settings
from cityhall.web import SESSION_COOKIE, StaffUser

__all__ = ["Resident", "content", "find_postback", "find_uri"]  # for the tests

TOKEN = "certificates-test-token"

CLERK = StaffUser("cert-clerk", "証明書係 市川", frozenset({"certificates"}))
CLERK2 = StaffUser("cert-clerk2", "証明書係 浦安", frozenset({"certificates"}))
ADMIN = StaffUser("cert-admin", "証明書係長 渋谷", frozenset({"certificates", "certificates-admin"}))
ROADS = StaffUser("roads-clerk", "道路管理課 品川", frozenset({"roads"}))


def licence_photo(kind: str = "JPEG", text: str = "運転免許証") -> bytes:
    """A small picture standing in for the front of an ID document."""
    image = Image.new("RGB", (480, 300), (232, 240, 228))
    draw = ImageDraw.Draw(image)
    draw.rectangle((10, 10, 470, 290), outline=(40, 90, 60), width=4)
    draw.rectangle((330, 70, 450, 230), fill=(180, 190, 200))
    draw.text((30, 30), text.encode("ascii", "replace").decode(), fill=(20, 40, 20))
    out = io.BytesIO()
    image.save(out, format=kind)
    return out.getvalue()


class Clock:
    """Now, plus however far the test moved it."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


@dataclass
class Harness:
    composed: Composed
    line: httpx.AsyncClient
    """The LINE emulator's inspection API."""
    bus: EmbeddedBus
    cert: Certificates
    clock: Clock
    provider: paysim.Provider

    @property
    def url(self) -> str:
        return self.composed.url

    @property
    def pool(self) -> Pool:
        return self.composed.service("certificates").context.require_pool()

    @property
    def store(self) -> EventStore:
        return self.composed.service("certificates").context.require_store()

    @property
    def sim_pool(self) -> Pool:
        return self.composed.service("payments-sim").context.require_pool()

    def resident(self) -> Resident:
        return Resident(new_user(), self.line, Intents(self.publish, "certificates"))

    async def publish(self, *envelopes: Envelope) -> None:
        await self.composed.publish(*envelopes)

    def http(self) -> httpx.AsyncClient:
        return self.composed.http()

    def staff(self, user: StaffUser) -> tuple[httpx.AsyncClient, str]:
        """A browser signed in as `user` (the portal's session cookie) and its CSRF token."""
        token, csrf = self.cert.auth.signed_in(user)
        client = self.http()
        client.cookies.set(SESSION_COOKIE, token)
        return client, csrf

    async def events(self, request_id: uuid.UUID) -> list[Event]:
        return [r.envelope.event() for r in await self.store.read_stream(request_stream(request_id))]

    async def all_events(self, *types: type[Event]) -> list[Envelope]:
        names = {t.TYPE for t in types}
        return [r.envelope for r in await self.store.read_all(limit=100_000) if not names or r.type in names]

    async def request_row(self, request_id: uuid.UUID) -> dict[str, Any] | None:
        row = await self.pool.fetchrow("SELECT * FROM certificate_requests WHERE request_id = $1", request_id)
        return dict(row) if row else None

    async def wait_status(self, request_id: uuid.UUID, status: str, timeout: float = 20) -> dict[str, Any]:
        async def reached() -> bool:
            row = await self.request_row(request_id)
            return row is not None and row["status"] == status

        await wait_for(reached, timeout=timeout, message=f"request {request_id} {status}")
        row = await self.request_row(request_id)
        assert row is not None
        return row

    async def sweep(self) -> None:
        """A sweep as it runs after the time the test clock skipped: the projections it reads
        from have applied every event recorded so far."""
        for runner in self.composed.service("certificates").projections.values():
            await runner.catch_up()
        await self.cert.housekeeping.sweep()


@pytest.fixture
async def harness(fresh_database: str, tmp_path: Path) -> AsyncIterator[Harness]:
    clock = Clock()
    started: dict[str, Any] = {}

    async def certificates(ctx: ServiceContext) -> Running:
        started["cert"], running = await certificates_app.start(ctx, Options(sweep_interval=0.2), clock=clock)
        return running

    async def payments(ctx: ServiceContext) -> Running:
        started["provider"], running = await paysim.start(ctx)
        return running

    async def notify(ctx: ServiceContext) -> Running:
        options = notify_app.Options(workers=4, line_timeout=5.0, backoff=Backoff(base=0.05, cap=0.5))
        _parts, running = await notify_app.start(ctx, options)
        return running

    specs = [
        replace(certificates_spec.service, build=certificates),
        replace(paysim_spec.service, build=payments),
        replace(notify_spec.service, build=notify),
    ]
    with EmulatorServer() as emulator:
        settings = serving_settings(
            tmp_path / "data", line_channel_access_token=TOKEN, line_api_url=emulator.url
        )
        bus = EmbeddedBus(fresh_database, poll_interval=0.2)
        async with (
            compose(specs, settings, fresh_database, bus=bus, background=False) as composed,
            httpx.AsyncClient(base_url=emulator.url, timeout=20) as line,
        ):
            cert: Certificates = started["cert"]
            # Tests sweep when they mean to: the certificates sweep does not run in the background.
            composed.system.run_background(without=[cert.housekeeping.run])
            yield Harness(composed, line, bus, cert, clock, started["provider"])
