"""notify on a real Postgres and the EmbeddedBus, sending to the real LINE emulator over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from linebot.v3.messaging import Message, TextMessage

from cityhall.events.backoff import Backoff
from cityhall.events.bus import Bus, Record
from cityhall.events.consumer import IdempotentConsumer
from cityhall.events.db import Pool
from cityhall.events.embedded_bus import EmbeddedBus
from cityhall.events.envelope import Envelope, Event
from cityhall.events.kafka_bus import KafkaBus
from cityhall.events.store import EventStore
from cityhall.events.testing import wait_for
from cityhall.line import testing
from cityhall.line.contracts import ResidentIntent, outbound_message
from cityhall.line.netguard import network_outside_transactions  # noqa: F401 (autouse)
from cityhall.line_emulator.settings import EmulatorSettings
from cityhall.line_emulator.testing import EmulatorServer
from cityhall.notify.app import OUTBOUND_CONSUMER, Notify, Options, start
from cityhall.notify.spec import service
from cityhall.runtime.service import Running, ServiceContext, Settings
from cityhall.runtime.system import StartedService
from cityhall.runtime.testing import compose
from cityhall.web import WebConfig

HOWTO_SECTIONS = (
    "【証明書】",
    "【予約】",
    "【通報】",
    "【防災/避難所】",
    "【配信設定】",
    "【よくある質問】",
    "【市民の声】",
    "【回覧板】",
)
"""The sections the 使い方 guide must name: one per rich-menu tile, and 回覧板 (reached by typing it)."""

TOKEN = "notify-test-token"
WEB = WebConfig(session_secret="notify-tests-session-secret-0123456789")


def quick_options(**overrides: Any) -> Options:
    """Quick timeouts and backoff for tests."""
    values: dict[str, Any] = {
        "workers": 16,
        "line_timeout": 5.0,
        "backoff": Backoff(base=0.05, cap=0.5),
        "web": WEB,
        **overrides,
    }
    return Options(**values)


_counter = iter(range(10**9))


def user(n: int | None = None) -> str:
    return f"U{(n if n is not None else next(_counter) + 10**6):032x}"


def intent(kind: str, user_id: str, *, reply_token: str | None = None, **fields: Any) -> Envelope:
    return testing.intent("notify", kind, user_id, reply_token=reply_token, **fields)  # type: ignore[arg-type]


def outbound(
    to: str | Sequence[str],
    *messages: Message,
    key: str | None = None,
    reply_to: ResidentIntent | None = None,
) -> Envelope:
    return outbound_message(
        to=to,
        messages=list(messages) or [TextMessage(text="お知らせです。")],
        source="/services/test",
        idempotency_key=key or f"test-{uuid.uuid4()}",
        reply_to=reply_to,
    )


@dataclass
class Harness:
    emulator: EmulatorServer
    http: httpx.AsyncClient
    service: StartedService
    notify: Notify
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def bus(self) -> Bus:
        return self.service.context.bus

    @property
    def pool(self) -> Pool:
        return self.service.context.require_pool()

    @property
    def store(self) -> EventStore:
        return self.service.context.require_store()

    @property
    def app(self) -> FastAPI:
        assert self.service.running.app is not None
        return self.service.running.app

    @property
    def outbound(self) -> IdempotentConsumer:
        return self.service.consumers[OUTBOUND_CONSUMER]

    def run(self, *loops: Callable[[], Awaitable[None]]) -> None:
        """Start notify's loops (or only `loops`)."""
        self.tasks += [asyncio.ensure_future(loop()) for loop in loops or self.service.loops]

    async def publish(self, *envelopes: Envelope) -> None:
        records = []
        for env in envelopes:
            assert env.topic is not None and env.key is not None
            records.append(Record.of(env.topic, env.key, env))
        await self.bus.publish(records)

    async def messages(self, to: str) -> list[dict[str, Any]]:
        response = await self.http.get("/_inspect/messages", params={"to": to})
        response.raise_for_status()
        messages: list[dict[str, Any]] = response.json()["messages"]
        return messages

    async def stats(self, endpoint: str) -> dict[str, int]:
        response = await self.http.get("/_inspect/stats")
        stats: dict[str, int] = response.json()["endpoints"].get(endpoint, {})
        return stats

    async def reply_token(self, user_id: str) -> str:
        token = uuid.uuid4().hex
        response = await self.http.post(
            "/_inspect/reply-tokens", json={"replyToken": token, "userId": user_id}
        )
        response.raise_for_status()
        return token

    async def reply_to_text(self, user_id: str) -> Envelope:
        """An outbound message answering a text the resident just sent, with a fresh reply token."""
        token = await self.reply_token(user_id)
        asked = intent("text", user_id, reply_token=token, text="こんにちは").event()
        assert isinstance(asked, ResidentIntent)
        return outbound(user_id, reply_to=asked)

    async def events(self, *types: type[Event], stream: str | None = None) -> list[Event]:
        names = [t.TYPE for t in types]
        recorded = await (self.store.read_stream(stream) if stream else self.store.read_all(limit=100_000))
        return [r.envelope.event() for r in recorded if r.type in names]

    async def outcomes(self, request_id: uuid.UUID) -> list[Event]:
        return [r.envelope.event() for r in await self.store.read_stream(f"delivery-{request_id}")]

    async def settled(self, request: Envelope, count: int = 1, timeout: float = 20) -> list[Event]:
        """Wait until `request` has left the queue with `count` outcome events; return them."""

        async def done() -> bool:
            queued = await self.pool.fetchval(
                "SELECT count(*) FROM delivery_queue WHERE request_id = $1", request.id
            )
            return queued == 0 and len(await self.outcomes(request.id)) >= count

        await wait_for(done, timeout=timeout, message=f"request {request.id} settled")
        return await self.outcomes(request.id)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()


HarnessFactory = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def make_harness(fresh_database: str, tmp_path: Path) -> AsyncIterator[HarnessFactory]:
    """Build notify, composed as the runtime composes it, against a fresh database and its own
    emulator; `run=False` leaves its loops stopped."""
    made: list[Harness] = []
    async with contextlib.AsyncExitStack() as stack:

        async def make(
            emulator_settings: EmulatorSettings | None = None,
            options: Options | None = None,
            emulator_app: FastAPI | None = None,
            run: bool = True,
            kafka: str | None = None,
        ) -> Harness:
            server = stack.enter_context(
                EmulatorServer(emulator_settings or EmulatorSettings(), app=emulator_app)
            )
            bus: Bus = KafkaBus(kafka) if kafka else EmbeddedBus(fresh_database, poll_interval=0.2)
            started: list[Notify] = []

            async def build(context: ServiceContext) -> Running:
                notify, running = await start(context, options or quick_options())
                started.append(notify)
                return running

            settings = Settings(line_channel_access_token=TOKEN, line_api_url=server.url, data_dir=tmp_path)
            spec = replace(service, build=build)
            composed = await stack.enter_async_context(
                compose([spec], settings, fresh_database, bus=bus, serve=False, background=False)
            )
            http = await stack.enter_async_context(httpx.AsyncClient(base_url=server.url, timeout=10))
            harness = Harness(server, http, composed.service("notify"), started[0])
            if run:
                harness.run()
            made.append(harness)
            return harness

        yield make
        for harness in made:
            await harness.stop()


def _async(fn: Callable[[], None]) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        await asyncio.to_thread(fn)

    return run


@pytest.fixture
async def harness(make_harness: HarnessFactory) -> Harness:
    return await make_harness()
