"""How a service plugs into the runtime.

Each service package exposes one `ServiceSpec` under the `cityhall.services` entry-point
group. The runtime gives it a `ServiceContext` (its pool, bus, store and settings) and
gets back a `Running`: what the service has (an app to mount, the consumers, projections and
outbox relay it needs, its own background loops). The runtime creates the consumers, the
projection runners and the relay the same way for every service (`System`), so the embedded
run, `cityhall service <name>` and the tests (`cityhall.runtime.testing`) compose it alike.
"""

from __future__ import annotations

import pkgutil
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from fastapi import FastAPI
from pydantic import Field
from starlette.types import ASGIApp

from cityhall.events.bus import Bus
from cityhall.events.consumer import CONCURRENCY, BatchHandler, DeadLetter, Handler, Prepare
from cityhall.events.db import Pool
from cityhall.events.envelope import Envelope
from cityhall.events.projection import Projection
from cityhall.events.store import EventStore
from cityhall.runtime.declarations import Dashboard, DemoAccount, Department, Tile
from cityhall.runtime.env import ConfigError, EnvSettings
from cityhall.runtime.http import LOCAL_HOSTS

LINE_API = "https://api.line.me"
"""LINE's Messaging API; the SDK's own default host, used when `LINE_API_URL` is unset."""

Mode = Literal["embedded", "distributed"]
Profile = Literal["development", "production"]
PROFILE_ENV = "CITYHALL_PROFILE"
CLOCK_OFFSET_ENV = "CITYHALL_CLOCK_OFFSET"


@dataclass(frozen=True)
class Settings:
    """Configuration from environment variables; the same names in both run modes."""

    port: int = 8000
    bind_host: str = "127.0.0.1"
    """Where the HTTP server listens; containers set CITYHALL_BIND_HOST=0.0.0.0."""
    database_url: str | None = None
    kafka_bootstrap_servers: str | None = None
    line_channel_secret: str | None = None
    line_channel_access_token: str | None = None
    line_api_url: str | None = None
    public_url: str = "http://127.0.0.1:8000"
    data_dir: Path = Path(".cityhall")
    served_domains: tuple[str, ...] | None = None
    """The LINE domains whose intents some running service consumes (the gateway answers the
    others itself). The embedded run fills it from the composed services' `domains`; a gateway
    run alone reads CITYHALL_SERVED_DOMAINS (comma-separated; unset is None)."""
    profile: Profile = "development"
    """CITYHALL_PROFILE, or what `profile` decides without it: the development tools
    (`ServiceSpec.development_only`) run only in "development"."""
    allowed_hosts: frozenset[str] | None = None
    """The `Host` names requests may carry (IP literals always pass); None checks nothing.
    From the environment: CITYHALL_PUBLIC_URL's host, the comma-separated
    CITYHALL_ALLOWED_HOSTS (`*` turns the check off) and, in development, localhost."""
    clock_offset: timedelta = timedelta(0)
    """CITYHALL_CLOCK_OFFSET (seconds, may be negative): added to the wall clock that services
    schedule by (`now`), so that a test or a demo runs at a chosen hour (notify's quiet hours, a
    scheduled send) without waiting for it. Development profile only: production refuses it."""

    def now(self) -> datetime:
        """What time it is for the service's schedules: UTC, moved by `clock_offset`."""
        return datetime.now(UTC) + self.clock_offset

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        read = RuntimeEnv.read(env)
        public_url = (read.public_url or f"http://127.0.0.1:{read.port}").rstrip("/")
        run_profile = profile(read)
        return cls(
            port=read.port,
            bind_host=read.bind_host,
            database_url=read.database_url,
            kafka_bootstrap_servers=read.kafka_bootstrap_servers,
            line_channel_secret=read.line_channel_secret,
            line_channel_access_token=read.line_channel_access_token,
            line_api_url=read.line_api_url,
            public_url=public_url,
            data_dir=read.data_dir,
            served_domains=None if read.served_domains is None else _names(read.served_domains),
            profile=run_profile,
            allowed_hosts=_allowed_hosts(public_url, read.allowed_hosts, run_profile),
            clock_offset=_clock_offset(read.clock_offset, run_profile),
        )


