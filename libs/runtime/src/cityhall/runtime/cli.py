"""The `cityhall` command."""

from __future__ import annotations

import asyncio
import gc
import logging
import secrets
from collections.abc import Coroutine
from dataclasses import replace
from importlib.metadata import entry_points
from typing import Any

import typer
import uvicorn
import uvloop

from cityhall.events.bus import Bus
from cityhall.events.db import MigrationEdited
from cityhall.events.embedded_bus import EmbeddedBus
from cityhall.events.kafka_bus import KafkaBus
from cityhall.events.localpg import LocalPostgres
from cityhall.runtime.env import ConfigError
from cityhall.runtime.service import ServiceSpec, Settings, discover, installed, load
from cityhall.runtime.system import System, UnusedBus

app = typer.Typer(help="Pocket City Hall: a municipality's front desk in LINE.", no_args_is_help=True)
projections_app = typer.Typer(help="Read models.", no_args_is_help=True)
app.add_typer(projections_app, name="projections")

EMBEDDED_ACCESS_TOKEN = "embedded-emulator-token"
LINE_API = "https://api.line.me"


def _channel_secret(settings: Settings) -> str:
    """`LINE_CHANNEL_SECRET`, or one generated once and kept in the data directory."""
    if settings.line_channel_secret:
        return settings.line_channel_secret
    path = settings.data_dir / "line-channel-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(16))
        path.chmod(0o600)
    return path.read_text().strip()


def emulator_url(settings: Settings) -> str:
    """Where the embedded run serves its LINE emulator."""
    return f"{settings.public_url}/line-api"


def serves_emulator(configured: Settings) -> bool:
    """The embedded run's one rule for its stand-ins for LINE (`ServiceSpec.stands_in_for_line`:
    the emulator at /line-api and the resident simulator at /).

    Served only when the run talks to its own emulator: the operator set no channel access token
    and no LINE_API_URL other than the emulator's. Never beside a real channel, since
    /line-api/_inspect shows every message to every user and the simulator signs webhooks with
    the channel secret.
    """
    url = (configured.line_api_url or "").rstrip("/")
    return configured.line_channel_access_token is None and url in ("", emulator_url(configured))


def embedded_settings(configured: Settings) -> Settings:
    """Fill in what the embedded run provides itself: a channel secret and, unless a real channel
    is configured, the LINE emulator and a token for it."""
    emulator = serves_emulator(configured)
    if not emulator and (configured.line_api_url or "").rstrip("/") == emulator_url(configured):
        raise SystemExit(
            "LINE_API_URL points at the embedded LINE emulator, which is not served when "
            "LINE_CHANNEL_ACCESS_TOKEN is set (a real channel): unset one of the two"
        )
    return replace(
        configured,
        line_channel_secret=_channel_secret(configured),
        line_channel_access_token=configured.line_channel_access_token or EMBEDDED_ACCESS_TOKEN,
        line_api_url=emulator_url(configured) if emulator else configured.line_api_url or LINE_API,
    )


def embedded_services(configured: Settings) -> list[ServiceSpec]:
    """Every installed service, but the stand-ins for LINE only with the emulator."""
    emulator = serves_emulator(configured)
    return [spec for spec in discover().values() if emulator or not spec.stands_in_for_line]


def embedded_banner(settings: Settings, emulator: bool) -> list[str]:
    """What `cityhall run` prints at start, before the services' own lines."""
    url = settings.public_url
    if emulator:
        simulator = [f"  Resident simulator : {url}/"]
        line = (
            f"  LINE emulator      : on, development only ({url}/line-api/_inspect shows every "
            "message to every user)"
        )
    else:
        simulator = []
        line = (
            "  LINE emulator      : off (LINE_CHANNEL_ACCESS_TOKEN or LINE_API_URL is set): "
            "no /line-api, no resident simulator"
        )
    return [
        "",
        "Pocket City Hall is running (embedded: one process, EmbeddedBus, local Postgres).",
        *simulator,
        f"  LINE webhook       : {url}/callback",
        f"  LINE API in use    : {settings.line_api_url}",
        line,
        f"  Health             : {url}/healthz  {url}/readyz  {url}/metrics",
        f"  Data               : {settings.data_dir.resolve()}",
        "  Stop with Ctrl-C.",
    ]


