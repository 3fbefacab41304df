"""Composition root of reservations (予約; its `ServiceSpec` is in spec.py): the resident's
dialog on `intents.reservations`, the read models, the staff calendar, the sweep (waitlist
offers, reminders) and the outbox relay; with the catalogue's bulky-waste pickups, their fee
through the payment port (`cityhall.payment_protocol.port`), the provider's notices at
`/staff/reservations/payments/callback` and the pickups' sweep.

Environment (besides the shared names and libs/web's): the provider's (`MerchantEnv`:
`CITYHALL_PAYMENTS_URL`, required in production; `CITYHALL_PAYMENTS_SECRET`;
`CITYHALL_PAYMENTS_RETURN_URL`), `CITYHALL_RESERVATIONS_PAYMENTS_CALLBACK_URL` (default
`<public URL>/staff/reservations/payments/callback`), `CITYHALL_RESERVATIONS_SWEEP_SECONDS`
(default 30) and `CITYHALL_RESERVATIONS_CATALOGUE`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import Field

from cityhall.payment_protocol.env import MerchantEnv
from cityhall.payment_protocol.port import PaymentProvider, connect
from cityhall.reservations import catalogue, projections
from cityhall.reservations.api import create_app
from cityhall.reservations.bulky import api as bulky_api
from cityhall.reservations.bulky import prices
from cityhall.reservations.bulky import projections as bulky_projections
from cityhall.reservations.bulky.handlers import Pickups
from cityhall.reservations.handlers import Reservations
from cityhall.reservations.ics import Links
from cityhall.reservations.spec import MOUNT
from cityhall.runtime.intents import intents_consumer
from cityhall.runtime.service import Consumer, Running, ServiceContext
from cityhall.web import staff_app

log = logging.getLogger(__name__)
SWEEP_INTERVAL = 30.0
"""Seconds between sweeps (offers' holds and reminders are minutes and hours apart)."""


class ReservationsEnv(MerchantEnv):
    callback_url: str | None = Field(None, alias="CITYHALL_RESERVATIONS_PAYMENTS_CALLBACK_URL")
    """Where the provider sends its notices about bulky-waste fees."""
    sweep_seconds: float = Field(SWEEP_INTERVAL, alias="CITYHALL_RESERVATIONS_SWEEP_SECONDS", gt=0)


def _now() -> datetime:
    return datetime.now(UTC)


async def build(ctx: ServiceContext) -> Running:
    return (await start(ctx, sweep_interval=ReservationsEnv.read().sweep_seconds))[1]


async def start(
    ctx: ServiceContext,
    *,
    clock: Callable[[], datetime] = _now,
    booked: catalogue.Catalogue | None = None,
    sweep_interval: float = SWEEP_INTERVAL,
    provider: PaymentProvider | None = None,
) -> tuple[Reservations, Running]:
    """The service and what the runtime runs; tests pass their own clock."""
    try:
        resources = booked or catalogue.load()
    except catalogue.CatalogueError as exc:
        raise SystemExit(str(exc)) from exc
    staff = staff_app(ctx, "reservations", projections=projections.TABLES)
    links = Links.from_secret(staff.auth.config.session_secret, f"{ctx.settings.public_url}{MOUNT}")
    service = Reservations(ctx.require_pool(), ctx.require_store(), resources, links, clock=clock)
    closing = []
    pickups: Pickups | None = None
    if any(r.category == prices.CATEGORY for r in resources.resources):
        env, settings = ReservationsEnv.read(), ctx.settings
        if provider is None:
            http_provider = connect(
                "reservations (bulky-waste fees)",
                env,
                settings,
                callback_url=env.callback_url or f"{settings.public_url}{MOUNT}/payments/callback",
                embedded=ctx.mode == "embedded",
            )
            closing.append(http_provider.close)
            provider = http_provider
        try:
            service.pickups = pickups = Pickups(service, prices.load(), provider, env.return_url)
        except catalogue.CatalogueError as exc:
            raise SystemExit(str(exc)) from exc
    await service.seed()  # the file's resources not yet in the store; edited ones keep their edits

    async def sweeping() -> None:
        while True:
            try:
                await service.sweep()
                if pickups is not None:
                    await pickups.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reservations sweep failed; trying again")
            await asyncio.sleep(sweep_interval)

    app = create_app(service, staff)
    consumers = [
        intents_consumer(
            "reservations",
            service.conversation.handler(service.respond),
            service.conversation,
            prepare=pickups.prepare if pickups else None,
            prepares=pickups.prepares if pickups else None,
            # A burst (a session opening, a race for its seats) is decided in batches, up to
            # BATCH_LIMIT turns of a partition to a transaction: one commit, one inbox and
            # offsets statement, one read and one write of the sessions, one append of the
            # replies, one wake-up of the relay and projections for all of them. A payment tap,
            # which opens a checkout first, is handled on its own.
            # bench/RESULTS.md: 2026-12-06, the load generator; 2026-12-06 (evening).
            batched=True,
            handle_batch=service.conversation.batch_handler(service.respond),
        )
    ]
    if pickups is not None:
        app.include_router(bulky_api.router(pickups))
        consumers.append(Consumer("reservations-pickups", ("events.reservations",), pickups.on_event))
    running = Running(
        app=app,
        consumers=consumers,
        projections=[*projections.all_projections(), *bulky_projections.PROJECTIONS],
        relay="reservations-relay",
        tasks=[sweeping, service.follow_settings],
        on_stop=[staff.live.close, *closing],
        banner=[
            f"  Reservations       : {ctx.settings.public_url}{MOUNT}/  (roles reservations, kosodate, kenko, shimin, kominkan, environment)"
        ],
    )
    return service, running