class RuntimeEnv(EnvSettings):
    """The shared variables, the same in both run modes (documented in the README)."""

    keep_blank = frozenset({"CITYHALL_SERVED_DOMAINS"})  # blank: the gateway serves no domain

    port: int = Field(Settings.port, alias="CITYHALL_PORT", gt=0, lt=65536)
    bind_host: str = Field(Settings.bind_host, alias="CITYHALL_BIND_HOST")
    database_url: str | None = Field(None, alias="DATABASE_URL")
    kafka_bootstrap_servers: str | None = Field(None, alias="KAFKA_BOOTSTRAP_SERVERS")
    line_channel_secret: str | None = Field(None, alias="LINE_CHANNEL_SECRET")
    line_channel_access_token: str | None = Field(None, alias="LINE_CHANNEL_ACCESS_TOKEN")
    line_api_url: str | None = Field(None, alias="LINE_API_URL")
    public_url: str | None = Field(None, alias="CITYHALL_PUBLIC_URL")
    """Default: `http://127.0.0.1:<port>`."""
    data_dir: Path = Field(Settings.data_dir, alias="CITYHALL_DATA_DIR")
    served_domains: str | None = Field(None, alias="CITYHALL_SERVED_DOMAINS")
    allowed_hosts: str | None = Field(None, alias="CITYHALL_ALLOWED_HOSTS")
    profile: Profile | None = Field(None, alias=PROFILE_ENV)
    clock_offset: float = Field(0.0, alias=CLOCK_OFFSET_ENV)


def _clock_offset(seconds: float, run_profile: Profile) -> timedelta:
    """A moved clock is for tests and demos: in production it would send at the wrong hours."""
    if seconds and run_profile == "production":
        raise ConfigError(f"{CLOCK_OFFSET_ENV}: the clock is moved only in development (got {seconds:g} s)")
    return timedelta(seconds=seconds)


def _allowed_hosts(public_url: str, extra: str | None, run_profile: Profile) -> frozenset[str] | None:
    """The public URL's host, `extra` (comma-separated) and in development the local names;
    `*`: no check. (IP addresses always pass: `runtime.http.HostGuard`.)"""
    names = _names(extra or "")
    if "*" in names:
        return None
    public = urlsplit(public_url).hostname
    local = LOCAL_HOSTS if run_profile == "development" else frozenset()
    return local | {n.lower() for n in names} | ({public} if public else set())


def profile(read: RuntimeEnv) -> Profile:
    """The one rule for the development tools (the LINE emulator, whose /line-api/_inspect shows
    every message to every user; the resident simulator, which signs webhooks with the channel
    secret; the simulated payment provider, whose 支払う marks a request paid with no money).

    CITYHALL_PROFILE when set; otherwise "development" only while no channel access token is
    configured, since a token is what a real channel needs. "development" beside a token sent to
    LINE itself is refused rather than warned about: a warning scrolls by, and the tools would
    still serve a real channel's residents.
    """
    if read.profile is None:
        return "production" if read.line_channel_access_token else "development"
    if read.profile == "development" and read.line_channel_access_token and talks_to_line(read.line_api_url):
        raise ConfigError(
            f"{PROFILE_ENV}: development never runs beside a real LINE channel "
            "(LINE_CHANNEL_ACCESS_TOKEN is set and LINE_API_URL is LINE's): set "
            f"{PROFILE_ENV}=production, or point LINE_API_URL at an emulator"
        )
    return read.profile


def talks_to_line(line_api_url: str | None) -> bool:
    """Whether the LINE API in use is LINE's own (unset: the SDK's default, api.line.me)."""
    host = (urlsplit(line_api_url).hostname or "") if line_api_url else "line.me"
    return host == "line.me" or host.endswith(".line.me")


def _names(value: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(name.strip() for name in value.split(",") if name.strip()))


@dataclass
class ServiceContext:
    name: str
    mode: Mode
    settings: Settings
    pool: Pool | None
    bus: Bus
    store: EventStore | None

    def require_pool(self) -> Pool:
        if self.pool is None:
            raise RuntimeError(f"service {self.name} declared no database")
        return self.pool

    def require_store(self) -> EventStore:
        if self.store is None:
            raise RuntimeError(f"service {self.name} declared no database")
        return self.store


@dataclass(frozen=True)
class Consumer:
    """An idempotent consumer of the service's: the runtime runs an `IdempotentConsumer` with
    these on the service's bus and pool."""

    group: str
    """The consumer group; also the name of its inbox and offsets (do not rename it)."""
    topics: tuple[str, ...]
    handler: Handler
    batched: bool = False
    """See `IdempotentConsumer`: only for handlers whose effects are all in the database."""
    concurrency: int = CONCURRENCY
    """Keys (residents, streams) handled at once; one key's messages stay in order."""
    prepare: Prepare | None = None
    """Network calls for a message, made before its transaction (see `IdempotentConsumer`)."""
    prepares: Callable[[Envelope], bool] | None = None
    """With `batched` and `prepare`: whether `prepare` has work for a message (see `IdempotentConsumer`)."""
    on_dead_letter: DeadLetter | None = None
    """Tells whoever waits on a message that it could not be handled."""
    handle_batch: BatchHandler | None = None
    """With `batched`: a batch's new messages in one call (see `IdempotentConsumer`)."""


