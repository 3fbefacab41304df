"""What `System.asgi` puts in front of every service: the Host check (DNS rebinding), the
security headers, and the default request-body bound."""

from __future__ import annotations

import httpx
from fastapi import FastAPI, Request, Response
from starlette.types import Receive, Scope, Send

from cityhall.runtime.http import DEFAULT_MAX_BODY, LOCAL_HOSTS, hostname
from cityhall.runtime.service import Running, ServiceContext, ServiceSpec, Settings
from cityhall.runtime.system import System, UnusedBus


async def hook(scope: Scope, receive: Receive, send: Send) -> None:
    await Response("hooked")(scope, receive, send)


async def build(context: ServiceContext) -> Running:
    app = FastAPI()

    @app.get("/page")
    async def page() -> Response:
        return Response("<p>ok</p>", media_type="text/html")

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    side = FastAPI()  # a second app at a prefix of its own (community's officers' pages)

    @side.get("/page")
    async def side_page(request: Request) -> Response:
        return Response(f"side at {request.scope['root_path']}", media_type="text/plain")

    return Running(app=app, endpoints={"/hook": hook}, mounts={"/demo-side": side})


SPEC = ServiceSpec(name="demo", mount="/demo", build=build, uses_database=False, uses_bus=False)


async def composed(settings: Settings) -> httpx.AsyncClient:
    system = System(settings, "distributed", UnusedBus(), None)
    await system.start([SPEC])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=system.asgi()), base_url="http://city.example")


async def test_an_unknown_host_is_refused_before_any_service_runs() -> None:
    settings = Settings(allowed_hosts=frozenset({"city.example"}) | LOCAL_HOSTS)
    async with await composed(settings) as client:
        assert (await client.get("/demo/page")).status_code == 200
        for host in ("evil.example", "city.example.evil.example", "127.0.0.1.nip.io"):
            for path in ("/demo/page", "/demo/hook", "/healthz"):
                response = await client.get(path, headers={"host": host})
                assert response.status_code == 400, (host, path)
        for host in ("CITY.example:8080", "localhost:8000", "[::1]:8000", "10.1.2.3:8000"):
            assert (await client.get("/demo/hook", headers={"host": host})).text == "hooked", host


async def test_every_page_says_it_may_not_be_framed_nor_sniffed() -> None:
    async with await composed(Settings()) as client:
        page = await client.get("/demo/page")
        policy = page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy
        assert "script-src 'self';" in policy and "unsafe-inline" not in policy
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"] == "same-origin"
        assert (await client.get("/nowhere")).headers["x-content-type-options"] == "nosniff"


async def test_a_body_over_the_default_bound_gets_413_as_it_streams() -> None:
    sent = 0

    async def chunks() -> object:
        nonlocal sent
        for _ in range(64):  # 4 MiB, without a Content-Length
            sent += 1
            yield b"x" * 65536

    async with await composed(Settings()) as client:
        small = await client.post("/demo/echo", content=b"x" * 1000)
        assert small.json() == {"bytes": 1000}
        large = await client.post("/demo/echo", content=chunks())  # type: ignore[arg-type]
        assert large.status_code == 413
        assert sent <= DEFAULT_MAX_BODY // 65536 + 1  # reading stopped once over the bound
        declared = await client.post("/demo/echo", content=b"x" * (DEFAULT_MAX_BODY + 1))
        assert declared.status_code == 413


def test_allowed_hosts_come_from_the_public_url_and_the_setting() -> None:
    settings = Settings.from_env(
        {"CITYHALL_PUBLIC_URL": "https://City.Example/", "CITYHALL_ALLOWED_HOSTS": "staff-portal, gateway"}
    )
    assert settings.allowed_hosts == LOCAL_HOSTS | {"city.example", "staff-portal", "gateway"}
    assert Settings.from_env({"CITYHALL_ALLOWED_HOSTS": "*"}).allowed_hosts is None
    production = {"CITYHALL_PROFILE": "production", "CITYHALL_PUBLIC_URL": "https://city.example"}
    assert Settings.from_env(production).allowed_hosts == {"city.example"}  # no localhost
    assert hostname("[::1]:8000") == "::1" and hostname("Example.org:80") == "example.org"


async def test_a_services_further_apps_are_served_at_their_own_prefixes() -> None:
    async with await composed(Settings()) as client:
        assert (await client.get("/demo-side/page")).text == "side at /demo-side"
        assert (await client.get("/demo/page")).status_code == 200  # and the main app still at its own