def configure_logging() -> None:
    """INFO for what an operator needs. HTTP clients log every request at INFO (the services'
    calls to each other, to the emulator, to LINE): from them, only warnings and errors."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _bus(settings: Settings, dsn: str | None) -> Bus:
    if settings.kafka_bootstrap_servers:
        return KafkaBus(settings.kafka_bootstrap_servers)
    if dsn is None:
        raise SystemExit("set KAFKA_BOOTSTRAP_SERVERS (or DATABASE_URL for the embedded bus)")
    return EmbeddedBus(dsn)


async def _serve(system: System, settings: Settings, banner: list[str]) -> None:
    asgi = system.asgi()
    system.run_background()
    # What start-up loaded (modules, SDK models, the app) lives as long as the process: keep it
    # out of the garbage collector's full passes, which otherwise stall every request for
    # 100-200 ms now and then.
    gc.freeze()
    for line in banner + [line for s in system.services for line in s.running.banner]:
        print(line, flush=True)
    # Open Server-Sent Events streams (the simulator's page, /line-api/_inspect/stream) never end
    # by themselves: without a bound, Ctrl-C would wait for them forever. No access log: a line
    # per webhook (1,000/s at peak) and per internal call would drown everything else; request
    # counts and answers are in /metrics, and traces go to OTLP when it is set.
    config = uvicorn.Config(
        asgi,
        host=settings.bind_host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=3,
    )
    await uvicorn.Server(config).serve()


async def _run_embedded(configured: Settings) -> None:
    settings = embedded_settings(configured)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    postgres: LocalPostgres | None = None
    dsn = settings.database_url
    if dsn is None:
        postgres = LocalPostgres(settings.data_dir / "postgres")
        dsn = await asyncio.to_thread(postgres.start)
    system = System(settings, "embedded", _bus(settings, dsn), dsn)
    try:
        await system.start(embedded_services(configured))
        await _serve(system, settings, embedded_banner(settings, serves_emulator(configured)))
    finally:
        try:
            await system.stop()
        finally:
            # Blocking on purpose: Ctrl-C cancels this task at its next await (asyncio.run's
            # SIGINT handling, after uvicorn re-raises the signal), and the embedded Postgres
            # must not outlive the run.
            if postgres is not None:
                postgres.stop()


def _run(main: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop, a faster event loop than asyncio's own (uvicorn serves HTTP with httptools on it)."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


@app.command()
def run() -> None:
    """Run the whole system in one process (the embedded mode)."""
    configure_logging()
    _run(_run_embedded(Settings.from_env()))


def _spec(name: str) -> ServiceSpec:
    if name not in installed():
        raise typer.BadParameter(f"unknown service {name!r}; installed: {', '.join(installed())}")
    return load(name)


@app.command()
def service(name: str) -> None:
    """Run one service alone (distributed mode: Kafka and the service's own DATABASE_URL)."""
    configure_logging()
    settings = Settings.from_env()
    spec = _spec(name)
    if spec.uses_bus and not settings.kafka_bootstrap_servers:
        raise typer.BadParameter("distributed mode needs KAFKA_BOOTSTRAP_SERVERS")

    async def main() -> None:
        bus = _bus(settings, None) if spec.uses_bus else UnusedBus()
        system = System(settings, "distributed", bus, settings.database_url)
        try:
            await system.start([spec])
            await _serve(system, settings, [f"{name} listening on {settings.bind_host}:{settings.port}"])
        finally:
            await system.stop()

    _run(main())


@projections_app.command("rebuild")
def rebuild(service_name: str, projection: str) -> None:
    """Replay a service's events into a fresh copy of one projection and swap it in."""
    settings = Settings.from_env()
    spec = _spec(service_name)

    async def main() -> None:
        system = System(settings, "distributed", _bus(settings, settings.database_url), settings.database_url)
        try:
            await system.start([spec])
            runners = {name: r for s in system.services for name, r in s.projections.items()}
            if projection not in runners:
                raise typer.BadParameter(
                    f"{service_name} has no projection {projection!r}: {sorted(runners)}"
                )
            count = await runners[projection].rebuild()
            print(f"rebuilt {projection} from {count} events")
        finally:
            await system.stop()

    _run(main())


def _add_plugin_commands() -> None:
    """Services add command groups (e.g. `cityhall line richmenu`) via `cityhall.cli` entry points."""
    for ep in entry_points(group="cityhall.cli"):
        sub = ep.load()
        if isinstance(sub, typer.Typer):
            app.add_typer(sub, name=ep.name)


def main() -> None:
    _add_plugin_commands()
    try:
        app()
    except (ConfigError, MigrationEdited) as exc:  # the message names the variable or the file
        raise SystemExit(f"cityhall: {exc}") from None


__all__ = ["main"]
