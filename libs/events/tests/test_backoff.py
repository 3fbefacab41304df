"""The one retry policy, with the delays and limits each retry loop had before."""

from __future__ import annotations

import pytest

from cityhall.events.backoff import RESTART, Backoff
from cityhall.events.consumer import CONSUMER_RETRY


def test_without_jitter_the_wait_doubles_from_the_base_up_to_the_cap() -> None:
    # Supervised loops and listeners: 0.5 s, 1 s, 2 s … never more than 30 s.
    assert [RESTART.delay(n) for n in range(1, 9)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert not RESTART.gives_up(1000, elapsed=1e9)


def test_full_jitter_draws_below_the_same_ceiling(monkeypatch: pytest.MonkeyPatch) -> None:
    draws: list[tuple[float, float]] = []
    monkeypatch.setattr("random.uniform", lambda low, high: draws.append((low, high)) or high / 2)
    assert [CONSUMER_RETRY.delay(n) for n in (1, 2, 8, 9)] == [0.025, 0.05, 2.5, 2.5]
    assert draws == [(0, 0.05), (0, 0.1), (0, 5.0), (0, 5.0)]


def test_it_gives_up_by_count_or_by_time() -> None:
    assert [CONSUMER_RETRY.gives_up(n) for n in (4, 5)] == [False, True]  # then the dead-letter topic
    by_time = Backoff(give_up_after=600.0)
    assert not by_time.gives_up(99, elapsed=600.0) and by_time.gives_up(2, elapsed=600.1)
    steady = Backoff(base=1.0, cap=1.0, jitter=False, max_attempts=30)
    assert {steady.delay(n) for n in range(1, 30)} == {1.0} and steady.gives_up(30)
