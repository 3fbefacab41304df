"""Composes services into one ASGI app with their background loops.

The embedded run composes every installed service on one EmbeddedBus and one
Postgres (a schema each); `cityhall service <name>` composes one service on Kafka
with its own database. Both go through `System`, so the two modes differ only in
what they are given.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Receive, Scope, Send

from cityhall.events import telemetry
from cityhall.events.backoff import RESTART
from cityhall.events.bus import Bus, Record, Subscription
from cityhall.events.consumer import IdempotentConsumer
from cityhall.events.db import Pool, create_pool, migrate
from cityhall.events.projection import ProjectionRunner
from cityhall.events.relay import OutboxRelay
from cityhall.events.store import EventStore
from cityhall.runtime.http import DEFAULT_MAX_BODY, HostGuard, SecurityHeaders
from cityhall.runtime.service import Mode, Running, ServiceContext, ServiceSpec, Settings

log = logging.getLogger("cityhall")


def schema_for(service: str) -> str:
    return "svc_" + service.replace("-", "_")


Loop = Callable[[], Awaitable[None]]


@dataclass
class StartedService:
    """A built service and what the runtime made of its `Running`."""

    spec: ServiceSpec
    context: ServiceContext
    running: Running
    consumers: dict[str, IdempotentConsumer] = field(default_factory=dict)
    """By group."""
    projections: dict[str, ProjectionRunner] = field(default_factory=dict)
    """By projection name."""
    relay: OutboxRelay | None = None

    @property
    def loops(self) -> list[Loop]:
        """Every background loop: consumers, relay, projections, then the service's own."""
        return [
            *(c.run for c in self.consumers.values()),
            *([self.relay.run] if self.relay is not None else []),
            *(r.run for r in self.projections.values()),
            *self.running.tasks,
        ]


@dataclass
class System:
    settings: Settings
    mode: Mode
    bus: Bus
    dsn: str | None
    services: list[StartedService] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self, specs: Sequence[ServiceSpec]) -> None:
        await self.bus.start()
        if self.mode == "embedded":
            # Every service runs here: what they consume is what is served.
            served = tuple(sorted({domain for spec in specs for domain in spec.domains}))
            self.settings = replace(self.settings, served_domains=served)
        for spec in sorted(specs, key=lambda s: s.order):
            self.services.append(await self._build(spec))

    async def _build(self, spec: ServiceSpec) -> StartedService:
        pool = store = None
        if spec.uses_database:
            if self.dsn is None:
                raise SystemExit(f"service {spec.name} needs DATABASE_URL")
            pool = await create_pool(self.dsn, schema_for(spec.name), max_size=10)
            await migrate(pool, ["cityhall.events", *spec.migrations])
            store = EventStore(pool)
        context = ServiceContext(spec.name, self.mode, self.settings, pool, self.bus, store)
        try:
            running = await spec.builder()(context)
        except BaseException:
            # A service that refuses to start (SystemExit naming a setting) leaves no pool behind
            # to fail noisily once the database is gone.
            if pool is not None:
                await pool.close()
            raise
        started = StartedService(spec, context, running)
        if running.consumers:
            pool = context.require_pool()
            started.consumers = {
                c.group: IdempotentConsumer(
                    c.group,
                    c.topics,
                    c.handler,
                    bus=self.bus,
                    pool=pool,
                    batched=c.batched,
                    concurrency=c.concurrency,
                    prepare=c.prepare,
                    prepares=c.prepares,
                    on_dead_letter=c.on_dead_letter,
                    handle_batch=c.handle_batch,
                )
                for c in running.consumers
            }
        if running.projections:
            store = context.require_store()
            started.projections = {p.name: ProjectionRunner(store, p) for p in running.projections}
            for runner in started.projections.values():
                await runner.ensure()  # the tables exist before anything reads them
        if running.relay is not None:
            started.relay = OutboxRelay(context.require_store(), self.bus, name=running.relay)
        return started

    def service(self, name: str) -> StartedService:
        for service in self.services:
            if service.spec.name == name:
                return service
        raise KeyError(name)

    def run_background(self, without: Sequence[Loop] = ()) -> None:
        """Start every service's background loops but those in `without` (a test runs a sweep
        itself when it means to)."""
        for service in self.services:
            for loop in service.loops:
                if loop in without:
                    continue
                name = f"{service.spec.name}:{getattr(loop, '__qualname__', 'task')}"
                self._tasks.append(asyncio.create_task(supervise(name, loop), name=name))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for service in reversed(self.services):
            for hook in service.running.on_stop:
                with contextlib.suppress(Exception):
                    await hook()
            if service.context.pool is not None:
                await service.context.pool.close()
        await self.bus.stop()

    async def ready(self) -> dict[str, bool]:
        status: dict[str, bool] = {}
        for service in self.services:
            ok = True
            try:
                if service.context.pool is not None:
                    await service.context.pool.fetchval("SELECT 1")
                if service.running.ready is not None:
                    ok = await service.running.ready()
            except Exception:
                ok = False
            status[service.spec.name] = ok
        status["background"] = all(not t.done() for t in self._tasks)
        return status

    def asgi(self) -> ASGIApp:
        """The one app: the `Host` check (when `settings.allowed_hosts` is set), the services'
        endpoints, then health, readiness and metrics, then each service at its prefix; the
        FastAPI part with the security headers and the default body bound (`runtime.http`)."""
        alone = self.mode == "distributed" and len(self.services) == 1
        tracing = telemetry.configure(self.services[0].spec.name if alone else "cityhall") is not None
        # Traced by OpenTelemetry's FastAPI instrumentation when tracing is on; FastAPI's own
        # telemetry stays off, so requests are not traced twice and cost nothing when it is off.
        app = FastAPI(
            title="Pocket City Hall",
            docs_url=None,
            redoc_url=None,
            openapi_url=None,
            telemetry={"tracing": False, "metrics": False, "logs": False},
            max_body_size=DEFAULT_MAX_BODY,
        )
        app.add_middleware(SecurityHeaders)

        @app.get("/healthz", include_in_schema=False)
        async def healthz() -> dict[str, str]:
            return {"status": "ok"}

        @app.get("/readyz", include_in_schema=False)
        async def readyz() -> Response:
            status = await self.ready()
            return JSONResponse(status, status_code=200 if all(status.values()) else 503)

        @app.get("/metrics", include_in_schema=False)
        async def metrics() -> Response:
            return PlainTextResponse(generate_latest(), media_type=CONTENT_TYPE_LATEST)

        # Longer prefixes first so that no mount shadows a more specific one. Services with
        # the empty prefix (the gateway's /callback, the simulator's /) share the root: their
        # routes join the root app, after its own.
        apps: list[tuple[str, ASGIApp | None, str]] = [
            (s.spec.mount, s.running.app, s.spec.name) for s in self.services
        ]
        apps += [
            (prefix, sub, f"{s.spec.name}{prefix}")
            for s in self.services
            for prefix, sub in s.running.mounts.items()
        ]
        # A dashboard's former address answers with a redirect to where it lives now.
        apps += [
            (old, MovedTo(old, s.spec.mount), f"{s.spec.name}{old}")
            for s in self.services
            for old in s.spec.moved_from
        ]
        for mount, sub, name in sorted(apps, key=lambda a: -len(a[0])):
            if sub is None:
                continue
            if mount:
                app.mount(mount, sub, name=name)
            else:
                assert isinstance(sub, FastAPI)  # only a service's own app has the empty prefix
                app.router.routes.extend(sub.router.routes)
                app.exception_handlers.update(sub.exception_handlers)
        if tracing:
            from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

            FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics")
        endpoints = {
            service.spec.mount + path: endpoint
            for service in self.services
            for path, endpoint in service.running.endpoints.items()
        }
        if tracing:
            from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

            endpoints = {path: OpenTelemetryMiddleware(e) for path, e in endpoints.items()}
        served: ASGIApp = ExactPaths(endpoints, app) if endpoints else app
        allowed = self.settings.allowed_hosts
        return served if allowed is None else HostGuard(served, allowed)


