"""Wiring of what the gateway consumes: dialog claims and releases from `line.dialogs`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from cityhall.events.bus import Bus
from cityhall.events.consumer import IdempotentConsumer
from cityhall.events.db import Connection, Pool
from cityhall.events.envelope import Envelope
from cityhall.gateway.routing import apply_dialog_event
from cityhall.line.contracts import DIALOGS_TOPIC

CONSUMER = "gateway-dialogs"


def dialog_consumer(bus: Bus, pool: Pool, clock: Callable[[], datetime]) -> IdempotentConsumer:
    async def handle(envelope: Envelope, conn: Connection) -> None:
        await apply_dialog_event(conn, envelope, clock())

    return IdempotentConsumer(CONSUMER, [DIALOGS_TOPIC], handle, bus=bus, pool=pool)
