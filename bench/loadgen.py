"""An open-loop HTTP/1.1 load generator on raw asyncio streams.

Request i is due at start + i/rate; its latency is measured from when it was due, not from
when a connection was free, so a slow server cannot hide its queueing (no coordinated
omission). Bounded: it sends exactly the requests it is given and stops.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace

import uvloop


@dataclass(frozen=True)
class Result:
    latencies_ms: list[float]
    statuses: dict[int, int]
    duration_s: float
    cpu_s: float = 0.0
    """CPU time the load generator itself used (it shares the machine with what it measures)."""

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]

    def summary(self) -> str:
        return (
            f"{len(self.latencies_ms)} requests in {self.duration_s:.1f} s"
            f" ({len(self.latencies_ms) / self.duration_s:.0f}/s), statuses {self.statuses},"
            f" p50 {self.percentile(50):.1f} ms, p99 {self.percentile(99):.1f} ms,"
            f" max {max(self.latencies_ms):.1f} ms"
        )


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        if line.lower().startswith("content-length:"):
            length = int(line.split(":", 1)[1])
    if length:
        await reader.readexactly(length)
    return status


async def run(
    ports: list[int],
    path: str,
    requests: list[tuple[bytes, dict[str, str]]],
    rate: float,
    connections: int = 256,
) -> Result:
    """Send `requests` at `rate` per second over `connections`, spread evenly over `ports`."""
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def worker(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        connected.release()
        try:
            while True:
                due, raw = await queue.get()
                try:
                    writer.write(raw)
                    status = await _read_response(reader)
                finally:
                    queue.task_done()
                latencies.append((time.perf_counter() - due) * 1000)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    raws = []
    for body, headers in requests:
        head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        raws.append(head.encode() + b"\r\n" + body)
    # Every connection is open before the clock starts, so set-up is not counted as latency.
    connected = asyncio.Semaphore(0)
    workers = [asyncio.create_task(worker(ports[i % len(ports)])) for i in range(connections)]
    for _ in range(connections):
        await connected.acquire()
    start = time.perf_counter()
    for i, raw in enumerate(raws):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((due, raw))
    await asyncio.wait_for(queue.join(), timeout=120)
    duration = time.perf_counter() - start
    for w in workers:
        w.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    return Result(latencies, statuses, duration)


def drive(ports: list[int], path: str, requests: list[tuple[bytes, dict[str, str]]], rate: float) -> Result:
    """`run` on uvloop, which costs the shared cores less than asyncio's own loop, and its CPU time."""
    cpu = time.process_time()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        result = runner.run(run(ports, path, requests, rate))
    return replace(result, cpu_s=time.process_time() - cpu)
