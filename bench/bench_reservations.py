"""予約's race through the whole path on Kafka: 5,000 residents tap 確定 for one session of 100 seats.

    uv run python -m bench.bench_reservations [--residents 5000] [--seats 100]

Processes as in production (tests/integration/harness.py): the LINE emulator, `cityhall service
gateway`, `notify` and `reservations`, each with its own database, on a real Kafka. The
reservations service reads the benchmark's own catalogue: one class (防災講座), one session a day
at 10:00, `--seats` seats, no questions.

Before the clock, every resident walks the dialog to the summary through the same path, as one
signed webhook of three events (予約 → the class → tomorrow's 10:00: LINE batches a user's events
in one webhook), and waits for the summary. Then each resident's reply token is issued at the
emulator, the clock starts, and every resident taps 確定 at once: one signed webhook each, sent
on 256 connections as fast as the gateway takes them. Replies are read from the emulator's live
stream (`/_inspect/stream`, one reader for everyone). The clock stops at the last answer.

The load generator shares the two cores with what it measures, so it must cost little: aiohttp on
uvloop (httpx's connection pool took a whole core at a few hundred requests/s with 256
connections, and was what paced the race). Its own CPU is reported beside the services'.

Reported: the time from the first webhook to the last answer; decisions (answers) per second;
how many were booked and how many told the session is full (the read model and the event store
are checked too: exactly `--seats` bookings); the events the reservations store appended in the
race window; the CPU each process spent in the race per resident (bench/cpu.py: the services,
the emulator, Kafka's broker, Postgres with its backends); and, in the same run on the same
Postgres, the event store's own append rate (`bench_backbone.bench_append`: one event per append
with the expected version, 16 writers).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import uvloop

from bench.bench_backbone import WRITERS, bench_append
from bench.cpu import CpuMeter, listening
from bench.infra import kafka, postgres
from cityhall.events.db import create_pool, migrate
from cityhall.events.localpg import create_database_async
from cityhall.events.store import EventStore
from cityhall.gateway import testing as line
from cityhall.line import postback
from cityhall.line.japanese import JST
from cityhall.line.testing import content, find_postback
from tests.integration.harness import CHANNEL_SECRET, Deployment

RESOURCE = "bousai_kouza"
CONNECTIONS = 256
PREPARING = 200
REDELIVERIES = 5
JSON = {"content-type": "application/json"}
LOAD_GENERATOR = "load-generator"
"""This process, in the CPU report: measured without its children (the services it started)."""
"""Residents walking the dialog to the summary at once, before the clock."""


def catalogue(seats: int) -> str:
    return f"""
[[categories]]
code = "class"
label = "教室・講座"

