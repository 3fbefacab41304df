"""Disaster mode at the rich menu: every resident's menu becomes the disaster menu, and back.

notify records who switched disaster mode, when and why (`DisasterModeSwitched`, on
`line.richmenu`); the gateway owns the rich menu and applies it with LINE's API as designed for
this: the channel's default menu becomes the disaster menu (so residents who follow during
disaster mode get it too), and a batch `unlinkAll` takes away any menu linked to a single
resident, which would hide the default. Switching off makes the main menu the default again
and unlinks again.

The consumer (`gateway-disaster`) only records the mode in `disaster_mode`, in the message's
transaction; the switcher, a loop of its own, makes the LINE calls outside any transaction and
then marks the row applied. Every step is idempotent (the menus are found by name before one
is created, setting the default again changes nothing, the batch carries a resume key from the
event), so a crash anywhere is followed by the same steps again. At start the switcher applies
the recorded mode once more: the channel converges on it after a restart, or after an emulator
that lost its state.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable

from linebot.v3.messaging import (
    AsyncApiClient,
    AsyncMessagingApi,
    Configuration,
    RichMenuBatchRequest,
    RichMenuBatchUnlinkAllOperation,
)
from linebot.v3.messaging.exceptions import ApiException

from cityhall.events.backoff import Backoff
from cityhall.events.bus import Bus
from cityhall.events.consumer import IdempotentConsumer
from cityhall.events.db import Connection, Pool
from cityhall.events.envelope import Envelope
from cityhall.gateway.richmenu import DISASTER, MAIN, Menu, create_rich_menu
from cityhall.line.contracts import RICH_MENU_TOPIC, DisasterModeSwitched

log = logging.getLogger(__name__)

CONSUMER = "gateway-disaster"
POLL = 0.5
"""Seconds between looks at `disaster_mode` (a one-row read)."""
RETRY = Backoff(base=1.0, cap=30.0)
BATCH_POLL = 0.5
BATCH_TIMEOUT = 600.0
"""LINE's batch is asynchronous; how long its progress is followed before it counts as failed."""


async def record(envelope: Envelope, conn: Connection) -> None:
    """The consumer's handler: the mode as the newest switch says (a late older one changes nothing)."""
    if envelope.type != DisasterModeSwitched.TYPE:
        return
    switched = envelope.event()
    assert isinstance(switched, DisasterModeSwitched)
    await conn.execute(
        """INSERT INTO disaster_mode (switched_on, event_id, switched_at) VALUES ($1, $2, $3)
           ON CONFLICT (singleton) DO UPDATE
           SET switched_on = excluded.switched_on, event_id = excluded.event_id,
               switched_at = excluded.switched_at, applied_at = NULL
           WHERE disaster_mode.switched_at <= excluded.switched_at AND disaster_mode.event_id <> excluded.event_id""",
        switched.on, envelope.id, switched.at,
    )  # fmt: skip


def consumer(bus: Bus, pool: Pool) -> IdempotentConsumer:
    return IdempotentConsumer(CONSUMER, [RICH_MENU_TOPIC], record, bus=bus, pool=pool)


class Switcher:
    """Makes the channel's menus what `disaster_mode` says (see the module's docstring)."""

    def __init__(
        self,
        pool: Pool,
        configuration: Configuration | None,
        *,
        before: Callable[[], Awaitable[object]] | None = None,
        poll: float = POLL,
    ) -> None:
        self.pool, self.configuration, self.before, self.poll = pool, configuration, before, poll

    async def run(self) -> None:
        if self.before is not None:
            await self.before()  # the embedded run's first menu, before anything switches it
        restarted = True
        failures = 0
        while True:
            row = await self.pool.fetchrow("SELECT switched_on, event_id, applied_at FROM disaster_mode")
            if row is not None and (restarted or row["applied_at"] is None):
                try:
                    await self.apply(row["switched_on"], row["event_id"])
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    failures += 1
                    log.warning("could not switch the rich menus (disaster mode %s): %s",
                                "on" if row["switched_on"] else "off", exc)  # fmt: skip
                    await asyncio.sleep(RETRY.delay(failures))
                    continue
                failures, restarted = 0, False
                await self.pool.execute(
                    "UPDATE disaster_mode SET applied_at = now() WHERE event_id = $1", row["event_id"]
                )
                continue
            restarted = False
            await asyncio.sleep(self.poll)

    async def apply(self, on: bool, event_id: uuid.UUID) -> str:
        """Every resident's menu: the disaster one (`on`) or the main one; the menu's id."""
        if self.configuration is None:
            raise RuntimeError("the gateway switches rich menus with LINE_CHANNEL_ACCESS_TOKEN: set it")
        menu = DISASTER if on else MAIN
        rich_menu_id = await self._default(menu)
        async with AsyncApiClient(self.configuration) as client:
            api = AsyncMessagingApi(client)
            # Menus linked to single residents would hide the default: unlink them all.
            request = RichMenuBatchRequest(
                operations=[RichMenuBatchUnlinkAllOperation()], resume_request_key=f"disaster-{event_id.hex}"
            )
            response = await api.rich_menu_batch_with_http_info(request)
            request_id = (response.headers or {}).get("x-line-request-id")
            if request_id:
                await self._followed(api, str(request_id))
        log.info("disaster mode %s: rich menu %s is every resident's", "on" if on else "off", rich_menu_id)
        return rich_menu_id

    async def _default(self, menu: Menu) -> str:
        """Make `menu` the channel's default, creating it when the channel has none of that name."""
        assert self.configuration is not None
        async with AsyncApiClient(self.configuration) as client:
            api = AsyncMessagingApi(client)
            found = [
                m.rich_menu_id for m in (await api.get_rich_menu_list()).richmenus if m.name == menu.name
            ]
            for rich_menu_id in reversed(found):
                try:
                    await api.set_default_rich_menu(rich_menu_id)
                    return str(rich_menu_id)
                except ApiException as exc:
                    if exc.status != 400:
                        raise
                    # Created by a run that died before its image was uploaded: replaced below.
                    await api.delete_rich_menu(rich_menu_id)
        return await create_rich_menu(self.configuration, menu=menu)

    async def _followed(self, api: AsyncMessagingApi, request_id: str) -> None:
        """Wait until LINE has finished the batch; raise when it failed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + BATCH_TIMEOUT
        while True:
            progress = await api.get_rich_menu_batch_progress(request_id)
            if progress.phase == "succeeded":
                return
            if progress.phase == "failed" or loop.time() > deadline:
                raise RuntimeError(f"LINE's rich menu batch {request_id} is {progress.phase}")
            await asyncio.sleep(BATCH_POLL)
