"""reservations on a real Postgres and the EmbeddedBus, with the LINE emulator and notify
delivering the replies, composed as the embedded run composes them
(`cityhall.notify.testing.service_harness`), on a clock the test moves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from cityhall.line.japanese import JST
from cityhall.line.netguard import network_outside_transactions  # noqa: F401 (autouse)
from cityhall.notify.testing import ServiceHarness, service_harness
from cityhall.reservations import app as reservations_app
from cityhall.reservations import spec as reservations_spec
from cityhall.reservations.handlers import Reservations
from cityhall.runtime.service import Running, ServiceContext
from cityhall.web import StaffUser

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
class Harness(ServiceHarness):
    clock: Clock
    service: Reservations


@pytest.fixture
async def harness(fresh_database: str, tmp_path: Path) -> AsyncIterator[Harness]:
    clock = Clock()
    started: list[Reservations] = []

    async def reservations(ctx: ServiceContext) -> Running:
        service, running = await reservations_app.start(ctx, clock=clock, sweep_interval=3600)
        started.append(service)
        return running

    spec = replace(reservations_spec.service, build=reservations)
    async with service_harness([spec], "reservations", fresh_database, tmp_path) as base:
        yield Harness(base.composed, base.line, base.domain, clock, started[0])


@dataclass
class PickupHarness(Harness):
    """The harness with the simulated payment provider composed beside reservations."""

    async def sweep(self) -> int:
        """The pickups' sweep as it runs after the time the test clock skipped: the read models
        it reads have applied every event recorded so far."""
        for runner in self.composed.service("reservations").projections.values():
            await runner.catch_up()
        pickups = self.service.pickups
        assert pickups is not None
        return await pickups.sweep()


@pytest.fixture
async def pickups(fresh_database: str, tmp_path: Path) -> AsyncIterator[PickupHarness]:
    from cityhall.payment_simulator import spec as paysim_spec

    clock = Clock()
    started: list[Reservations] = []

    async def reservations(ctx: ServiceContext) -> Running:
        service, running = await reservations_app.start(ctx, clock=clock, sweep_interval=3600)
        started.append(service)
        return running

    specs = [replace(reservations_spec.service, build=reservations), paysim_spec.service]
    async with service_harness(specs, "reservations", fresh_database, tmp_path) as base:
        yield PickupHarness(base.composed, base.line, base.domain, clock, started[0])
