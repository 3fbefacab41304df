"""Webhook acknowledgement: signature check, store and Kafka publish, at a fixed rate.

    uv run python -m bench.bench_webhook [--rate 1000] [--seconds 10] [--per-request 1] [--replicas 1]

Runs the gateway on Kafka as `--replicas` processes (`cityhall service gateway`, one database,
as the Kubernetes deployment scales it) and, in the same run, a bare FastAPI endpoint that
only returns 200, and drives both with the same open-loop load of signed text-message
webhooks. The load generator spreads its connections over the replicas, as a Service does.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from bench import loadgen
from bench.cpu import cpu_seconds
from bench.infra import kafka, postgres
from cityhall.events.localpg import create_database, free_port
from cityhall.gateway.declared import DOMAINS
from cityhall.gateway.testing import encode, text_message, user_id
from cityhall.line.webhooks import sign

SECRET = "bench-channel-secret"
WARM_UP_SECONDS = 5


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
        out.append((body, {"Content-Type": "application/json", "x-line-signature": sign(SECRET, body)}))
    return out


def start(argv: list[str], env: dict[str, str], port: int, stack: ExitStack) -> int:
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop() -> None:
        proc.terminate()
        proc.wait(timeout=30)

    stack.callback(stop)
    wait_ready(port, proc)
    return proc.pid


def main(rate: float, seconds: float, per_request: int, replicas: int) -> None:
    """`rate` events/s, `per_request` events in each webhook request (LINE batches events)."""
    request_rate = rate / per_request
    n = int(request_rate * seconds)
    with postgres() as admin_dsn, kafka() as bootstrap, tempfile.TemporaryDirectory() as tmp:
        database_url = create_database(admin_dsn, "bench_gateway")
        results, cpu = {}, {}
        for name in ("bare FastAPI", "gateway"):
            with ExitStack() as stack:
                ports = [free_port() for _ in range(replicas if name == "gateway" else 1)]
                pids = []
                for port in ports:
                    if name == "gateway":
                        env = {
                            **os.environ,
                            "DATABASE_URL": database_url,
                            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                            "CITYHALL_PORT": str(port),
                            "LINE_CHANNEL_SECRET": SECRET,
                            "LINE_CHANNEL_ACCESS_TOKEN": "bench",
                            "LINE_API_URL": "http://127.0.0.1:9",
                            "CITYHALL_DATA_DIR": tmp,
                            # Every domain served, as in production: intents only, no answers.
                            "CITYHALL_SERVED_DOMAINS": ",".join(DOMAINS),
                        }
                        argv = [str(Path(sys.executable).with_name("cityhall")), "service", "gateway"]
                    else:
                        env, argv = (
                            dict(os.environ),
                            [sys.executable, "-m", "bench.bare_app", str(port), "fastapi"],
                        )
                    pids.append(start(argv, env, port, stack))
                # 5 s at the same rate first: the broker's JIT, pools and caches settle, as in a server
                # that has been up for a while.
                warm_up = requests(int(request_rate * WARM_UP_SECONDS), per_request)
                loadgen.drive(ports, "/callback", warm_up, request_rate)
                before = sum(cpu_seconds(pid) for pid in pids)
                results[name] = loadgen.drive(ports, "/callback", requests(n, per_request), request_rate)
                used = sum(cpu_seconds(pid) for pid in pids) - before
                cpu[name] = 100 * used / results[name].duration_s
        print(
            f"{rate:.0f} events/s, {per_request} event(s) per webhook request, {replicas} gateway process(es):"
        )
        for name, result in results.items():
            print(
                f"  {name:13s}: {result.summary()}; server CPU {cpu[name]:.0f} % of a core"
                f", load generator {100 * result.cpu_s / result.duration_s:.0f} %"
            )
        ratio = results["gateway"].percentile(99) / results["bare FastAPI"].percentile(99)
        print(f"webhook ack p99 / bare p99 = {ratio:.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000, help="events per second")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--per-request", type=int, default=1, help="events in each webhook request")
    parser.add_argument("--replicas", type=int, default=1, help="gateway processes sharing one database")
    args = parser.parse_args()
    main(args.rate, args.seconds, args.per_request, args.replicas)