@dataclass
class Running:
    """What a started service hands back to the runtime: what it has, not how to run it."""

    app: FastAPI | None = None
    endpoints: dict[str, ASGIApp] = field(default_factory=dict)
    """Exact paths (below the service's mount) answered by plain ASGI apps, ahead of FastAPI's
    middleware and routing: for a hot endpoint that uses neither (the LINE webhook)."""
    mounts: dict[str, FastAPI] = field(default_factory=dict)
    """Further apps at prefixes of their own, outside the service's mount (community's officers'
    pages at /community beside its staff pages at /staff/community); route each in deployment."""
    consumers: list[Consumer] = field(default_factory=list)
    projections: list[Projection] = field(default_factory=list)
    """Read models: the runtime creates their tables before the service serves, keeps them up
    to date in the background and rebuilds them (`cityhall projections rebuild`)."""
    relay: str | None = None
    """The name of the outbox relay that publishes the service's events (the name of its
    checkpoint: do not rename it); None for a service that publishes nothing."""
    tasks: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    """The service's own long-running loops (sweeps, dispatchers); cancelled on shutdown."""
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    ready: Callable[[], Awaitable[bool]] | None = None
    banner: list[str] = field(default_factory=list)
    """Lines the embedded run prints at start (URLs, demo logins)."""


Build = Callable[[ServiceContext], Awaitable[Running]]


@dataclass(frozen=True)
class ServiceSpec:
    """A service: how the runtime starts it, and what it declares for the other services.

    Keep the spec in a module that imports only the runtime (e.g. `cityhall/<service>/spec.py`)
    and name `build` as "module:function": the gateway and the staff portal read every installed
    spec's declarations (`cityhall.runtime.registry`) without importing the services themselves.
    """

    name: str
    mount: str
    """URL prefix, e.g. "/staff/certificates". "" joins the root app (the gateway's /callback,
    the simulator's /): such services' paths must not collide."""
    build: Build | str
    """The composition root: the function, or "module:function", imported only when the service
    starts."""
    migrations: tuple[str, ...] = ()
    """Packages whose `migrations/` folder the runtime applies (after cityhall.events')."""
    moved_from: tuple[str, ...] = ()
    """Prefixes the service was once mounted at: a request below one is redirected (308) to the
    same path below `mount`, so old links and bookmarks keep working."""
    uses_database: bool = True
    uses_bus: bool = True
    """False for tools that talk HTTP only (the emulator, the simulator): no Kafka needed alone."""
    order: int = 100
    """Mount order in the embedded run: more specific prefixes first, the root last."""
    development_only: bool = False
    """A development tool (the LINE emulator, the resident simulator, the simulated payment
    provider): it runs only in the development profile. See `profile` and `runs_in`."""
    domains: tuple[str, ...] = ()
    """The LINE domains whose intents (`intents.<domain>`) this service consumes."""
    tiles: tuple[Tile, ...] = ()
    """Its areas of the rich menu."""
    disaster_tiles: tuple[Tile, ...] = ()
    """Its areas of the disaster menu, which every resident sees while disaster mode is on."""
    departments: tuple[Department, ...] = ()
    """The staff roles it brings, with their Japanese names."""
    demo_accounts: tuple[DemoAccount, ...] = ()
    """Staff logins the embedded run creates (with generated passwords)."""
    dashboards: tuple[Dashboard, ...] = ()
    """Its staff pages, as the portal links to them."""

    def builder(self) -> Build:
        if not isinstance(self.build, str):
            return self.build
        build = pkgutil.resolve_name(self.build)
        if not callable(build):
            raise TypeError(f"service {self.name}: {self.build} is not a function")
        return build


def runs_in(spec: ServiceSpec, settings: Settings) -> bool:
    """Whether `spec` may run with `settings`: a development tool only in development."""
    return settings.profile == "development" or not spec.development_only


def installed() -> list[str]:
    """The names of the installed services (entry-point group `cityhall.services`), unloaded."""
    return sorted(ep.name for ep in entry_points(group="cityhall.services"))


def load(name: str) -> ServiceSpec:
    """One service's spec, importing only that service."""
    for ep in entry_points(group="cityhall.services", name=name):
        spec = ep.load()
        if not isinstance(spec, ServiceSpec) or spec.name != name:
            raise TypeError(f"entry point {name} is not the ServiceSpec of service {name!r}")
        return spec
    raise KeyError(name)


def discover() -> dict[str, ServiceSpec]:
    """Every installed service, by name."""
    return {name: load(name) for name in installed()}
