"""The emulator as a runtime service: the embedded run mounts it at /line-api."""

from __future__ import annotations

from cityhall.line_emulator.app import create_app
from cityhall.line_emulator.settings import EmulatorSettings
from cityhall.runtime.service import Running, ServiceContext, ServiceSpec


async def build(context: ServiceContext) -> Running:
    # The emulator keeps its state in memory; it needs neither the pool nor the bus.
    return Running(app=create_app(EmulatorSettings.from_env()))


service = ServiceSpec(
    "line-emulator",
    "/line-api",
    build,
    uses_database=False,
    uses_bus=False,
    order=10,
    development_only=True,
)
