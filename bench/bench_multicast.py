"""notify's multicast rate against the LINE emulator with LINE's rate limits on (multicast 200/s).

    uv run python -m bench.bench_multicast

The emulator runs as its own process (`python -m cityhall.line_emulator`, keeping counters
only); notify runs here on the EmbeddedBus and a durable Postgres, as in the embedded run.
A few emergency-alert-sized `OutboundMessageRequested` (tens of thousands of recipients each)
go through the whole path: consumer, queue, friend look-up, chunks of 500, token bucket, HTTP.
The rate is multicast requests LINE accepted per second, from notify's first request to the
last answer; the emulator's /_inspect/stats confirms the count and that none got
429. Target: >= 95% of 200/s.
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace

import httpx
from linebot.v3.messaging import TextMessage

from bench.infra import line_emulator, postgres
from cityhall.events.embedded_bus import EmbeddedBus
from cityhall.events.localpg import create_database_async, drop_database_async
from cityhall.line.contracts import outbound_message
from cityhall.notify.app import Notify, Options, start
from cityhall.notify.spec import service
from cityhall.runtime.service import Running, ServiceContext, Settings
from cityhall.runtime.testing import Composed, compose
from cityhall.web import WebConfig

LIMIT = 200.0  # LINE's multicast limit, requests per second
REQUESTS = 20
RECIPIENTS = 60_000  # per request: 120 chunks of 500; 2,400 multicasts in all, ~12 s at the limit
TIMEOUT = 60.0


async def wait_for_emulator(http: httpx.AsyncClient, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the LINE emulator exited")
        try:
            (await http.get("/_inspect/stats")).raise_for_status()
            return
        except httpx.HTTPError:
            await asyncio.sleep(0.1)
    raise RuntimeError("the LINE emulator did not start")


async def multicast_stats(http: httpx.AsyncClient) -> dict[str, int]:
    stats: dict[str, int] = (await http.get("/_inspect/stats")).json()["endpoints"].get("multicast", {})
    return stats


def refusals(stats: dict[str, int]) -> str:
    """LINE's refusals of a run's multicasts (`multicast_stats`), as the result line says them."""
    return f"{stats.get('rateLimited', 0)} x 429, {stats.get('conflicts', 0)} x 409"


def against_emulator(run: Callable[[str, str, subprocess.Popen[bytes]], Awaitable[None]]) -> None:
    """A multicast bench's main: `run(admin_dsn, emulator_url, emulator)` on a durable Postgres
    and the LINE emulator in a process of its own."""
    with postgres() as admin_dsn, line_emulator() as (url, emulator):
        asyncio.run(run(admin_dsn, url, emulator))


@asynccontextmanager
async def notify_against(
    admin_dsn: str, url: str, emulator: subprocess.Popen[bytes], name: str
) -> AsyncIterator[tuple[Composed, Notify, httpx.AsyncClient]]:
    """notify on the EmbeddedBus and a database of its own (dropped after), sending to the emulator
    at `url`, its loops not started yet; with a client of the emulator's."""
    database = f"{name}_{uuid.uuid4().hex[:8]}"
    dsn = await create_database_async(admin_dsn, database)
    started_parts: list[Notify] = []

    async def build(context: ServiceContext) -> Running:
        notify, running = await start(context, Options(web=WebConfig(session_secret=secrets.token_hex(32))))
        started_parts.append(notify)
        return running

    try:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            await wait_for_emulator(http, emulator)
            settings = Settings(line_channel_access_token="bench", line_api_url=url)
            async with compose(
                [replace(service, build=build)],
                settings,
                dsn,
                bus=EmbeddedBus(dsn, poll_interval=0.2),
                serve=False,
                background=False,
            ) as composed:
                yield composed, started_parts[0], http
    finally:
        await drop_database_async(admin_dsn, database)


async def multicasts_answered(
    notify: Notify, total: int, started: float, timeout: float
) -> tuple[float, float]:
    """Wait until LINE has accepted `total` multicasts, as notify sees them (polled every 2 ms):
    when notify sent its first one and when the last answer came (monotonic clock)."""
    answers, sent = notify.line.answers, notify.line.requests
    first: float | None = None
    while True:
        now = time.monotonic()
        if first is None and sent["multicast"]:
            first = now
        done = answers["multicast", "accepted"] + answers["multicast", "already_accepted"]
        if done >= total and first is not None:
            return first, now
        if now - started > timeout:
            raise RuntimeError(f"only {done} of {total} multicasts after {timeout} s")
        await asyncio.sleep(0.002)


async def run(admin_dsn: str, url: str, emulator: subprocess.Popen[bytes]) -> None:
    async with notify_against(admin_dsn, url, emulator, "bench_multicast") as (composed, notify, http):
        residents = [f"U{i:032x}" for i in range(RECIPIENTS)]
        alert = TextMessage(text="【防災】大雨警報が発表されました。早めの避難をお願いします。")
        requests = [
            outbound_message(
                to=residents,
                messages=[alert],
                source="/bench",
                idempotency_key=f"alert-{uuid.uuid4()}",
            )
            for _ in range(REQUESTS)
        ]
        await composed.publish(*requests)
        total = REQUESTS * -(-RECIPIENTS // 500)

        started = time.monotonic()
        composed.system.run_background()
        # From notify's first multicast request to LINE's last answer, as notify sees them. (The
        # emulator's counters lag whenever its process falls behind, and so do answers: a
        # window that starts at the first answer would count a backlog being worked off as
        # rate.) The token bucket's opening burst of 20 is included.
        first, now = await multicasts_answered(notify, total, started, TIMEOUT)
        elapsed = now - first
        rate = (total - 1) / elapsed
        stats = await multicast_stats(http)
        assert stats.get("accepted") == total, stats
        print(
            f"multicast: {total} requests ({total * 500:,} recipients) in {elapsed:.1f} s: "
            f"{rate:.1f} requests/s = {rate / LIMIT:.1%} of LINE's {LIMIT:.0f}/s "
            f"limit; {refusals(stats)}; "
            f"all sent {now - started:.1f} s after start",
            flush=True,
        )


def main() -> None:
    against_emulator(run)


if __name__ == "__main__":
    main()
