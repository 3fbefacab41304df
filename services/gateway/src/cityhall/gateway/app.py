"""Composition root of the gateway: webhook route, outbox relay, dialog consumer, disaster mode's
menu switcher.

Settings used: LINE_CHANNEL_SECRET (required); the served domains (run alone:
CITYHALL_SERVED_DOMAINS, required, e.g. `notify,certificates`; the embedded run knows them);
LINE_API_URL and LINE_CHANNEL_ACCESS_TOKEN for the rich menus (the embedded run's start-up menu,
disaster mode's switch).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from cityhall.events.kafka_bus import KafkaBus
from cityhall.events.relay import OutboxRelay
from cityhall.gateway import disaster
from cityhall.gateway.api import create_callback
from cityhall.gateway.declared import DOMAINS
from cityhall.gateway.handlers import dialog_consumer
from cityhall.gateway.intake import BUDGET, Intake
from cityhall.gateway.publication import Acceptances
from cityhall.gateway.richmenu import LINE_API, ensure_default_rich_menu, sdk_configuration
from cityhall.gateway.webhook import WebhookReader
from cityhall.line.contracts import OUTBOUND_TOPIC, RICH_MENU_TOPIC, intents_topic
from cityhall.runtime.service import Running, ServiceContext

log = logging.getLogger(__name__)

RELAY = "gateway-relay"


def utc_now() -> datetime:
    return datetime.now(UTC)


async def build(
    ctx: ServiceContext, *, budget: float = BUDGET, clock: Callable[[], datetime] = utc_now
) -> Running:
    if not ctx.settings.line_channel_secret:
        raise SystemExit("the gateway needs LINE_CHANNEL_SECRET")
    served = served_domains(ctx)
    log.info("served domains: %s; the gateway answers the others itself", ", ".join(served) or "none")
    pool, store = ctx.require_pool(), ctx.require_store()
    acceptances = Acceptances(pool, RELAY)
    # The relay's poll is a fallback: each append wakes it.
    relay = OutboxRelay(store, ctx.bus, name=RELAY, poll_interval=1.0, on_acknowledged=acceptances.advance)

    def wake_relay() -> None:
        # A relay is the only listener to the gateway's store: when this process's relay is the
        # active one, waking it in-process is enough, and the NOTIFY round trip is saved.
        if relay.active:
            relay.wake()
        else:
            store.notify()

    intake = Intake(
        WebhookReader(ctx.settings.line_channel_secret),
        store,
        acceptances,
        budget=budget,
        clock=clock,
        wake_relay=wake_relay,
        served=served,
    )
    consumer = dialog_consumer(ctx.bus, pool, clock)

    async def relay_intents() -> None:
        if isinstance(ctx.bus, KafkaBus):
            # Topics exist before the first webhook: creating one on first use can outlast the budget.
            await ctx.bus.ensure_topics(
                [*(intents_topic(d) for d in DOMAINS), OUTBOUND_TOPIC, RICH_MENU_TOPIC]
            )
        await relay.run()

    configuration = sdk_configuration(ctx.settings) if ctx.settings.line_channel_access_token else None
    first_menu: asyncio.Task[str | None] | None = None
    if configuration is not None and _serves_an_emulator(ctx):
        # Best effort and in the background: the emulator answers once the server listens.
        first_menu = asyncio.create_task(ensure_default_rich_menu(configuration))

    async def after_first_menu() -> None:
        # Disaster mode switches the menus only once the embedded run's first one is made.
        if first_menu is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(first_menu)

    switcher = disaster.Switcher(pool, configuration, before=after_first_menu)
    menus = disaster.consumer(ctx.bus, pool)
    running = Running(
        endpoints={"/callback": create_callback(intake)},
        tasks=[relay_intents, acceptances.listen, consumer.run, menus.run, switcher.run],
    )
    if first_menu is not None:
        task = first_menu

        async def cancel() -> None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task

        running.on_stop.append(cancel)
    return running


def served_domains(ctx: ServiceContext) -> tuple[str, ...]:
    """The domains whose intents some running service consumes; a clear error if not known."""
    served = ctx.settings.served_domains
    if served is None:
        raise SystemExit(
            "the gateway needs CITYHALL_SERVED_DOMAINS: the domains whose services run, comma-separated "
            f"(of {', '.join(DOMAINS)}), e.g. CITYHALL_SERVED_DOMAINS=notify,certificates"
        )
    unknown = [d for d in served if d not in DOMAINS]
    if unknown:
        raise SystemExit(
            f"CITYHALL_SERVED_DOMAINS names unknown domain(s) {', '.join(unknown)}; known: {', '.join(DOMAINS)}"
        )
    return served


def _serves_an_emulator(ctx: ServiceContext) -> bool:
    """The embedded run against an emulator (not LINE itself), with a token to call it."""
    url = (ctx.settings.line_api_url or "").rstrip("/")
    return (
        ctx.mode == "embedded" and bool(ctx.settings.line_channel_access_token) and url not in ("", LINE_API)
    )