[[resources]]
code = "{RESOURCE}"
category = "class"
name = "防災講座"
department = "kominkan"
place = "中央公民館 大ホール"
phone = "中央公民館 0299-00-1241"
capacity = {seats}
slot_minutes = 120
lead_hours = 0
horizon_days = 14
cutoff_hours = 0
max_active = 1
reminder_hour = 18
hold_hours = 2
opening = [{{ days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], start = "10:00", end = "12:00" }}]
"""


@dataclass
class Inbox:
    """Every message the emulator delivers, per resident, with when it arrived here."""

    arrived: dict[str, list[tuple[float, dict[str, Any]]]] = field(default_factory=lambda: defaultdict(list))
    signals: dict[str, asyncio.Event] = field(default_factory=lambda: defaultdict(asyncio.Event))

    async def read(self, emulator: str, connected: asyncio.Event) -> None:
        forever = aiohttp.ClientTimeout(total=None, sock_read=None)
        async with (
            aiohttp.ClientSession(timeout=forever) as client,
            client.get(f"{emulator}/_inspect/stream") as stream,
        ):
            async for raw_line in stream.content:
                raw = raw_line.decode().rstrip("\r\n")
                if raw.startswith(": connected"):
                    connected.set()
                if not raw.startswith("data: "):
                    continue
                item = json.loads(raw[6:])
                self.arrived[item["to"]].append((time.perf_counter(), item["message"]))
                self.signals[item["to"]].set()

    async def wait(
        self, user: str, fragment: str, since: int, timeout: float
    ) -> tuple[float, dict[str, Any]]:
        """The first message from index `since` containing `fragment`, and when it arrived."""
        deadline = time.perf_counter() + timeout
        while True:
            for at, message in self.arrived[user][since:]:
                if fragment in content(message):
                    return at, message
            signal = self.signals[user]
            signal.clear()
            left = deadline - time.perf_counter()
            if left <= 0:
                got = [content(m)[:80] for _, m in self.arrived[user]]
                raise TimeoutError(f"no {fragment!r} for {user} within {timeout} s; got {got}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(signal.wait(), left)


@dataclass
class Race:
    http: aiohttp.ClientSession
    gateway: str
    emulator: str
    inbox: Inbox
    redelivered: int = 0
    answered_in: list[float] = field(default_factory=list)
    """How long the gateway took to answer each webhook (200 once the bus has the intents)."""

    async def token(self, user: str, event: dict[str, Any]) -> None:
        """Issue the event's reply token at the emulator, as LINE knows the tokens it hands out."""
        token = {"replyToken": event["replyToken"], "userId": user}
        status = await self.post(f"{self.emulator}/_inspect/reply-tokens", json.dumps(token).encode(), JSON)
        if status != 200:
            raise RuntimeError(f"the emulator answered {status}")

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POST and read the answer; sent again on a keep-alive connection the server had just closed."""
        for attempt in range(3):
            try:
                async with self.http.post(url, data=body, headers=headers) as response:
                    await response.read()
                    return response.status
            except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError):
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def deliver(self, *events: dict[str, Any]) -> None:
        """One signed webhook; redelivered as LINE does while the gateway answers 500 (it could
        not record the events within its budget)."""
        for attempt in range(REDELIVERIES + 1):
            body, headers = line.signed(line.webhook(*events), CHANNEL_SECRET)
            posted = time.perf_counter()
            status = await self.post(f"{self.gateway}/callback", body, headers)
            self.answered_in.append(time.perf_counter() - posted)
            if status != 500 or attempt == REDELIVERIES:
                break
            self.redelivered += 1
            events = tuple(line.redelivered(e) for e in events)
            await asyncio.sleep(1.0)
        if status != 200:
            raise RuntimeError(f"the gateway answered {status}")

    async def to_summary(self, user: str, stamp: str) -> dict[str, Any]:
        """予約 → the class → the session, in one webhook; the 確定 tap (its event, token not issued)."""
        menu = line.postback(user, postback.encode("reservations", "menu"))
        draft = line_draft(menu)
        chosen = line.postback(user, postback.encode("reservations", "res", d=draft, r=RESOURCE))
        timed = line.postback(user, postback.encode("reservations", "time", d=draft, t=stamp))
        for event in (menu, chosen, timed):
            await self.token(user, event)
        await self.deliver(menu, chosen, timed)
        _at, summary = await self.inbox.wait(user, "予約内容の確認", 0, timeout=600)
        return line.postback(user, find_postback(summary, "確定"))


def line_draft(menu: dict[str, Any]) -> str:
    """The draft the dialog opens on 予約 (fixed by the tap's webhook event id, dialog.py)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"reservations:{menu['webhookEventId']}").hex


@asynccontextmanager
async def connected(url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(url, server_settings={"search_path": "svc_reservations"})
    try:
        yield conn
    finally:
        await conn.close()


async def run(
    deployment: Deployment, pg: str, bootstrap: str, residents: int, seats: int, profile_seconds: int
) -> None:
    tomorrow: date = datetime.now(JST).date() + timedelta(days=1)
    stamp = f"{tomorrow:%Y%m%d}1000"
    http = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=CONNECTIONS), timeout=aiohttp.ClientTimeout(total=60)
    )
    inbox, ready = Inbox(), asyncio.Event()
    reader = asyncio.create_task(inbox.read(deployment.emulator.url, ready))
    await asyncio.wait_for(ready.wait(), 30)
    race = Race(http, deployment.services["gateway"].url, deployment.emulator.url, inbox)
    users = [line.user_id() for _ in range(residents)]
    profilers: list[subprocess.Popen[bytes]] = []
    try:
        started = time.perf_counter()
        walking = asyncio.Semaphore(PREPARING)

        async def prepare(user: str) -> dict[str, Any]:
            async with walking:
                return await race.to_summary(user, stamp)

        taps = await asyncio.gather(*(prepare(u) for u in users))
        print(
            f"{residents} residents at the summary in {time.perf_counter() - started:.1f} s"
            f" ({race.redelivered} webhooks redelivered)",
            flush=True,
        )
        race.redelivered, race.answered_in = 0, []
        marks = {u: len(inbox.arrived[u]) for u in users}
        await asyncio.gather(*(race.token(u, tap) for u, tap in zip(users, taps, strict=True)))

        accepted: list[float] = []
        profilers = profile(deployment, profile_seconds) if profile_seconds else []
        cpu = CpuMeter(processes(deployment, pg, bootstrap), alone=[LOAD_GENERATOR])
        cpu.start()
        load_before = os.getloadavg()
        wall_start = datetime.now(JST)
        first = time.perf_counter()
        sending = asyncio.gather(*(race.deliver(tap) for tap in taps))
        sending.add_done_callback(lambda _: accepted.append(time.perf_counter()))

        async def answer(user: str) -> tuple[float, str]:
            at, message = await inbox.wait(user, "", marks[user], timeout=300)
            return at, content(message)

        answers = await asyncio.gather(*(answer(u) for u in users))
        await sending
        last = max(at for at, _ in answers)
        cpu.stop()
        wall_end = datetime.now(JST)
        load_after = os.getloadavg()
    finally:
        for profiler in profilers:
            profiler.wait()
        reader.cancel()
        await http.close()

    elapsed = last - first
    booked = sum("予約番号は" in text for _, text in answers)
    full = sum("満席" in text for _, text in answers)
    other = [text[:120] for _, text in answers if "予約番号は" not in text and "満席" not in text]
    each = sorted(at - first for at, _ in answers)
    q = statistics.quantiles(each, n=100, method="inclusive")

    async with connected(deployment.databases["reservations"]) as conn:
        made = await conn.fetchval(
            "SELECT count(*) FROM events WHERE type = 'cityhall.reservations.booking_made.v1'"
        )
        in_model = await conn.fetchval("SELECT count(*) FROM reservations_bookings WHERE status = 'booked'")
        appended = await conn.fetchval(
            "SELECT count(*) FROM events WHERE recorded_at >= $1 AND recorded_at <= $2", wall_start, wall_end
        )
    stages = {
        name: await last_recorded(deployment.databases[name], name, wall_start, wall_end)
        for name in ("gateway", "reservations", "notify")
    }
    store_rate, insert_rate = await store_baseline(pg)

    print(
        f"race on Kafka, {residents} residents for {seats} seats: first webhook → last answer {elapsed:.2f} s"
        f" (goal 15 s: {'met' if elapsed <= 15 else 'NOT met'}); {residents / elapsed:.0f} decisions/s;"
        f" the gateway accepted the last webhook after {accepted[0] - first:.2f} s"
        f" ({race.redelivered} redelivered after a 500)"
    )
    took = statistics.quantiles(race.answered_in, n=100, method="inclusive")
    print(f"  the gateway's answer to a webhook: p50 {took[49] * 1000:.0f} ms, p99 {took[98] * 1000:.0f} ms")
    print(
        f"  answers: {booked} booked, {full} told it is full, {len(other)} other {other[:3]};"
        f" one resident's answer after p50 {q[49]:.2f} s, p99 {q[98]:.2f} s"
    )
    print(f"  store: {made} BookingMade events, {in_model} booked in the read model")
    print(
        "  each service's last event of the race recorded after (from the first webhook): "
        + ", ".join(f"{name} {at:.2f} s ({count} events)" for name, (at, count) in stages.items())
    )
    print(
        f"  reservations' store appended {appended} events in the race window ({appended / elapsed:.0f}/s);"
        f" the store's own rate in this run: {store_rate:.0f} one-event appends/s ({WRITERS} writers),"
        f" plain INSERT {insert_rate:.0f}/s"
    )
    print(f"  {cpu.report(residents, 'resident')}")
    print(
        f"  load average before {load_before[0]:.1f} / after {load_after[0]:.1f}"
        f" (1 min; 5 min {load_after[1]:.1f})"
    )
    if booked != seats or made != seats or booked + full != residents:
        raise SystemExit("the race's outcome is wrong (see above)")


