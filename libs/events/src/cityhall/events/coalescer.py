"""Group commit: many callers' small writes (or reads) share one round of work.

`Coalescer.submit(item)` queues the item and waits; a drain task hands the items submitted
meanwhile to `run` as one batch, so one transaction (one commit, one fsync) serves many
requests. The gateway records webhook requests this way, notify its delivery outcomes.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger(__name__)


class Coalescer(Generic[T, R]):
    """Hands items submitted together to `run` as batches; `run` returns one result per item.

    Up to `concurrency` batches run at once, each of at most `max_batch` items. Before each
    batch the drain waits `gather` seconds for more items to join (0: only this tick's
    submitters). If `run` raises for a batch of several items, each is run again alone, so a
    bad item fails by itself and the others succeed.
    """

    def __init__(
        self,
        run: Callable[[list[T]], Awaitable[Sequence[R]]],
        *,
        max_batch: int = 100,
        concurrency: int = 1,
        gather: float = 0.0,
    ) -> None:
        self._run = run
        self.max_batch = max_batch
        self.concurrency = concurrency
        self.gather = gather
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._drains: list[asyncio.Task[None]] = []

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        # A drain that has just returned counts as gone at once, not when its done-callbacks run.
        self._drains = [task for task in self._drains if not task.done()]
        if len(self._drains) < self.concurrency:
            # Its own context: a drain serves many submitters, not the one that started it.
            self._drains.append(asyncio.create_task(self._drain(), context=contextvars.Context()))
        return await future

    async def _drain(self) -> None:
        while self._pending:
            if len(self._pending) < self.max_batch:
                await asyncio.sleep(self.gather)  # let the items arriving now join in
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            if batch:
                await self._run_batch(batch)

    async def _run_batch(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._run([item for item, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exc)
                return
            log.warning("a batch of %d failed (%r); running each alone", len(batch), exc)
            for item, future in batch:  # each alone, so that one bad item fails by itself
                try:
                    [result] = await self._run([item])
                except Exception as alone:
                    _settle(future, alone)
                else:
                    _settle(future, result)
            return
        except BaseException:  # cancelled: cancel the batch's waiters, then pass it on
            for _, future in batch:
                future.cancel()
            raise
        for (_, future), result in zip(batch, results, strict=True):
            _settle(future, result)


def _settle(future: asyncio.Future[R], outcome: R | BaseException) -> None:
    if future.done():
        return  # its submitter gave up (cancelled, or out of time)
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
