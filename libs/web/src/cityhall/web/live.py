"""Live updates: "a projection changed" as a Server-Sent Events stream.

The event store NOTIFYs `events_<schema>` on every append. A projection applies the new
events a moment later, in its own transaction. `LiveUpdates` keeps ONE listening
connection per service (shared by every open page, opened with the first stream and
released with the last), and on each notification watches the projections' checkpoints
until they move: only then does each stream send `event: update`, so a page that
re-fetches its list on `update` sees the new rows. A slow poll catches anything a lost
notification would miss. Streams send a comment every `heartbeat` seconds; a client that
goes away ends its stream (the server's disconnect detection cancels it), and nothing is
left behind.

    live = LiveUpdates(pool, projections=["certificate_queue"])
    running.on_stop.append(live.close)

    @app.get("/live")
    async def stream(request: Request, user: StaffUser = Depends(require_role("certificates"))):
        return live.response()

In the page: `<section data-live-url="live" hx-get="rows" hx-trigger="live-update">` (the
kit's `live.js`, included by `kit/base.html`, turns `update` events into `live-update`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from fastapi.responses import StreamingResponse

from cityhall.events.backoff import RESTART
from cityhall.events.db import Connection, Pool
from cityhall.events.waiting import wake_or_timeout

log = logging.getLogger("cityhall.web.live")

SSE_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def sse_event(event: str, data: str = "") -> str:
    """One SSE message (multi-line data is split as the format requires)."""
    lines = [f"event: {event}"] + [f"data: {line}" for line in (data.splitlines() or [""])]
    return "\n".join(lines) + "\n\n"


class LiveUpdates:
    """Fan-out of "the service's projections changed" to any number of SSE streams."""

    def __init__(
        self,
        pool: Pool,
        *,
        projections: Sequence[str] | None = None,
        heartbeat: float = 15.0,
        poll_interval: float = 5.0,
        settle: float = 3.0,
        event: str = "update",
    ) -> None:
        """`projections`: names whose checkpoints to watch (default: every projection of the schema).
        `settle`: how long after a notification to wait for a checkpoint to move."""
        self.pool = pool
        self.projections = [f"projection:{p}" for p in projections] if projections is not None else None
        self.heartbeat, self.poll_interval, self.settle, self.event = heartbeat, poll_interval, settle, event
        self.generation = 0
        """Bumped once per observed change; streams send one `update` per bump they see."""
        self.subscribers = 0
        self._changed = asyncio.Event()
        self._wake = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None
        self._closed = False

    # -- the shared listener -----------------------------------------------------------------

    async def _signature(self, conn: Connection) -> Any:
        if self.projections is not None:
            rows = await conn.fetch(
                "SELECT name, tx::text AS tx, position FROM checkpoints WHERE name = ANY($1::text[]) ORDER BY name",
                self.projections,
            )
        else:
            rows = await conn.fetch(
                "SELECT name, tx::text AS tx, position FROM checkpoints WHERE name LIKE 'projection:%' ORDER BY name"
            )
        if rows or self.projections is not None:
            return tuple((r["name"], r["tx"], r["position"]) for r in rows)
        # No projection at all: the head of the store stands in.
        row = await conn.fetchrow(
            "SELECT tx::text AS tx, position FROM events ORDER BY tx DESC, position DESC LIMIT 1"
        )
        return None if row is None else (row["tx"], row["position"])

    def _bump(self) -> None:
        self.generation += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _notified(self, *_args: object) -> None:
        self._wake.set()

    async def _listen(self) -> None:
        failures = 0
        while True:
            try:
                async with self.pool.acquire() as conn:
                    channel = "events_" + await conn.fetchval("SELECT current_schema()")
                    await conn.add_listener(channel, self._notified)
                    try:
                        await self._watch(conn)
                    finally:
                        with contextlib.suppress(Exception):
                            await conn.remove_listener(channel, self._notified)
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                delay = RESTART.delay(failures)
                log.exception("live updates: listener failed; retrying in %.1f s", delay)
                await asyncio.sleep(delay)

    async def _watch(self, conn: Connection) -> None:
        last = await self._signature(conn)
        while True:
            await wake_or_timeout(self._wake, self.poll_interval)
            notified = self._wake.is_set()
            self._wake.clear()
            deadline = time.monotonic() + (self.settle if notified else 0)
            while True:
                current = await self._signature(conn)
                if current != last:
                    last = current
                    self._bump()
                    break
                if time.monotonic() >= deadline:
                    break
                await asyncio.sleep(0.05)

    def _subscribe(self) -> None:
        if self._closed:
            raise RuntimeError("LiveUpdates is closed")
        self.subscribers += 1
        if self._listener is None or self._listener.done():
            self._listener = asyncio.create_task(self._listen(), name="cityhall-live-listener")

    def _unsubscribe(self) -> None:
        self.subscribers -= 1
        if self.subscribers == 0 and self._listener is not None:
            self._listener.cancel()
            self._listener = None

    @property
    def listening(self) -> bool:
        """Whether the shared listener (and its pool connection) is in use."""
        return self._listener is not None and not self._listener.done()

    async def close(self) -> None:
        """Stop the listener (for `Running.on_stop`); open streams end at their next wake-up."""
        self._closed = True
        task, self._listener = self._listener, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._bump()

    # -- streams -----------------------------------------------------------------------------

    async def changes(self) -> AsyncIterator[int]:
        """Yield the generation each time the projections change (until closed or cancelled)."""
        self._subscribe()
        try:
            seen = self.generation
            while not self._closed:
                if self.generation != seen:
                    seen = self.generation
                    yield seen
                    continue
                await self._changed.wait()
        finally:
            self._unsubscribe()

    async def stream(self) -> AsyncIterator[str]:
        """SSE text: a retry hint, then `update` per change and a comment every `heartbeat` s."""
        self._subscribe()
        try:
            yield "retry: 3000\n: connected\n\n"
            seen = self.generation
            while not self._closed:
                if self.generation != seen:
                    seen = self.generation
                    yield sse_event(self.event, str(seen))
                    continue
                if not await wake_or_timeout(self._changed, self.heartbeat):
                    yield ": keep-alive\n\n"
        finally:
            self._unsubscribe()

    def response(self) -> StreamingResponse:
        """The SSE response for a route (check the person's role in the route's dependencies)."""
        return StreamingResponse(self.stream(), media_type="text/event-stream", headers=SSE_HEADERS)
