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
import subprocess
import time

from bench.bench_audience import seed
from bench.bench_multicast import (
    against_emulator,
    multicast_stats,
    multicasts_answered,
    notify_against,
    refusals,
)
from cityhall.web import StaffUser

RESIDENTS = 1_000_000
FLOOR = RESIDENTS / 500 / 200  # seconds: LINE's multicast limit
GOAL = 11.0
TIMEOUT = 120.0
AUTHOR = StaffUser("notify-author", "広報係", frozenset({"notify-author"}))
APPROVER = StaffUser("notify-approver", "広報課長", frozenset({"notify-approver"}))


async def run(admin_dsn: str, url: str, emulator: subprocess.Popen[bytes]) -> None:
    async with notify_against(admin_dsn, url, emulator, "bench_alert") as (composed, notify, http):
        pool = composed.service("notify").context.require_pool()
        async with pool.acquire() as conn:
            # Districts 1-4 reachable (the alert's), district 5 (西町) and the blocked elsewhere. Nobody
            # moved in lately: the newcomer series sends nothing beside the alert.
            await seed(conn, RESIDENTS, districts=4, blocked=0.0, moved=0.0)
            await conn.execute(
                """INSERT INTO audience (user_id, blocked, district, interests)
                   SELECT 'V' || md5(g::text), g % 2 = 0, CASE WHEN g % 2 = 0 THEN 1 ELSE 5 END, '{1}' FROM generate_series(1, 50000) AS g"""
            )
            await conn.execute("ANALYZE audience")
        composed.system.run_background()
        while not notify.sender.active:  # the sender holds its lock and listens
            await asyncio.sleep(0.01)
        districts = ["honcho", "kita", "higashi", "minami"]
        notice_id = await notify.desk.draft(
            AUTHOR,
            kind="alert",
            title="避難指示",
            condition={"district": districts},
            texts={"ja": "市内全域に避難指示を発令しました。直ちに安全な場所へ避難してください。"},
        )
        total = RESIDENTS // 500
        approved = time.monotonic()
        await notify.desk.approve(APPROVER, notice_id)
        first, last = await multicasts_answered(notify, total, approved, TIMEOUT)
        elapsed = last - approved
        cut = await pool.fetchval("SELECT count(*) FROM notice_chunks WHERE send_id = $1", notice_id)
        stats = await multicast_stats(http)
        assert stats.get("accepted") == total and cut == total, (stats, cut)
        assert stats.get("delivered") == RESIDENTS, stats
        verdict = "met" if elapsed <= GOAL else "not met"
        print(
            f"alert to {RESIDENTS:,} residents: {total} multicasts; approval to the last accepted "
            f"multicast {elapsed:.2f} s = {elapsed / FLOOR:.3f} x the {FLOOR:.0f} s floor "
            f"(goal {GOAL:.0f} s: {verdict}); first multicast {first - approved:.3f} s after approval; "
            f"{refusals(stats)}",
            flush=True,
        )


def main() -> None:
    against_emulator(run)


if __name__ == "__main__":
    main()
