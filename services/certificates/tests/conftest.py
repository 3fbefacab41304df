"""certificates on a real Postgres and the EmbeddedBus, with the real LINE emulator, notify delivering
the replies, and the simulated payment provider: the embedded run's parts, composed in the test.

Residents act by publishing `ResidentIntent`s on `intents.certificates` (what the gateway does);
what they read is what arrived at the emulator. Staff act over HTTP with a signed session cookie.
The certificates service reads time from a `Clock` the test can move forward.
"""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from PIL import Image, ImageDraw

from cityhall.certificates import app as certificates_app
from cityhall.certificates.app import Certificates, Options
from cityhall.certificates.events import request_stream
from cityhall.events.backoff import Backoff
from cityhall.events.bus import Record
from cityhall.events.db import Pool, create_pool, migrate
from cityhall.events.embedded_bus import EmbeddedBus
from cityhall.events.envelope import Envelope, Event
from cityhall.events.localpg import free_port
from cityhall.events.store import EventStore
from cityhall.events.testing import wait_for
from cityhall.line.contracts import ResidentIntent, intent_id, intents_topic
from cityhall.line_emulator.testing import EmulatorServer
from cityhall.notify import app as notify_app
from cityhall.payment_simulator import app as paysim
from cityhall.runtime.service import ServiceContext, Settings
from cityhall.web import StaffUser

TOKEN = "certificates-test-token"
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

CLERK = StaffUser("cert-clerk", "証明書係 市川", frozenset({"certificates"}))
CLERK2 = StaffUser("cert-clerk2", "証明書係 浦安", frozenset({"certificates"}))
ADMIN = StaffUser("cert-admin", "証明書係長 渋谷", frozenset({"certificates", "certificates-admin"}))
ROADS = StaffUser("roads-clerk", "道路管理課 品川", frozenset({"roads"}))


def webhook_event_id() -> str:
    value = uuid.uuid4().int >> 2
    return "".join(_ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(26)))


def new_user() -> str:
    return "U" + uuid.uuid4().hex


def licence_photo(kind: str = "JPEG", text: str = "運転免許証") -> bytes:
    """A small picture standing in for the front of an ID document."""
    image = Image.new("RGB", (480, 300), (232, 240, 228))
    draw = ImageDraw.Draw(image)
    draw.rectangle((10, 10, 470, 290), outline=(40, 90, 60), width=4)
    draw.rectangle((330, 70, 450, 230), fill=(180, 190, 200))
    draw.text((30, 30), text.encode("ascii", "replace").decode(), fill=(20, 40, 20))
    out = io.BytesIO()
    image.save(out, format=kind)
    return out.getvalue()


