"""Composition root: the simulator as a runtime service, served at `/` in the embedded run.

Settings come from the runtime (channel secret, LINE API URL, public URL); two optional
variables point it elsewhere, for tests or a gateway on another host:
`CITYHALL_SIMULATOR_CALLBACK_URL` (default `{public_url}/callback`) and
`CITYHALL_SIMULATOR_BOT_USER_ID` (default: the emulator's GET /v2/bot/info).
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI
from pydantic import Field

from cityhall.runtime.env import EnvSettings
from cityhall.runtime.service import Running, ServiceContext, ServiceSpec, Settings
from cityhall.simulator.actions import Simulator, SimulatorConfig
from cityhall.simulator.api import create_api

DEFAULT_ACCESS_TOKEN = "resident-simulator"
"""Any non-empty bearer token satisfies an emulator without LINE_EMULATOR_TOKENS."""


class SimulatorEnv(EnvSettings):
    """The simulator's own variables; the rest are the runtime's shared names."""

    callback_url: str | None = Field(None, alias="CITYHALL_SIMULATOR_CALLBACK_URL")
    """Where webhooks go; default `<public URL>/callback`."""
    bot_user_id: str | None = Field(None, alias="CITYHALL_SIMULATOR_BOT_USER_ID")


def config_from(settings: Settings, env: Mapping[str, str] | None = None) -> SimulatorConfig:
    read = SimulatorEnv.read(env)
    if not settings.line_channel_secret:
        raise SystemExit("the resident simulator signs webhooks: set LINE_CHANNEL_SECRET")
    return SimulatorConfig(
        channel_secret=settings.line_channel_secret,
        access_token=settings.line_channel_access_token or DEFAULT_ACCESS_TOKEN,
        line_api_url=settings.line_api_url or f"{settings.public_url}/line-api",
        callback_url=read.callback_url or f"{settings.public_url}/callback",
        data_dir=settings.data_dir,
        bot_user_id=read.bot_user_id,
    )


def create_app(config: SimulatorConfig) -> tuple[FastAPI, Simulator]:
    """The simulator's app, and the simulator itself (`await simulator.aclose()` on stop)."""
    simulator = Simulator(config)
    return create_api(simulator), simulator


async def build(ctx: ServiceContext) -> Running:
    app, simulator = create_app(config_from(ctx.settings))
    return Running(app=app, on_stop=[simulator.aclose])


service = ServiceSpec(
    "simulator", "", build, uses_database=False, uses_bus=False, order=90, development_only=True
)
