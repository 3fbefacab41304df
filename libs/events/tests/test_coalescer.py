"""Coalescer: items submitted together share a batch; a bad item fails alone."""

from __future__ import annotations

import asyncio

import pytest

from cityhall.events.coalescer import Coalescer


class Recorder:
    def __init__(self, bad: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.bad = bad

    async def run(self, items: list[int]) -> list[int]:
        self.batches.append(items)
        await asyncio.sleep(0.01)  # a round trip
        if self.bad in items:
            raise ValueError(f"cannot write {self.bad}")
        return [item * 10 for item in items]


async def test_items_submitted_together_share_a_batch_and_get_their_own_results() -> None:
    recorder = Recorder()
    coalescer = Coalescer(recorder.run)
    assert await asyncio.gather(*(coalescer.submit(i) for i in range(5))) == [0, 10, 20, 30, 40]
    assert recorder.batches == [[0, 1, 2, 3, 4]]


async def test_a_failing_batch_is_run_again_item_by_item_so_only_the_bad_item_fails() -> None:
    recorder = Recorder(bad=2)
    coalescer = Coalescer(recorder.run)
    results = await asyncio.gather(*(coalescer.submit(i) for i in range(4)), return_exceptions=True)
    assert results[:2] == [0, 10] and results[3] == 30
    assert isinstance(results[2], ValueError)
    assert recorder.batches == [[0, 1, 2, 3], [0], [1], [2], [3]]


async def test_items_arriving_during_a_batch_go_in_the_next_and_none_is_left_behind() -> None:
    recorder = Recorder()
    coalescer = Coalescer(recorder.run, max_batch=3)
    first = asyncio.gather(*(coalescer.submit(i) for i in range(4)))  # one more than a batch holds
    await asyncio.sleep(0.005)  # the first batch is running
    late = asyncio.gather(*(coalescer.submit(i) for i in (7, 8)))
    assert await asyncio.wait_for(first, 5) == [0, 10, 20, 30]
    assert await asyncio.wait_for(late, 5) == [70, 80]
    assert recorder.batches == [[0, 1, 2], [3, 7, 8]]
    # A submit right after the drain finished starts a new one.
    assert await asyncio.wait_for(coalescer.submit(9), 5) == 90


async def test_gather_lets_items_arriving_within_it_join_the_batch() -> None:
    recorder = Recorder()
    coalescer = Coalescer(recorder.run, gather=0.05)
    first = asyncio.ensure_future(coalescer.submit(1))
    await asyncio.sleep(0.01)
    assert await asyncio.gather(first, coalescer.submit(2)) == [10, 20]
    assert recorder.batches == [[1, 2]]


async def test_a_submitter_that_gives_up_does_not_disturb_the_others() -> None:
    recorder = Recorder()
    coalescer = Coalescer(recorder.run)
    impatient = asyncio.ensure_future(coalescer.submit(1))
    patient = asyncio.ensure_future(coalescer.submit(2))
    await asyncio.sleep(0)
    impatient.cancel()
    assert await patient == 20
    with pytest.raises(asyncio.CancelledError):
        await impatient
