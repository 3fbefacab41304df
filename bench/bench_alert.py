"""An emergency alert to 1,000,000 residents against the LINE emulator with LINE's limits on.

    uv run python -m bench.bench_alert

The emulator runs as its own process (counters only, LINE's rate limits: multicast 200/s);
notify runs here on the EmbeddedBus and a durable Postgres, as in the embedded run, with its
sender loop. The code table holds 1,000,000 reachable residents in the districts the alert
names, and others it must not reach (another district, blocked residents). The clock starts
just before the approver's approval (`Desk.approve`: the command, the `notice_sends` row, the
NOTIFY) and stops at LINE's last accepted multicast, as notify sees it. LINE's multicast limit
(500 recipients, 200 requests/s) sets a floor of 10 s for 2,000 multicasts; the goal is 11 s.
The emulator's counters confirm 2,000 accepted, 1,000,000 recipients, none twice.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
import uuid
from dataclasses import replace

import httpx

from bench.bench_audience import seed
from bench.bench_multicast import multicast_stats, wait_for_emulator
from bench.infra import postgres
from cityhall.events.embedded_bus import EmbeddedBus
from cityhall.events.localpg import create_database_async, drop_database_async, free_port
from cityhall.notify.app import Notify, Options, start
from cityhall.notify.spec import service
from cityhall.runtime.service import Running, ServiceContext, Settings
from cityhall.runtime.testing import compose
from cityhall.web import StaffUser, WebConfig

RESIDENTS = 1_000_000
FLOOR = RESIDENTS / 500 / 200  # seconds: LINE's multicast limit
GOAL = 11.0
TIMEOUT = 120.0
AUTHOR = StaffUser("notify-author", "広報係", frozenset({"notify-author"}))
APPROVER = StaffUser("notify-approver", "広報課長", frozenset({"notify-approver"}))


async def run(admin_dsn: str, url: str, emulator: subprocess.Popen[bytes]) -> None:
    name = f"bench_alert_{uuid.uuid4().hex[:8]}"
    dsn = await create_database_async(admin_dsn, name)
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
                notify = started_parts[0]
                pool = composed.service("notify").context.require_pool()
                async with pool.acquire() as conn:
                    # Districts 1-9 reachable (the alert's), district 10 and the blocked elsewhere.
                    await seed(conn, RESIDENTS, districts=9, blocked=0.0)
                    await conn.execute(
                        """INSERT INTO audience (user_id, blocked, district, school, interests)
                           SELECT 'V' || md5(g::text), g % 2 = 0, CASE WHEN g % 2 = 0 THEN 1 ELSE 10 END,
                                  1, '{1}' FROM generate_series(1, 50000) AS g"""
                    )
                    await conn.execute("ANALYZE audience")
                composed.system.run_background()
                await asyncio.sleep(1.0)  # the sender holds its lock and listens
                districts = ["ekimae-1", "ekimae-2", "motomachi", "kawabe-1", "kawabe-2", "minato",
                             "sakuragaoka", "midorino", "yamate"]  # fmt: skip
                notice_id = await notify.desk.draft(
                    AUTHOR,
                    kind="alert",
                    title="避難指示",
                    condition={"district": districts},
                    texts={"ja": "市内全域に避難指示を発令しました。直ちに安全な場所へ避難してください。"},
                )
                total = RESIDENTS // 500
                answers, sent = notify.line.answers, notify.line.requests
                approved = time.monotonic()
                await notify.desk.approve(APPROVER, notice_id)
                first: float | None = None
                while True:
                    now = time.monotonic()
                    if first is None and sent["multicast"]:
                        first = now
                    done = answers["multicast", "accepted"] + answers["multicast", "already_accepted"]
                    if done >= total:
                        break
                    if now - approved > TIMEOUT:
                        raise RuntimeError(f"only {done} of {total} multicasts after {TIMEOUT} s")
                    await asyncio.sleep(0.002)
                elapsed = now - approved
                assert first is not None
                cut = await pool.fetchval("SELECT count(*) FROM notice_chunks WHERE send_id = $1", notice_id)
                stats = await multicast_stats(http)
                assert stats.get("accepted") == total and cut == total, (stats, cut)
                assert stats.get("delivered") == RESIDENTS, stats
                verdict = "met" if elapsed <= GOAL else "not met"
                print(
                    f"alert to {RESIDENTS:,} residents: {total} multicasts; approval to the last accepted "
                    f"multicast {elapsed:.2f} s = {elapsed / FLOOR:.3f} x the {FLOOR:.0f} s floor "
                    f"(goal {GOAL:.0f} s: {verdict}); first multicast {first - approved:.3f} s after approval; "
                    f"{stats.get('rateLimited', 0)} x 429, {stats.get('conflicts', 0)} x 409",
                    flush=True,
                )
    finally:
        await drop_database_async(admin_dsn, name)


def main() -> None:
    port = free_port()
    # Counters only (no per-user history), LINE's default rate limits on.
    env = {**os.environ, "LINE_EMULATOR_MAX_MESSAGES_PER_USER": "0", "LINE_EMULATOR_RATE_LIMITS": ""}
    with postgres() as admin_dsn:
        emulator = subprocess.Popen(
            [sys.executable, "-m", "cityhall.line_emulator", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
        )
        try:
            asyncio.run(run(admin_dsn, f"http://127.0.0.1:{port}", emulator))
        finally:
            emulator.terminate()
            emulator.wait(timeout=10)


if __name__ == "__main__":
    main()
