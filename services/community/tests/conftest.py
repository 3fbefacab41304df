"""community on a real Postgres and the EmbeddedBus, with the LINE emulator and notify delivering
its messages, composed as the embedded run composes them (`cityhall.notify.testing.service_harness`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cityhall.community import spec as community_spec
from cityhall.line.netguard import network_outside_transactions  # noqa: F401 (autouse)
from cityhall.notify.testing import ServiceHarness, service_harness
from cityhall.web import StaffUser

CLERK = StaffUser("kyodo-clerk", "協働推進課 目黒", frozenset({"kyodo"}))
ADMIN = StaffUser("kyodo-admin", "協働推進課長 渋谷", frozenset({"kyodo", "kyodo-admin"}))

Harness = ServiceHarness


@pytest.fixture
async def harness(fresh_database: str, tmp_path: Path) -> AsyncIterator[Harness]:
    async with service_harness([community_spec.service], "community", fresh_database, tmp_path) as harness:
        yield harness
