"""通報's intake through the whole path on Kafka: reports per second.

    uv run python -m bench.bench_reports_intake [--residents 40]

Processes as in production (tests/integration/harness.py): the LINE emulator, `cityhall service
gateway`, `notify` and `reports`, each with its own database, on a real Kafka. Every resident
reports at once, through LINE's whole dialog (signed webhooks to the gateway; replies read at the
emulator): tile → category → a photo (downloaded from the emulator, stripped and resized) → 次へ
→ a location (a random point of the town; if a nearby report is offered, 別の件です) → なし →
送信 → the receipt. The rate is receipts per second of wall-clock, from the first tap to the last
receipt; each resident's own time from tile to receipt is reported too.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import statistics
import tempfile
import time
from pathlib import Path

from PIL import Image

from bench.infra import kafka, postgres
from cityhall import town
from cityhall.line.testing import Resident, find_postback
from cityhall.reports.categories import CATEGORIES
from tests.integration.harness import Deployment, LineClient


def photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (1200, 900), (90, 90, 90)).save(out, "JPEG", quality=85)
    return out.getvalue()


def somewhere(rng: random.Random) -> dict[str, float]:
    south, west, north, east = town.town().bounds
    return {"latitude": rng.uniform(south, north), "longitude": rng.uniform(west, east)}


async def report(resident: Resident, category: str, location: dict[str, float], picture: bytes) -> float:
    started = time.perf_counter()
    asked = await resident.tap("domain=reports&action=menu", expect="通報の種類")
    await resident.tap(find_postback(asked, CATEGORIES[category].name), expect="写真を1〜3枚")
    got = await resident.send_photo(picture, expect="写真を受け取りました")
    await resident.tap(find_postback(got, "次へ"), expect="位置情報でお送りください")
    mark = await resident.send("location", location=location)
    reply = await resident.expect("", since=mark)
    if "この通報と同じですか" in str(reply):
        reply = await resident.tap(find_postback(reply, "別の件です"), expect="補足")
    else:
        reply = await resident.expect("補足", since=mark)
    summary = await resident.tap(find_postback(reply, "なし"), expect="通報内容の確認")
    await resident.tap(find_postback(summary, "送信"), expect="受付番号")
    return time.perf_counter() - started


async def run(deployment: Deployment, residents: int) -> None:
    rng = random.Random(42)
    line = LineClient(deployment.services["gateway"].url, deployment.emulator.url)
    picture = photo()
    try:
        warm = line.resident()
        await report(warm, "pothole", somewhere(rng), picture)  # every process warmed up
        people = [line.resident() for _ in range(residents)]
        started = time.perf_counter()
        each = await asyncio.gather(
            *(report(p, rng.choice(list(CATEGORIES)), somewhere(rng), picture) for p in people)
        )
        elapsed = time.perf_counter() - started
    finally:
        await line.close()
    q = statistics.quantiles(each, n=100, method="inclusive")
    print(
        f"intake on Kafka, {residents} residents at once, 8 webhooks each: {residents / elapsed:.1f} reports/s"
        f" ({elapsed:.1f} s); one resident's tile → receipt p50 {q[49]:.1f} s, p99 {q[98]:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--residents", type=int, default=40)
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="bench-intake-"))
    print(f"process logs: {logs}")
    with postgres() as pg, kafka() as bootstrap:
        deployment = Deployment(pg, bootstrap, logs)
        for name in ("gateway", "notify", "reports"):
            deployment.service(name)
        with deployment:
            asyncio.run(run(deployment, args.residents))


if __name__ == "__main__":
    main()