def processes(deployment: Deployment, pg: str, bootstrap: str) -> dict[str, int]:
    """The race's processes by name: each service, the emulator, Kafka's broker, Postgres and this one."""
    pids = {name: p.proc.pid for name, p in deployment.services.items() if p.proc is not None}
    assert deployment.emulator.proc is not None
    pids["emulator"] = deployment.emulator.proc.pid
    pids["kafka"] = listening(bootstrap)
    pids["postgres"] = listening(pg)
    pids[LOAD_GENERATOR] = os.getpid()  # webhooks out, the emulator's stream in (its children apart)
    return pids


def profile(deployment: Deployment, seconds: int) -> list[subprocess.Popen[bytes]]:
    """py-spy (if installed) records each service for `seconds` from the race's start: collapsed
    stacks in the logs directory, one file per service."""
    spy = shutil.which("py-spy")
    if spy is None:
        print("--profile: py-spy is not installed (uv tool install py-spy)")
        return []
    started = []
    targets = {name: p.proc.pid for name, p in deployment.services.items() if p.proc is not None}
    targets[LOAD_GENERATOR] = os.getpid()
    for name, pid in targets.items():
        output = deployment.log_dir / f"{name}.profile.txt"
        argv = [spy, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "50"]
        argv += ["--format", "raw", "--output", str(output)]
        started.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return started


