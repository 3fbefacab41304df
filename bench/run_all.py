"""`make bench`: every benchmark in turn; copy the lines into bench/RESULTS.md with the command."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

BENCHES = [
    "bench.bench_backbone",
    "bench.bench_consumer",
    "bench.bench_round_trips",
    "bench.bench_asgi_floor",
    "bench.bench_webhook",
    "bench.bench_multicast",
    "bench.bench_reports_nearby",
    "bench.bench_open311",
    "bench.bench_reports_intake",
    "bench.bench_reservations",
]

if __name__ == "__main__":
    here = Path(__file__).parent
    for module in BENCHES:
        if not (here / (module.split(".")[1] + ".py")).exists():
            continue
        print(f"== {module}", flush=True)
        sys.argv = [module]
        runpy.run_module(module, run_name="__main__")
