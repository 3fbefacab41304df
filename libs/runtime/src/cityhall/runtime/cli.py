"""The `cityhall` command."""

from __future__ import annotations

import asyncio
import gc
import logging
import secrets
import signal
from collections.abc import Coroutine
from dataclasses import replace
from importlib.metadata import entry_points
from pathlib import Path
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
from cityhall.runtime.service import LINE_API, ServiceSpec, Settings, discover, installed, load, runs_in
from cityhall.runtime.system import System, UnusedBus

app = typer.Typer(help="Pocket City Hall: a municipality's front desk in LINE.", no_args_is_help=True)
projections_app = typer.Typer(help="Read models.", no_args_is_help=True)
app.add_typer(projections_app, name="projections")

EMBEDDED_ACCESS_TOKEN = "embedded-emulator-token"


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


def uses_emulator(configured: Settings) -> bool:
    """Whether the embedded run talks to its own emulator: in development, when the operator set
    no channel access token and no LINE_API_URL other than the emulator's."""
    url = (configured.line_api_url or "").rstrip("/")
    return (
        configured.profile == "development"
        and configured.line_channel_access_token is None
        and url in ("", emulator_url(configured))
    )


def embedded_settings(configured: Settings) -> Settings:
    """Fill in what the embedded run provides itself: in development, a channel secret and,
    unless another LINE API is configured, the LINE emulator and a token for it."""
    if configured.profile == "production":
        if (configured.line_api_url or "").rstrip("/") == emulator_url(configured):
            raise SystemExit(
                "LINE_API_URL points at the embedded LINE emulator, which the production profile "
                "does not serve: unset LINE_API_URL (or set CITYHALL_PROFILE=development)"
            )
        missing = [
            name
            for name, value in (
                ("LINE_CHANNEL_ACCESS_TOKEN", configured.line_channel_access_token),
                ("LINE_CHANNEL_SECRET", configured.line_channel_secret),
            )
            if not value
        ]
        if missing:
            raise SystemExit(
                f"the production profile serves a real LINE channel: set {' and '.join(missing)} "
                "(or CITYHALL_PROFILE=development for the LINE emulator)"
            )
        return replace(configured, line_api_url=configured.line_api_url or LINE_API)
    emulator = uses_emulator(configured)
    return replace(
        configured,
        line_channel_secret=_channel_secret(configured),
        line_channel_access_token=configured.line_channel_access_token or EMBEDDED_ACCESS_TOKEN,
        line_api_url=emulator_url(configured) if emulator else configured.line_api_url or LINE_API,
    )


def embedded_services(settings: Settings) -> list[ServiceSpec]:
    """Every installed service that may run in the profile (`service.runs_in`)."""
    return [spec for spec in discover().values() if runs_in(spec, settings)]


def embedded_banner(settings: Settings) -> list[str]:
    """What `cityhall run` prints at start, before the services' own lines."""
    url = settings.public_url
    if settings.profile == "development":
        profile = [
            "  Profile            : development (CITYHALL_PROFILE): with the LINE emulator, the "
            "resident simulator and simulated payments; never for a real channel",
            f"  Resident simulator : {url}/",
        ]
        if settings.line_api_url == emulator_url(settings):
            line = f"  LINE emulator      : on ({url}/line-api/_inspect shows every message to every user)"
        else:
            line = (
                f"  LINE emulator      : {url}/line-api, not in use "
                "(LINE_CHANNEL_ACCESS_TOKEN or LINE_API_URL is set)"
            )
    else:
        profile = [
            "  Profile            : production (CITYHALL_PROFILE): no development tools "
            "(no LINE emulator, no resident simulator, no simulated payments)",
        ]
        line = "  LINE emulator      : off (production profile): no /line-api, no /sim, no /pay"
    return [
        "",
        "Pocket City Hall is running (embedded: one process, EmbeddedBus, local Postgres).",
        *profile,
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
        # uvicorn would otherwise take the client's address from X-Forwarded-For whenever the
        # peer is 127.0.0.1; the staff portal trusts that header only from its configured proxies.
        proxy_headers=False,
        lifespan="off",
        timeout_graceful_shutdown=3,
    )
    await uvicorn.Server(config).serve()


def private_dir(path: Path) -> Path:
    """`path`, created if need be, readable by its owner only: the run's data dir holds the
    database's password, the channel and payment secrets and the database itself."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


async def _run_embedded(settings: Settings, dsn: str) -> None:
    system = System(settings, "embedded", _bus(settings, dsn), dsn)
    try:
        await system.start(embedded_services(settings))
        await _serve(system, settings, embedded_banner(settings))
    finally:
        await system.stop()


def _run(main: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop, a faster event loop than asyncio's own (uvicorn serves HTTP with httptools on it)."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


@app.command()
def run() -> None:
    """Run the whole system in one process (the embedded mode)."""
    configure_logging()
    configured = Settings.from_env()
    private_dir(configured.data_dir)
    settings = embedded_settings(configured)
    if settings.database_url is not None:
        _run(_run_embedded(settings, settings.database_url))
        return
    # The embedded Postgres starts and stops outside the event loop: however the loop ends (a
    # Ctrl-C cancels the main task mid-await, or raises KeyboardInterrupt wherever the loop is),
    # the server never outlives the run.
    postgres = LocalPostgres(settings.data_dir / "postgres")
    try:
        _run(_run_embedded(settings, postgres.start()))
    finally:
        # A further Ctrl-C (a person's second press, or the one the server's shutdown re-raises)
        # must not cut this short: the process would exit with the server still writing.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        postgres.stop()


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
    if not runs_in(spec, settings):
        raise typer.BadParameter(
            f"{name} is a development tool: it runs only with CITYHALL_PROFILE=development "
            "(the profile is production here)"
        )
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