class ExactPaths:
    """Sends HTTP requests for the paths of `endpoints` straight to them, all others to `app`.

    FastAPI's middleware stack and router cost a webhook request more than its own signature
    check; this costs a dictionary look-up.
    """

    def __init__(self, endpoints: dict[str, ASGIApp], app: ASGIApp) -> None:
        self.endpoints, self.app = endpoints, app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self.endpoints.get(scope["path"]) if scope["type"] == "http" else None
        await (endpoint or self.app)(scope, receive, send)


class MovedTo:
    """Redirects a request below a former mount (`old`) to the same path and query below `mount`."""

    def __init__(self, old: str, mount: str) -> None:
        self.old, self.mount = old, mount

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        root, path = scope.get("root_path", ""), scope["path"]
        rest = path[len(root) :] if path.startswith(root) else path
        outer = root.removesuffix(self.old)  # a proxy's own prefix, if any
        query = scope.get("query_string", b"").decode("latin-1")
        target = f"{outer}{self.mount}{rest or '/'}" + (f"?{query}" if query else "")
        await RedirectResponse(target, status_code=308)(scope, receive, send)


class UnusedBus(Bus):
    """The bus of a service that declared it needs none (`uses_bus=False`): any use is a bug."""

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def publish(self, records: Sequence[Record], *, timeout: float = 10.0) -> None:
        raise RuntimeError("this service declared uses_bus=False")

    def subscribe(self, group: str, topics: Sequence[str], pool: Pool) -> Subscription:
        raise RuntimeError("this service declared uses_bus=False")


async def supervise(name: str, loop: Callable[[], Awaitable[None]]) -> None:
    """Run a background loop forever: a crash is logged and the loop restarted after a backoff."""
    crashes = 0
    while True:
        try:
            await loop()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            crashes += 1
            delay = RESTART.delay(crashes)
            log.exception("background loop %s crashed; restarting in %.1fs", name, delay)
            await asyncio.sleep(delay)
