"""voice on a real Postgres and the EmbeddedBus, with the LINE emulator and notify delivering the
replies, composed as the embedded run composes them (`cityhall.notify.testing.service_harness`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cityhall.line.netguard import network_outside_transactions  # noqa: F401 (autouse)
from cityhall.notify.testing import ServiceHarness, service_harness
from cityhall.voice import spec as voice_spec
from cityhall.web import StaffUser

CLERK = StaffUser("voice-clerk", "広聴広報課 杉並", frozenset({"voice"}))

Harness = ServiceHarness


@pytest.fixture
async def harness(fresh_database: str, tmp_path: Path) -> AsyncIterator[Harness]:
    async with service_harness([voice_spec.service], "voice", fresh_database, tmp_path) as harness:
        yield harness
