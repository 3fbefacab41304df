"""Test support for a service's tests: the service composed with notify delivering its replies to
the LINE emulator, as the embedded run composes them.

    async with service_harness([voice_spec.service], "voice", fresh_database, tmp_path) as harness:
        resident = harness.resident()
        client, csrf = harness.staff(CLERK)

A service that needs more (its own clock, the object its `start` returned) extends
`ServiceHarness` and passes specs of its own (`dataclasses.replace(spec, build=...)`).

Only tests import this module; httpx and the emulator are dev dependencies of every test suite.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from cityhall.events.backoff import Backoff
from cityhall.events.embedded_bus import EmbeddedBus
from cityhall.line.testing import Intents, Resident, new_user
from cityhall.line_emulator.testing import EmulatorServer
from cityhall.notify import app as notify_app
from cityhall.notify import spec as notify_spec
from cityhall.runtime.service import Running, ServiceContext, ServiceSpec
from cityhall.runtime.testing import Composed, compose, serving_settings
from cityhall.web import StaffUser
from cityhall.web.testing import clerk


@dataclass
class ServiceHarness:
    composed: Composed
    line: httpx.AsyncClient
    """A client whose base URL is the LINE emulator."""
    domain: str
    """The service under test: residents' intents go to `intents.<domain>`, clerks sign in to it."""

    def resident(self) -> Resident:
        return Resident(new_user(), self.line, Intents(self.composed.publish, self.domain))

    def staff(self, user: StaffUser) -> tuple[httpx.AsyncClient, str]:
        """A browser signed in as `user` and its CSRF token."""
        return clerk(self.composed, self.domain, user)


async def _quick_notify(ctx: ServiceContext) -> Running:
    # Few workers and short retries: a test's handful of replies, and a failure seen in seconds.
    options = notify_app.Options(workers=2, line_timeout=5.0, backoff=Backoff(base=0.05, cap=0.5))
    return (await notify_app.start(ctx, options))[1]


QUICK_NOTIFY = replace(notify_spec.service, build=_quick_notify)
"""notify as a test composes it: every reply delivered to the emulator, failures retried quickly."""


@asynccontextmanager
async def service_harness(
    specs: Sequence[ServiceSpec], domain: str, dsn: str, tmp_path: Path
) -> AsyncIterator[ServiceHarness]:
    """`specs` and the quick notify composed on `dsn` with an EmbeddedBus, LINE being the emulator;
    all stopped on exit."""
    with EmulatorServer() as emulator:
        settings = serving_settings(
            tmp_path / "data", line_channel_access_token=f"{domain}-test", line_api_url=emulator.url
        )
        async with (
            compose(
                [*specs, QUICK_NOTIFY], settings, dsn, bus=EmbeddedBus(dsn, poll_interval=0.2)
            ) as composed,
            httpx.AsyncClient(base_url=emulator.url, timeout=20) as line,
        ):
            yield ServiceHarness(composed, line, domain)