async def last_recorded(dsn: str, service: str, start: datetime, end: datetime) -> tuple[float, int]:
    """When `service`'s store recorded its last event of the window (seconds after `start`), and how many."""
    conn = await asyncpg.connect(dsn, server_settings={"search_path": f"svc_{service}"})
    try:
        row = await conn.fetchrow(
            "SELECT max(recorded_at) AS last, count(*) AS n FROM events WHERE recorded_at BETWEEN $1 AND $2",
            start, end,
        )  # fmt: skip
    finally:
        await conn.close()
    return ((row["last"] - start).total_seconds() if row["last"] else float("nan")), row["n"]


async def store_baseline(pg: str) -> tuple[float, float]:
    """The event store's append rate on the same Postgres, right after the race."""
    dsn = await create_database_async(pg, f"bench_store_{int(time.time())}")
    pool = await create_pool(dsn, "bench", max_size=WRITERS + 4)
    try:
        await migrate(pool, ["cityhall.events"])
        return await bench_append(EventStore(pool), pool, 300)
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--residents", type=int, default=5000)
    parser.add_argument("--seats", type=int, default=100)
    parser.add_argument(
        "--profile", type=int, default=0, metavar="SECONDS", help="record each service with py-spy"
    )
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="bench-reservations-"))
    print(f"process logs: {logs}")
    file = logs / "catalogue.toml"
    file.write_text(catalogue(args.seats), encoding="utf-8")
    with postgres() as pg, kafka() as bootstrap:
        deployment = Deployment(pg, bootstrap, logs)
        deployment.service("gateway")
        deployment.service("notify")
        deployment.service("reservations", env={"CITYHALL_RESERVATIONS_CATALOGUE": str(file)})
        with deployment:
            race = run(deployment, pg, bootstrap, args.residents, args.seats, args.profile)
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                runner.run(race)


if __name__ == "__main__":
    main()
