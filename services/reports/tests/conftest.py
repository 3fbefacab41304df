"""reports on a real Postgres and the EmbeddedBus, with the LINE emulator (which also keeps the
residents' photos) and notify delivering the replies, composed as the embedded run composes them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest

from cityhall.events.backoff import Backoff
from cityhall.events.embedded_bus import EmbeddedBus
from cityhall.line.netguard import network_outside_transactions  # noqa: F401 (autouse)
from cityhall.line.testing import Intents, Resident, new_user
from cityhall.line_emulator.testing import EmulatorServer
from cityhall.notify import app as notify_app
from cityhall.notify import spec as notify_spec
from cityhall.reports import spec as reports_spec
from cityhall.runtime.service import Running, ServiceContext
from cityhall.runtime.testing import Composed, compose, serving_settings
from cityhall.web import SESSION_COOKIE, StaffAuth, StaffUser, WebConfig

CLERK = StaffUser("roads-clerk", "道路管理課 品川", frozenset({"roads"}))
PARKS = StaffUser("parks-clerk", "公園緑地課 世田谷", frozenset({"parks"}))


@dataclass
class Harness:
    composed: Composed
    line: httpx.AsyncClient

    def resident(self) -> Resident:
        return Resident(new_user(), self.line, Intents(self.composed.publish, "reports"))

    def staff(self, user: StaffUser) -> tuple[httpx.AsyncClient, str]:
        """A browser signed in as `user` and its CSRF token."""
        context = self.composed.service("reports").context
        token, csrf = StaffAuth(WebConfig.from_context(context)).signed_in(user)
        client = self.composed.http()
        client.cookies.set(SESSION_COOKIE, token)
        return client, csrf


@pytest.fixture
async def harness(fresh_database: str, tmp_path: Path) -> AsyncIterator[Harness]:
    async def notify(ctx: ServiceContext) -> Running:
        options = notify_app.Options(workers=2, line_timeout=5.0, backoff=Backoff(base=0.05, cap=0.5))
        return (await notify_app.start(ctx, options))[1]

    specs = [reports_spec.service, replace(notify_spec.service, build=notify)]
    with EmulatorServer() as emulator:
        settings = serving_settings(
            tmp_path / "data", line_channel_access_token="reports-test", line_api_url=emulator.url
        )
        async with (
            compose(
                specs, settings, fresh_database, bus=EmbeddedBus(fresh_database, poll_interval=0.2)
            ) as composed,
            httpx.AsyncClient(base_url=emulator.url, timeout=20) as line,
        ):
            yield Harness(composed, line)
