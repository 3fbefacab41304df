"""Composition root of reservations (予約; its `ServiceSpec` is in spec.py): the resident's
dialog on `intents.reservations`, the read models, the staff calendar, the sweep (waitlist
offers, reminders) and the outbox relay."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from cityhall.line.contracts import intents_topic
from cityhall.reservations import catalogue, projections
from cityhall.reservations.api import create_app
from cityhall.reservations.handlers import Reservations
from cityhall.reservations.ics import Links
from cityhall.reservations.spec import MOUNT
from cityhall.runtime.service import Consumer, Running, ServiceContext
from cityhall.web import LiveUpdates, StaffAuth, WebConfig

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
    pool = ctx.require_pool()
    web = WebConfig.from_context(ctx)
    links = Links.from_secret(web.session_secret, f"{ctx.settings.public_url}{MOUNT}")
    service = Reservations(pool, ctx.require_store(), resources, links, clock=clock)
    live = LiveUpdates(pool, projections=list(projections.TABLES))

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
        app=create_app(service, StaffAuth(web), live),
        consumers=[
            Consumer(
                "reservations-intents",
                (intents_topic("reservations"),),
                service.on_intent,
                on_dead_letter=service.conversation.could_not_handle,  # never silence
            )
        ],
        projections=projections.all_projections(),
        relay="reservations-relay",
        tasks=[sweeping],
        on_stop=[live.close],
        banner=[
            f"  Reservations       : {ctx.settings.public_url}{MOUNT}/  (roles reservations, kosodate, kenko, shimin, kominkan)"
        ],
    )
    return service, running
