"""What serving a request costs before any work: uvicorn with FastAPI, Starlette or a plain ASGI app.

    uv run python -m bench.bench_asgi_floor [--rate 1000] [--seconds 15]

Each app only answers 200 to `POST /callback`; the same open-loop load drives each in turn and
the server's CPU over the run is reported. This is why the gateway's `/callback` is a plain ASGI
endpoint (`Running.endpoints`) rather than a FastAPI route.
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import ExitStack

from bench import loadgen
from bench.bare_app import APPS
from bench.bench_webhook import start
from bench.cpu import cpu_seconds
from cityhall.events.localpg import free_port

BODY = (b'{"destination": "U0", "events": []}', {"Content-Type": "application/json"})


def main(rate: float, seconds: float) -> None:
    for kind in APPS:
        with ExitStack() as stack:
            port = free_port()
            pid = start(
                [sys.executable, "-m", "bench.bare_app", str(port), kind], dict(os.environ), port, stack
            )
            loadgen.drive([port], "/callback", [BODY] * int(rate * 3), rate)  # warm-up
            before = cpu_seconds(pid)
            result = loadgen.drive([port], "/callback", [BODY] * int(rate * seconds), rate)
            cpu = 100 * (cpu_seconds(pid) - before) / result.duration_s
            print(f"  {kind:9s}: {result.summary()}; server CPU {cpu:.0f} % of a core", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000, help="requests per second")
    parser.add_argument("--seconds", type=float, default=15)
    args = parser.parse_args()
    main(args.rate, args.seconds)
