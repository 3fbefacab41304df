"""Composition root of reservations (予約; its `ServiceSpec` is in spec.py): the resident's
dialog on `intents.reservations`, the read models, the staff calendar, the sweep (waitlist
offers, reminders) and the outbox relay."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from cityhall.reservations import catalogue, projections
from cityhall.reservations.api import create_app
from cityhall.reservations.handlers import Reservations
from cityhall.reservations.ics import Links
from cityhall.reservations.spec import MOUNT
from cityhall.runtime.intents import intents_consumer
from cityhall.runtime.service import Running, ServiceContext
from cityhall.web import staff_app

log = logging.getLogger(__name__)
SWEEP_INTERVAL = 30.0
"""Seconds between sweeps (offers' holds and reminders are minutes and hours apart)."""


def _now() -> datetime:
    return datetime.now(UTC)


async def build(ctx: ServiceContext) -> Running:
    return (await start(ctx))[1]


async def start(
    ctx: ServiceContext,
    *,
    clock: Callable[[], datetime] = _now,
    booked: catalogue.Catalogue | None = None,
    sweep_interval: float = SWEEP_INTERVAL,
) -> tuple[Reservations, Running]:
    """The service and what the runtime runs; tests pass their own clock."""
    try:
        resources = booked or catalogue.load()
    except catalogue.CatalogueError as exc:
        raise SystemExit(str(exc)) from exc
    staff = staff_app(ctx, "reservations", projections=projections.TABLES)
    links = Links.from_secret(staff.auth.config.session_secret, f"{ctx.settings.public_url}{MOUNT}")
    service = Reservations(ctx.require_pool(), ctx.require_store(), resources, links, clock=clock)
    await service.seed()  # the file's resources not yet in the store; edited ones keep their edits

    async def sweeping() -> None:
        while True:
            try:
                await service.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reservations sweep failed; trying again")
            await asyncio.sleep(sweep_interval)

    running = Running(
        app=create_app(service, staff),
        consumers=[
            intents_consumer(
                "reservations", service.conversation.handler(service.respond), service.conversation
            )
        ],
        projections=projections.all_projections(),
        relay="reservations-relay",
        tasks=[sweeping],
        on_stop=[staff.live.close],
        banner=[
            f"  Reservations       : {ctx.settings.public_url}{MOUNT}/  (roles reservations, kosodate, kenko, shimin, kominkan)"
        ],
    )
    return service, running
