"""Webhook acknowledgement: signature check, store and Kafka publish, at a fixed rate.

    uv run python -m bench.bench_webhook [events/s] [seconds] [events per request]

Runs the gateway as its own process on Kafka (`cityhall service gateway`) and, in the same
run, a bare FastAPI endpoint that only returns 200, and drives both with the same open-loop
load of signed text-message webhooks (one event per request).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench import loadgen
from bench.infra import kafka, postgres
from cityhall.events.localpg import create_database, free_port
from cityhall.gateway.testing import encode, sign, text_message, user_id

SECRET = "bench-channel-secret"


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"process exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("not ready in time")


def requests(n: int, per_request: int = 1) -> list[tuple[bytes, dict[str, str]]]:
    residents = [user_id() for _ in range(200)]
    out = []
    for i in range(n):
        events = [
            text_message(residents[(i * per_request + j) % 200], "ごみの日") for j in range(per_request)
        ]
        body = encode({"destination": "U" + "0" * 32, "events": events})
        out.append((body, {"Content-Type": "application/json", "x-line-signature": sign(body, SECRET)}))
    return out


def main(rate: float, seconds: float, per_request: int) -> None:
    """`rate` events/s, `per_request` events in each webhook request (LINE batches events)."""
    request_rate = rate / per_request
    n = int(request_rate * seconds)
    with postgres() as admin_dsn, kafka() as bootstrap, tempfile.TemporaryDirectory() as tmp:
        results = {}
        for name in ("bare FastAPI", "gateway"):
            port = free_port()
            if name == "gateway":
                env = {
                    **os.environ,
                    "DATABASE_URL": create_database(admin_dsn, "bench_gateway"),
                    "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                    "CITYHALL_PORT": str(port),
                    "LINE_CHANNEL_SECRET": SECRET,
                    "LINE_CHANNEL_ACCESS_TOKEN": "bench",
                    "LINE_API_URL": "http://127.0.0.1:9",
                    "CITYHALL_DATA_DIR": tmp,
                }
                argv = [str(Path(sys.executable).with_name("cityhall")), "service", "gateway"]
            else:
                env, argv = dict(os.environ), [sys.executable, "-m", "bench.bare_app", str(port)]
            proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_ready(port, proc)
                warm_up = requests(int(request_rate), per_request)  # 1 s
                asyncio.run(loadgen.run(port, "/callback", warm_up, request_rate))
                results[name] = asyncio.run(
                    loadgen.run(port, "/callback", requests(n, per_request), request_rate)
                )
            finally:
                proc.terminate()
                proc.wait(timeout=30)
        print(f"{rate:.0f} events/s, {per_request} event(s) per webhook request:")
        for name, result in results.items():
            print(f"  {name:13s}: {result.summary()}")
        ratio = results["gateway"].percentile(99) / results["bare FastAPI"].percentile(99)
        print(f"webhook ack p99 / bare p99 = {ratio:.1f}")


if __name__ == "__main__":
    args = [*sys.argv[1:], "", "", ""]
    main(float(args[0] or 1000), float(args[1] or 10), int(args[2] or 1))
