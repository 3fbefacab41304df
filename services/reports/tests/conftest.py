"""reports on a real Postgres and the EmbeddedBus, with the LINE emulator (which also keeps the
residents' photos) and notify delivering the replies, composed as the embedded run composes them
(`cityhall.notify.testing.service_harness`), the public service beside the private one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cityhall.line.netguard import network_outside_transactions  # noqa: F401 (autouse)
from cityhall.notify.testing import ServiceHarness, service_harness
from cityhall.reports import spec as reports_spec
from cityhall.reports.public import spec as public_spec
from cityhall.web import StaffUser

CLERK = StaffUser("roads-clerk", "道路管理課 品川", frozenset({"roads"}))
PARKS = StaffUser("parks-clerk", "公園緑地課 世田谷", frozenset({"parks"}))
ADMIN = StaffUser("roads-admin", "道路管理課長 大田", frozenset({"roads", "roads-admin"}))

Harness = ServiceHarness


@pytest.fixture
async def harness(fresh_database: str, tmp_path: Path) -> AsyncIterator[Harness]:
    specs = [reports_spec.service, public_spec.service]
    async with service_harness(specs, "reports", fresh_database, tmp_path) as harness:
        yield harness