class Clock:
    """Now, plus however far the test moved it."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


def find_postback(message: dict[str, Any], label: str) -> str:
    """The postback data of the button or quick reply labelled `label` anywhere in a message."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            action = node.get("action")
            if isinstance(action, dict) and action.get("label") == label and action.get("type") == "postback":
                found.append(action["data"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message)
    if not found:
        raise AssertionError(
            f"no postback labelled {label!r} in {json.dumps(message, ensure_ascii=False)[:600]}"
        )
    return found[0]


def find_uri(message: dict[str, Any], label: str) -> str:
    text = json.dumps(message, ensure_ascii=False)
    data = json.loads(text)
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            action = node.get("action")
            if isinstance(action, dict) and action.get("type") == "uri" and action.get("label") == label:
                return str(action["uri"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    raise AssertionError(f"no uri action labelled {label!r}")


def content(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False)


@dataclass
class Resident:
    """One LINE user, acting through intents and reading what the emulator delivered."""

    harness: Harness
    user_id: str

    async def messages(self) -> list[dict[str, Any]]:
        response = await self.harness.line.get("/_inspect/messages", params={"to": self.user_id})
        response.raise_for_status()
        return [m["message"] for m in response.json()["messages"]]

    async def count(self) -> int:
        return len(await self.messages())

    async def _intent(self, kind: str, **fields: Any) -> int:
        mark = await self.count()
        token = uuid.uuid4().hex
        response = await self.harness.line.post(
            "/_inspect/reply-tokens", json={"replyToken": token, "userId": self.user_id}
        )
        response.raise_for_status()
        event_id = webhook_event_id()
        intent = ResidentIntent(
            webhook_event_id=event_id,
            user_id=self.user_id,
            domain="certificates",
            kind=kind,  # type: ignore[arg-type]
            timestamp=datetime.now(UTC),
            reply_token=token,
            **fields,
        )
        envelope = Envelope.wrap(
            intent,
            source="/services/gateway",
            subject=f"intent-{event_id}",
            id=intent_id(event_id),
            topic=intents_topic("certificates"),
            key=self.user_id,
        )
        await self.harness.publish(envelope)
        return mark

    async def expect(self, fragment: str, since: int = 0, timeout: float = 20) -> dict[str, Any]:
        """The first message from index `since` that contains `fragment` (waits for it)."""
        found: list[dict[str, Any]] = []

        async def arrived() -> bool:
            found[:] = [m for m in (await self.messages())[since:] if fragment in content(m)]
            return bool(found)

        await wait_for(arrived, timeout=timeout, message=f"a message with {fragment!r} for {self.user_id}")
        return found[0]

    async def tap(self, data: str, expect: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        mark = await self._intent("postback", postback_data=data, postback_params=params)
        return await self.expect(expect, since=mark)

    async def say(self, text: str, expect: str) -> dict[str, Any]:
        mark = await self._intent("text", text=text)
        return await self.expect(expect, since=mark)

    async def send_photo(self, data: bytes, expect: str, content_type: str = "image/jpeg") -> dict[str, Any]:
        stored = await self.harness.line.post(
            "/_inspect/content", content=data, headers={"content-type": content_type}
        )
        stored.raise_for_status()
        mark = await self._intent("image", message_id=stored.json()["messageId"])
        return await self.expect(expect, since=mark)


@dataclass
class Harness:
    url: str
    emulator: EmulatorServer
    line: httpx.AsyncClient
    bus: EmbeddedBus
    pool: Pool
    store: EventStore
    cert: Certificates
    clock: Clock
    provider: paysim.Provider
    sim_pool: Pool
    loops: list[Callable[[], Awaitable[None]]]
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def resident(self) -> Resident:
        return Resident(self, new_user())

    async def publish(self, *envelopes: Envelope) -> None:
        records = []
        for env in envelopes:
            assert env.topic is not None and env.key is not None
            records.append(Record.of(env.topic, env.key, env))
        await self.bus.publish(records)

    def http(self) -> httpx.AsyncClient:
        client = httpx.AsyncClient(base_url=self.url, timeout=20, follow_redirects=False)
        self.clients.append(client)
        return client

    def staff(self, user: StaffUser) -> tuple[httpx.AsyncClient, str]:
        """A browser signed in as `user` (the portal's session cookie) and its CSRF token."""
        token, session = self.cert.auth.sessions.issue(user)
        client = self.http()
        client.cookies.set("cityhall_staff", token)
        return client, self.cert.auth.sign(f"session:{session.sid}")

    async def events(self, request_id: uuid.UUID) -> list[Event]:
        return [r.envelope.event() for r in await self.store.read_stream(request_stream(request_id))]

    async def all_events(self, *types: type[Event]) -> list[Envelope]:
        names = {t.TYPE for t in types}
        return [r.envelope for r in await self.store.read_all(limit=100_000) if not names or r.type in names]

    async def request_row(self, request_id: uuid.UUID) -> dict[str, Any] | None:
        row = await self.pool.fetchrow("SELECT * FROM certificate_requests WHERE request_id = $1", request_id)
        return dict(row) if row else None

    async def wait_status(self, request_id: uuid.UUID, status: str, timeout: float = 20) -> dict[str, Any]:
        async def reached() -> bool:
            row = await self.request_row(request_id)
            return row is not None and row["status"] == status

        await wait_for(reached, timeout=timeout, message=f"request {request_id} {status}")
        row = await self.request_row(request_id)
        assert row is not None
        return row

    async def sweep(self) -> None:
        """A sweep as it runs after the time the test clock skipped: the projections it reads
        from have applied every event recorded so far."""
        for runner in self.cert.projections:
            await runner.catch_up()
        await self.cert.housekeeping.sweep()

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        _done, pending = await asyncio.wait(self.tasks, timeout=20) if self.tasks else (set(), set())
        assert not pending, f"background loops still running 20 s after cancel: {pending}"
        for client in self.clients:
            await client.aclose()


async def _serve(app: FastAPI, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", timeout_graceful_shutdown=2
        )
    )
    task = asyncio.create_task(server.serve())
    await wait_for(lambda: server.started or task.done(), timeout=10, message="the test server listens")
    if task.done():
        task.result()
    return server, task


@pytest.fixture
async def harness(fresh_database: str, tmp_path: Path) -> AsyncIterator[Harness]:
    cleanup: list[Callable[[], Awaitable[None]]] = []
    emulator = EmulatorServer()
    emulator.start()
    try:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        settings = Settings(
            port=port,
            public_url=url,
            line_channel_access_token=TOKEN,
            line_api_url=emulator.url,
            data_dir=tmp_path / "data",
        )
        bus = EmbeddedBus(fresh_database, poll_interval=0.2)
        await bus.start()
        cleanup.append(bus.stop)

        async def service_pool(schema: str, packages: list[str]) -> Pool:
            pool = await create_pool(fresh_database, schema, max_size=10)

            async def close() -> None:
                try:
                    await asyncio.wait_for(pool.close(), 20)
                except TimeoutError:
                    tasks = "\n".join(repr(t) for t in asyncio.all_tasks())
                    raise AssertionError(f"a {schema} connection was still in use; tasks:\n{tasks}") from None

            cleanup.append(close)
            await migrate(pool, ["cityhall.events", *packages])
            return pool

        pool = await service_pool("svc_certificates", ["cityhall.web", "cityhall.certificates"])
        store = EventStore(pool)
        clock = Clock()
        cert, running = await certificates_app.start(
            ServiceContext("certificates", "embedded", settings, pool, bus, store),
            Options(sweep_interval=0.2),
            clock=clock,
        )
        cleanup.extend(running.on_stop)
        loops = [t for t in running.tasks if t != cert.housekeeping.run]  # tests sweep when they mean to

        sim_pool = await service_pool("svc_payments_sim", ["cityhall.payment_simulator"])
        provider, sim_running = await paysim.start(
            ServiceContext("payments-sim", "embedded", settings, sim_pool, bus, None)
        )
        cleanup.extend(sim_running.on_stop)
        assert sim_running.app is not None

        notify_pool = await service_pool("svc_notify", ["cityhall.notify"])
        _notify, notify_running = await notify_app.start(
            ServiceContext("notify", "embedded", settings, notify_pool, bus, EventStore(notify_pool)),
            notify_app.Options(workers=4, line_timeout=5.0, backoff=Backoff(base=0.05, cap=0.5)),
        )
        cleanup.extend(notify_running.on_stop)

        root = FastAPI()
        root.mount("/pay", sim_running.app)
        assert running.app is not None
        root.mount("/staff/certificates", running.app)
        server, server_task = await _serve(root, port)

        harness = Harness(
            url=url,
            emulator=emulator,
            line=httpx.AsyncClient(base_url=emulator.url, timeout=20),
            bus=bus,
            pool=pool,
            store=store,
            cert=cert,
            clock=clock,
            provider=provider,
            sim_pool=sim_pool,
            loops=[*loops, *sim_running.tasks, *notify_running.tasks],
        )
        harness.clients.append(harness.line)
        harness.tasks = [asyncio.create_task(loop()) for loop in harness.loops]
        try:
            yield harness
        finally:
            await harness.stop()
            server.should_exit = True
            await asyncio.wait_for(server_task, 10)
            for step in reversed(cleanup):
                try:
                    await asyncio.wait_for(step(), 20)
                except TimeoutError as exc:
                    raise AssertionError(f"teardown step {step!r} did not finish within 20 s") from exc
    finally:
        await asyncio.to_thread(emulator.stop)
