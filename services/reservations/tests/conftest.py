"""reservations on a real Postgres and the EmbeddedBus, with the LINE emulator and notify
delivering the replies, composed as the embedded run composes them, on a clock the test moves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from cityhall.events.backoff import Backoff
from cityhall.events.embedded_bus import EmbeddedBus
from cityhall.line.japanese import JST
from cityhall.line.netguard import network_outside_transactions  # noqa: F401 (autouse)
from cityhall.line.testing import Intents, Resident, new_user
from cityhall.line_emulator.testing import EmulatorServer
from cityhall.notify import app as notify_app
from cityhall.notify import spec as notify_spec
from cityhall.reservations import app as reservations_app
from cityhall.reservations import spec as reservations_spec
from cityhall.reservations.handlers import Reservations
from cityhall.runtime.service import Running, ServiceContext
from cityhall.runtime.testing import Composed, compose, serving_settings
from cityhall.web import SESSION_COOKIE, StaffAuth, StaffUser, WebConfig

KENKO = StaffUser("kenko-clerk", "健康推進課 森", frozenset({"kenko"}))
KOMINKAN = StaffUser("kominkan-clerk", "中央公民館 小川", frozenset({"kominkan"}))
START = datetime(2026, 12, 7, 9, 30, tzinfo=JST)
"""A Monday morning: the test's "now" until it moves the clock."""


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


@dataclass
class Harness:
    composed: Composed
    line: httpx.AsyncClient
    clock: Clock
    service: Reservations

    def resident(self) -> Resident:
        return Resident(new_user(), self.line, Intents(self.composed.publish, "reservations"))

    def staff(self, user: StaffUser) -> tuple[httpx.AsyncClient, str]:
        """A browser signed in as `user` and its CSRF token."""
        context = self.composed.service("reservations").context
        token, csrf = StaffAuth(WebConfig.from_context(context)).signed_in(user)
        client = self.composed.http()
        client.cookies.set(SESSION_COOKIE, token)
        return client, csrf


@pytest.fixture
async def harness(fresh_database: str, tmp_path: Path) -> AsyncIterator[Harness]:
    clock = Clock()
    started: list[Reservations] = []

    async def notify(ctx: ServiceContext) -> Running:
        options = notify_app.Options(workers=2, line_timeout=5.0, backoff=Backoff(base=0.05, cap=0.5))
        return (await notify_app.start(ctx, options))[1]

    async def reservations(ctx: ServiceContext) -> Running:
        service, running = await reservations_app.start(ctx, clock=clock, sweep_interval=3600)
        started.append(service)
        return running

    specs = [
        replace(reservations_spec.service, build=reservations),
        replace(notify_spec.service, build=notify),
    ]
    with EmulatorServer() as emulator:
        settings = serving_settings(
            tmp_path / "data", line_channel_access_token="reservations-test", line_api_url=emulator.url
        )
        async with (
            compose(
                specs, settings, fresh_database, bus=EmbeddedBus(fresh_database, poll_interval=0.2)
            ) as composed,
            httpx.AsyncClient(base_url=emulator.url, timeout=20) as line,
        ):
            yield Harness(composed, line, clock, started[0])
